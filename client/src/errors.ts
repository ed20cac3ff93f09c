import { UserError } from '../../core/src/errors';

/** An error's message, for a notification or a tree item. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** An error for the log: a user error's message, anything else with its stack (a bug to report). */
export function logTextOf(error: unknown): string {
  if (error instanceof UserError || !(error instanceof Error)) return messageOf(error);
  return error.stack ?? error.message;
}
