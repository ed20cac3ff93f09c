// The webview side of the message channel, typed by the contract.

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

export interface Channel<Out, State> {
  post(message: Out): void;
  state(): Partial<State> | undefined;
  saveState(state: State): void;
  onMessage(handler: (message: unknown) => void): void;
}

let api: VsCodeApi | undefined;

export function channel<Out, State>(): Channel<Out, State> {
  api ??= acquireVsCodeApi();
  const vscode = api;
  return {
    post: (message) => vscode.postMessage(message),
    state: () => {
      const state = vscode.getState();
      return state && typeof state === 'object' ? (state as Partial<State>) : undefined;
    },
    saveState: (state) => vscode.setState(state),
    onMessage: (handler) => window.addEventListener('message', (event: MessageEvent) => handler(event.data)),
  };
}

/** Calls `fn` at most once per animation frame however often it is asked for. */
export function perFrame(fn: () => void): () => void {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      fn();
    });
  };
}

/** Calls `fn` once `ms` after the last request. */
export function debounce(fn: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}
