/**
 * Errors a user can meet and fix, each with the exit code the CLI ends with: the CLI prints the
 * message and exits with the code, the editor shows the message. Every module's own user errors
 * (RunError, HostError, BoundaryError, StoreError, GateError, ...) extend UserError; anything
 * else that reaches the CLI is a bug in mlpipe and is reported as one.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
  }
}

/** The CLI's exit codes: 0 all went well, 1 something the command checked failed, 2 the command could not do its work. */
export const EXIT = { ok: 0, failed: 1, usage: 2, cancelled: 130 } as const;

/** A mistake in how the CLI was called, or a file it cannot read: exit code 2 with this message. */
export class UsageError extends UserError {
  constructor(message: string, exitCode: number = EXIT.usage) {
    super(message, exitCode);
  }
}
