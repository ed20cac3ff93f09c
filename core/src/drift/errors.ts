/**
 * A user mistake in a drift run (a missing or empty file, a malformed row, an impossible option):
 * the message names the file (and line) and `hint` says what to do. Callers print
 * `${message}\n${hint}`, never a stack trace.
 */
export class DriftError extends Error {
  override readonly name = 'DriftError';

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
