import { UserError } from '../errors';
/**
 * A user mistake in a drift run (a missing or empty file, a malformed row, an impossible option):
 * the message names the file (and line) and `hint` says what to do. Callers print
 * `${message}\n${hint}`, never a stack trace.
 */
export class DriftError extends UserError {
  override readonly name: string = 'DriftError';

  constructor(
    message: string,
    /** What to do about it. */
    readonly hint: string,
    readonly file?: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

/** The check was cancelled (Ctrl-C, "Cancel" in VS Code): not a mistake in the data. */
export class DriftCancelled extends DriftError {
  override readonly name = 'DriftCancelled';

  constructor() {
    super('drift check cancelled', '');
  }
}

export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new DriftCancelled();
}
