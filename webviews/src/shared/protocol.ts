/**
 * The small checks both webview contracts (../contract.ts, ../drift/contract.ts) are built from:
 * pure functions, no DOM and no vscode, so the extension host and the webviews share them.
 */

/** For the `default:` branch of an exhaustive switch: a new message type fails to compile. */
export function assertNever(value: never): never {
  throw new Error(`unexpected message ${JSON.stringify(value)}`);
}

/** A plain object (what a message or a saved state must be before its fields are read). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export const isString = (value: unknown): value is string => typeof value === 'string';

export const isNumber = (value: unknown): value is number => typeof value === 'number';

/** A list whose every entry passes `item`. */
export const isList = <T>(value: unknown, item: (entry: unknown) => entry is T): value is T[] =>
  Array.isArray(value) && value.every(item);
