import {
  CloseAction,
  ErrorAction,
  type CloseHandlerResult,
  type ErrorHandler,
  type ErrorHandlerResult,
  type Message,
} from 'vscode-languageclient/node';

/**
 * Restarts a crashed server at most `limit` times in `windowMs`, then stops and says so, instead
 * of the default that gives up silently or restarts forever. (The shape vscode-eslint uses.)
 */
export class BoundedRestarts implements ErrorHandler {
  private readonly crashes: number[] = [];

  constructor(
    private readonly onGiveUp: (message: string) => void,
    private readonly limit = 5,
    private readonly windowMs = 3 * 60 * 1000,
    private readonly now: () => number = Date.now,
  ) {}

  error(_error: Error, _message: Message | undefined, count: number | undefined): ErrorHandlerResult {
    return { action: count !== undefined && count <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown };
  }

  closed(): CloseHandlerResult {
    const now = this.now();
    this.crashes.push(now);
    while (this.crashes.length > 0 && now - this.crashes[0] > this.windowMs) this.crashes.shift();
    if (this.crashes.length <= this.limit) return { action: CloseAction.Restart, handled: true };
    const message = `The MLPipe language server crashed ${this.crashes.length} times in ${Math.round(this.windowMs / 60000)} minutes and will not be restarted. See the MLPipe output for the reason, then run "MLPipe: Restart Language Server".`;
    this.onGiveUp(message);
    return { action: CloseAction.DoNotRestart, message, handled: true };
  }
}
