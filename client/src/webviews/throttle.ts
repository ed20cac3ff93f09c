/**
 * Runs `flush` at most once per `ms`: the first request after a quiet spell is served at once,
 * requests during the wait are folded into one trailing run. The panels collect changes and let
 * this decide when to post them, so a burst of run updates costs one message, not hundreds.
 */
export class Throttle {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private last = -Infinity;

  constructor(
    private readonly ms: number,
    private readonly flush: () => void,
  ) {}

  request(): void {
    if (this.timer !== undefined) return;
    const wait = Math.max(0, this.last + this.ms - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.last = Date.now();
      this.flush();
    }, wait);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
