/**
 * What a drift input may hold (docs/drift.md, "Limits"). Datasets come from other people's
 * repositories and pipelines, so every size a file claims is checked against these before memory
 * is spent on it; each limit is a DriftError that names the file (and line), never a crash.
 */

/** Columns of one dataset (CSV header fields, distinct JSON Lines keys, Parquet top-level columns). */
export const MAX_COLUMNS = 20_000;
/** One CSV row (with its quoted line breaks) or one JSON line, in bytes. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;
/** Nesting of a value inside a JSON Lines record (the record itself is level 1). */
export const MAX_JSON_DEPTH = 64;
/** A Parquet footer (the file's metadata): its bytes, and its entries (structs, list items, values). */
export const MAX_PARQUET_METADATA_BYTES = 64 * 1024 * 1024;
export const MAX_PARQUET_METADATA_ENTRIES = 4_000_000;
/** Values one Parquet page may claim, and the bytes it may decompress to. */
export const MAX_PAGE_VALUES = 1 << 24;
export const MAX_PAGE_BYTES = 256 * 1024 * 1024;
/** Parquet values decoded at once (the reader splits row groups to stay under it). */
export const DECODE_BUDGET_VALUES = 1 << 24;

/** How many characters of a value a message or note shows. */
export const SHOWN_CHARS = 80;

// C0 and C1 controls, DEL, line and paragraph separators, and the bidirectional overrides that can
// make a terminal or a report show something other than what the file holds.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;
const ONE_UNSAFE = /^[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]$/;

function escapeChar(char: string): string {
  const code = char.charCodeAt(0);
  if (char === '\n') return '\\n';
  if (char === '\r') return '\\r';
  if (char === '\t') return '\\t';
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** Control characters written as escapes (\x1b, \n, \u202e), so text from a file is shown, never acted on. */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}

/**
 * A value from a data file as a message shows it: control characters escaped and at most about
 * `max` characters, the rest replaced by an ellipsis and the full length.
 */
export function clip(text: string, max = SHOWN_CHARS): string {
  let shown = '';
  let i = 0;
  for (; i < text.length && shown.length < max; i++) {
    const char = text[i];
    const code = char.charCodeAt(0);
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length)
      shown += char + text[++i]; // keep a surrogate pair whole
    else shown += ONE_UNSAFE.test(char) ? escapeChar(char) : char;
  }
  return i < text.length ? `${shown}… (${text.length.toLocaleString('en-US')} characters)` : shown;
}

/** A list of names shown up to `count` of them, then "and N more". */
export function clipList(names: readonly string[], count = 10): string {
  const shown = names.slice(0, count).map((name) => clip(name));
  return names.length > count
    ? `${shown.join(', ')} and ${(names.length - count).toLocaleString('en-US')} more`
    : shown.join(', ');
}
