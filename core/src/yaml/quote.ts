/**
 * Values from a file as findings quote them. Findings travel to PR annotations, SARIF and the
 * editor; a file under review decides what its values hold. So a quoted value is short (a long one
 * is cut, with its length said), holds no control or bidirectional-override character (a newline
 * could forge another finding line; an override could make text read differently), and a mapping
 * or list is shown without walking all of it.
 */

/** The most characters of a value a finding quotes. */
export const QUOTE_LIMIT = 80;
/** The most characters of a whole finding's message; quoted values are cut long before this. */
export const MESSAGE_LIMIT = 2_000;
/** A run of characters without a space longer than this is cut in any message (a key, a path). */
const WORD_LIMIT = 120;

// C0, DEL, C1, line/paragraph separators, bidi embeddings/overrides/isolates, BOM.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;
const HAS_UNSAFE = new RegExp(UNSAFE.source);
const LONG_WORD = new RegExp(`\\S{${WORD_LIMIT + 1},}`, 'g');

function escapeChar(char: string): string {
  switch (char) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    default:
      return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
  }
}

/** Control and bidi characters written as escapes. */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}

function cut(text: string, limit: number): string {
  if (text.length <= limit) return text;
  // Do not split a surrogate pair.
  let end = limit;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}… (${text.length.toLocaleString('en-US')} characters)`;
}

/** JSON of a value, stopping once `limit` characters are written: a large param costs nothing to quote. */
function previewJson(value: unknown, limit: number): string {
  let out = '';
  const seen = new Set<object>();
  const write = (current: unknown): boolean => {
    if (out.length > limit) return false;
    if (current === null || typeof current !== 'object') {
      out += current === undefined ? 'null' : (JSON.stringify(current) ?? String(current));
      return out.length <= limit;
    }
    if (seen.has(current)) {
      out += '…';
      return true;
    }
    seen.add(current);
    const list = Array.isArray(current);
    out += list ? '[' : '{';
    let first = true;
    for (const key of list ? current.keys() : Object.keys(current)) {
      if (!first) out += ',';
      first = false;
      if (!list) out += `${JSON.stringify(key)}:`;
      if (!write((current as Record<string | number, unknown>)[key as string | number])) return false;
    }
    out += list ? ']' : '}';
    seen.delete(current);
    return out.length <= limit;
  };
  return write(value) ? out : `${out.slice(0, limit)}…`;
}

/** A value as a finding quotes it: strings as they are, other values as JSON; escaped and at most QUOTE_LIMIT characters. */
export function quoteValue(value: unknown, limit = QUOTE_LIMIT): string {
  if (typeof value === 'string') return escapeControls(cut(value, limit));
  const json = previewJson(value, limit);
  return escapeControls(json.length > limit ? `${json.slice(0, limit)}…` : json);
}

/**
 * The last guard on every message, whoever wrote it: control characters escaped, any run without
 * a space cut at WORD_LIMIT, the whole at MESSAGE_LIMIT. Messages that are already short and plain
 * (nearly all) come back as they are.
 */
export function boundMessage(message: string): string {
  let text = message;
  if (text.length > MESSAGE_LIMIT) text = `${text.slice(0, MESSAGE_LIMIT)}…`;
  if (text.length > WORD_LIMIT) text = text.replace(LONG_WORD, (word) => `${word.slice(0, WORD_LIMIT)}…`);
  return HAS_UNSAFE.test(text) ? escapeControls(text) : text;
}
