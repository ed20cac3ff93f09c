import { EXIT, UserError } from '../errors';

/**
 * Filter and sort expressions over runs, in the shape of MLflow's search syntax:
 *
 *   metrics.auc > 0.8 and params.lr < 0.01
 *   tags.team = 'vision' and status != 'failed'
 *   params.optimizer in ('adam', 'sgd') or metrics.`eval-test.auc` >= 0.9
 *   attributes.commit like '3f9c%'
 *
 * Fields are `metrics.KEY`, `params.KEY`, `tags.KEY` and attributes (`status`, `id`, `pipeline`,
 * `commit`, `dirty`, `started`, `ended`, `duration`, `note`, optionally written `attributes.status`
 * or `attr.status`). Keys may hold letters, digits and `_ . - / @`; other keys are quoted with
 * backticks or double quotes. Values are numbers, 'strings' (or "strings"), true, false, null.
 * Operators: = (==) != (<>) < <= > >=, in (...), not in (...), like and ilike (% and _ wildcards),
 * is null, is not null; combined with and, or, not and parentheses (MLflow has only `and`).
 * A field a run does not have makes a comparison false, as NULL does in SQL.
 *
 * Compiled to a closure tree, never to code (no eval), so a filter over 10,000 runs takes a few ms.
 * Expressions may come from anyone (a webview's saved state, a script): their length, word count
 * and nesting are bounded, `like` runs in time linear in the value for the usual patterns (never
 * backtracking), and a field is read only from a run's own properties, never its prototype's.
 */

/** What a run offers to a query: attributes, then the three namespaces. */
export interface Queryable {
  attributes: Record<string, unknown>;
  params: Record<string, unknown>;
  metrics: Record<string, unknown>;
  tags: Record<string, unknown>;
}

/** A mistake in an expression, with where it is (0-based offset into the text). */
export class QueryError extends UserError {
  constructor(
    readonly reason: string,
    readonly offset: number,
    readonly text: string,
  ) {
    super(`${reason} (column ${offset + 1})`, EXIT.usage);
  }

  /**
   * The expression with a caret under the mistake, for terminals: control characters shown as
   * U+FFFD (one column each, so the caret stays in place), and a long expression cut to the part
   * around the mistake.
   */
  pointer(indent = ''): string {
    let start = 0;
    let end = this.text.length;
    if (end > POINTER_WIDTH) {
      start = Math.max(0, Math.min(this.offset - POINTER_WIDTH / 2, end - POINTER_WIDTH));
      end = Math.min(end, start + POINTER_WIDTH);
    }
    const before = start > 0 ? '…' : '';
    const shown = `${before}${this.text.slice(start, end).replace(UNPRINTABLE, '\uFFFD')}${end < this.text.length ? '…' : ''}`;
    return `${indent}${shown}\n${indent}${' '.repeat(this.offset - start + before.length)}^ ${this.reason}`;
  }
}

/** Longest expression compiled: a hand-written filter is a line or two; a generated one, a screen. */
export const MAX_QUERY_LENGTH = 16_384;
/** Most words, values and symbols in an expression (an `in` list of 1,000 ids fits). */
export const MAX_QUERY_TOKENS = 4_096;
/** Deepest nesting of parentheses and `not` (the parser recurses once per level). */
export const MAX_QUERY_DEPTH = 100;
const POINTER_WIDTH = 120;
/** C0 and C1 controls, DEL, and the Unicode format characters that reorder or hide text. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** Text from the expression, as a reason quotes it: controls escaped, long words cut. */
function quote(text: string): string {
  const escaped = text.replace(UNPRINTABLE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped.length > 40 ? `${escaped.slice(0, 40)}…` : escaped;
}

export type Namespace = 'attributes' | 'params' | 'metrics' | 'tags';

export interface Field {
  namespace: Namespace;
  key: string;
}

export const ATTRIBUTES = [
  'id',
  'status',
  'pipeline',
  'commit',
  'dirty',
  'started',
  'ended',
  'duration',
  'note',
  'name',
] as const;

/** MLflow's run statuses, accepted for mlpipe's. */
const STATUS_SYNONYMS: Record<string, string> = { finished: 'succeeded', killed: 'cancelled', scheduled: 'running' };

const NAMESPACES: Record<string, Namespace> = {
  metrics: 'metrics',
  metric: 'metrics',
  params: 'params',
  param: 'params',
  tags: 'tags',
  tag: 'tags',
  attributes: 'attributes',
  attribute: 'attributes',
  attr: 'attributes',
  run: 'attributes',
};

type Token =
  | { kind: 'word'; text: string; offset: number; quoted: boolean }
  | { kind: 'string'; value: string; offset: number }
  | { kind: 'number'; value: number; offset: number }
  | { kind: 'op'; text: string; offset: number }
  | { kind: 'punct'; text: '(' | ')' | ','; offset: number }
  | { kind: 'end'; offset: number };

const KEY_CHARS = /[A-Za-z0-9_.\-/@:]/;
/** A number at `lastIndex` (sticky: no copy of the rest of the text per token). */
const NUMBER = /[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/y;

function tokenize(text: string): Token[] {
  if (text.length > MAX_QUERY_LENGTH)
    throw new QueryError(
      `the expression is ${text.length} characters long, more than the ${MAX_QUERY_LENGTH} a filter may have`,
      MAX_QUERY_LENGTH,
      text,
    );
  const tokens: Token[] = [];
  const push = (token: Token) => {
    if (tokens.length >= MAX_QUERY_TOKENS)
      throw new QueryError(
        `more than ${MAX_QUERY_TOKENS} words, values and symbols; shorten the filter`,
        token.offset,
        text,
      );
    tokens.push(token);
  };
  let i = 0;
  while (i < text.length) {
    const char = text[i];
    if (/\s/.test(char)) {
      i++;
      continue;
    }
    const start = i;
    if (char === "'" || char === '"' || char === '`') {
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length)
          throw new QueryError(
            `unterminated ${char === '`' ? 'quoted name' : 'string'}: add the closing ${char}`,
            start,
            text,
          );
        if (text[i] === char) {
          if (text[i + 1] === char) {
            value += char;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (text[i] === '\\' && i + 1 < text.length) {
          value += text[i + 1];
          i += 2;
          continue;
        }
        value += text[i++];
      }
      // Backticks quote names (MLflow's way); double quotes quote a name right after a dot, else a string.
      const afterDot = tokens.length > 0 && tokens[tokens.length - 1].kind === 'word' && text[start - 1] === '.';
      if (char === '`' || (char === '"' && afterDot)) push({ kind: 'word', text: value, offset: start, quoted: true });
      else push({ kind: 'string', value, offset: start });
      continue;
    }
    if (char === '(' || char === ')' || char === ',') {
      push({ kind: 'punct', text: char, offset: start });
      i++;
      continue;
    }
    const two = text.slice(i, i + 2);
    if (['<=', '>=', '!=', '<>', '=='].includes(two)) {
      push({ kind: 'op', text: two === '<>' ? '!=' : two === '==' ? '=' : two, offset: start });
      i += 2;
      continue;
    }
    if (char === '<' || char === '>' || char === '=') {
      push({ kind: 'op', text: char, offset: start });
      i++;
      continue;
    }
    if (
      /[-+0-9.]/.test(char) &&
      !(tokens.length > 0 && tokens[tokens.length - 1].kind === 'word' && text[i - 1] === '.')
    ) {
      NUMBER.lastIndex = i;
      const match = NUMBER.exec(text);
      const after = match ? (text[i + match[0].length] ?? ' ') : '';
      // A number directly followed by key characters is a word (a key such as 2b or a date).
      if (match && (!KEY_CHARS.test(after) || /[eE]/.test(after))) {
        push({ kind: 'number', value: Number(match[0]), offset: start });
        i += match[0].length;
        continue;
      }
    }
    if (KEY_CHARS.test(char)) {
      while (i < text.length && KEY_CHARS.test(text[i])) i++;
      // `metrics.` followed by a quoted name: keep the dot with the word; the quoted part follows.
      push({ kind: 'word', text: text.slice(start, i), offset: start, quoted: false });
      continue;
    }
    throw new QueryError(`unexpected '${quote(String.fromCodePoint(text.codePointAt(i)!))}'`, start, text);
  }
  tokens.push({ kind: 'end', offset: text.length });
  return tokens;
}

type Value = string | number | boolean | null;
export type Predicate = (run: Queryable) => boolean;
/**
 * How a compiled query reads a field from a run: `fieldValue` unless a store reads its own columns
 * (the experiment store's snapshot). Called once per field when the query is compiled.
 */
export type FieldReader = (field: Field) => (run: Queryable) => unknown;

/**
 * Reads a field from a run; undefined when the run does not have it. Own properties only: runs
 * come from files anyone can write, and `metrics.constructor` or `params.__proto__` must not reach
 * Object.prototype.
 */
export function fieldValue(run: Queryable, field: Field): unknown {
  const namespace = run[field.namespace];
  return namespace !== null && typeof namespace === 'object' && Object.hasOwn(namespace, field.key)
    ? namespace[field.key]
    : undefined;
}

/** A value as text without calling anything on it (an object from a file may own a `toString` that is not a function). */
export function valueText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === undefined) return 'undefined';
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}

function compare(left: unknown, right: Value): number | undefined {
  if (left === undefined || left === null || right === null) return undefined;
  if (typeof right === 'number') {
    const number =
      typeof left === 'number'
        ? left
        : typeof left === 'boolean'
          ? Number(left)
          : typeof left === 'string' && left.trim() !== ''
            ? Number(left)
            : NaN;
    if (Number.isNaN(number)) return undefined;
    return number < right ? -1 : number > right ? 1 : 0;
  }
  if (typeof right === 'boolean') {
    const bool = typeof left === 'boolean' ? left : left === 'true' ? true : left === 'false' ? false : undefined;
    if (bool === undefined) return undefined;
    return bool === right ? 0 : bool ? 1 : -1;
  }
  const text = valueText(left);
  return text < right ? -1 : text > right ? 1 : 0;
}

/** Case folding of one character as a case-insensitive regular expression does it (its upper case, when that is one character). */
function fold(char: string): string {
  const upper = char.toUpperCase();
  return upper.length === char.length && !(char.charCodeAt(0) >= 128 && upper.charCodeAt(0) < 128) ? upper : char;
}

/** The characters (code points) of a text, folded for `ilike`. */
function charsOf(text: string, caseless: boolean): string[] {
  const chars = Array.from(text);
  if (caseless) for (let i = 0; i < chars.length; i++) chars[i] = fold(chars[i]);
  return chars;
}

/** Whether `segment` (a list of characters, undefined for `_`) matches `text` at `at`. */
function segmentAt(text: string[], at: number, segment: (string | undefined)[]): boolean {
  for (let k = 0; k < segment.length; k++) if (segment[k] !== undefined && segment[k] !== text[at + k]) return false;
  return true;
}

/**
 * SQL LIKE without regular expressions: the pattern is cut at each `%` into segments of fixed
 * length (`_` is any one character); the first must start the text, the last must end it, and the
 * ones between are found leftmost in turn, which is right because each has a fixed length. Time is
 * at most the text's length times the longest segment's, never exponential; a pattern without `_`
 * uses the engine's string search instead.
 */
export function likeMatcher(pattern: string, caseless: boolean): (text: string) => boolean {
  if (!pattern.includes('_')) return literalLike(pattern, caseless);
  const segments: (string | undefined)[][] = [[]];
  for (const char of charsOf(pattern, caseless)) {
    if (char === '%') segments.push([]);
    else segments[segments.length - 1].push(char === '_' ? undefined : char);
  }
  const first = segments[0];
  if (segments.length === 1)
    return (value) => {
      const text = charsOf(value, caseless);
      return text.length === first.length && segmentAt(text, 0, first);
    };
  const last = segments[segments.length - 1];
  const middle = segments.slice(1, -1).filter((segment) => segment.length > 0);
  const least = segments.reduce((sum, segment) => sum + segment.length, 0);
  return (value) => {
    const text = charsOf(value, caseless);
    if (text.length < least || !segmentAt(text, 0, first) || !segmentAt(text, text.length - last.length, last))
      return false;
    let at = first.length;
    const limit = text.length - last.length;
    for (const segment of middle) {
      let found = -1;
      for (let start = at; start + segment.length <= limit; start++) {
        if (segmentAt(text, start, segment)) {
          found = start;
          break;
        }
      }
      if (found < 0) return false;
      at = found + segment.length;
    }
    return true;
  };
}

/** A text folded character by character for `ilike` (same length: `fold` keeps each character's length). */
function foldText(text: string): string {
  return /^[\u0000-\u007f]*$/.test(text) ? text.toUpperCase() : Array.from(text, fold).join('');
}

/**
 * A pattern without `_`: its pieces are plain text, found with the engine's string search (linear
 * in practice, and free of per-value allocation when case counts).
 */
function literalLike(pattern: string, caseless: boolean): (text: string) => boolean {
  const parts = (caseless ? foldText(pattern) : pattern).split('%');
  const prepare = caseless ? foldText : (text: string) => text;
  const first = parts[0];
  if (parts.length === 1) return (value) => prepare(value) === first;
  const last = parts[parts.length - 1];
  const middle = parts.slice(1, -1).filter((part) => part.length > 0);
  const least = parts.reduce((sum, part) => sum + part.length, 0);
  return (value) => {
    const text = prepare(value);
    if (text.length < least || !text.startsWith(first) || !text.endsWith(last)) return false;
    let at = first.length;
    const limit = text.length - last.length;
    for (const part of middle) {
      const found = text.indexOf(part, at);
      if (found < 0 || found + part.length > limit) return false;
      at = found + part.length;
    }
    return true;
  };
}

/** Reads a key of a fixed table only when the table itself has it (`constructor` is not a namespace). */
function own<T>(table: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

class Parser {
  private index = 0;
  private depth = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly text: string,
    private readonly reader?: FieldReader,
  ) {}

  private peek(): Token {
    return this.tokens[this.index];
  }

  /** The next token, consumed; the end is never passed. */
  private next(): Token {
    const token = this.tokens[this.index];
    if (token.kind !== 'end') this.index++;
    return token;
  }

  private isWord(token: Token, word: string): boolean {
    return token.kind === 'word' && !token.quoted && token.text.toLowerCase() === word;
  }

  private fail(reason: string, token: Token = this.peek()): never {
    throw new QueryError(reason, token.offset, this.text);
  }

  parse(): Predicate {
    if (this.peek().kind === 'end') this.fail('the expression is empty; try metrics.auc > 0.8');
    const predicate = this.or();
    const rest = this.peek();
    if (rest.kind !== 'end')
      this.fail(
        rest.kind === 'word'
          ? `expected 'and', 'or' or the end, not '${quote(rest.text)}'`
          : "expected 'and', 'or' or the end",
      );
    return predicate;
  }

  private or(): Predicate {
    const parts = [this.and()];
    while (this.isWord(this.peek(), 'or')) {
      this.next();
      parts.push(this.and());
    }
    return parts.length === 1 ? parts[0] : (run) => parts.some((part) => part(run));
  }

  private and(): Predicate {
    const parts = [this.not()];
    while (this.isWord(this.peek(), 'and')) {
      this.next();
      parts.push(this.not());
    }
    return parts.length === 1 ? parts[0] : (run) => parts.every((part) => part(run));
  }

  private not(): Predicate {
    const token = this.peek();
    const negation = this.isWord(token, 'not');
    const group = token.kind === 'punct' && token.text === '(';
    if (!negation && !group) return this.comparison();
    if (this.depth >= MAX_QUERY_DEPTH)
      this.fail(`nested more than ${MAX_QUERY_DEPTH} deep (parentheses and 'not'); simplify the filter`, token);
    this.next();
    this.depth++;
    try {
      if (negation) {
        const inner = this.not();
        return (run) => !inner(run);
      }
      const inner = this.or();
      const close = this.next();
      if (close.kind !== 'punct' || close.text !== ')') this.fail("expected ')'", close);
      return inner;
    } finally {
      this.depth--;
    }
  }

  /** A whole expression that is one field (a sort key). */
  fieldOnly(): Field {
    const field = this.field();
    if (this.peek().kind !== 'end') this.fail('expected one field, then asc or desc');
    return field;
  }

  /** `metrics.auc`, `params.`x y``, `status`, `attributes.status`. */
  field(): Field {
    const token = this.next();
    if (token.kind !== 'word') this.fail('expected a field such as metrics.auc, params.lr, tags.team or status', token);
    let text = token.text;
    if (!token.quoted && text.endsWith('.')) {
      // metrics.`name with spaces`
      const quoted = this.peek();
      if (quoted.kind === 'word' && quoted.quoted) {
        this.next();
        text += quoted.text;
      } else this.fail(`expected a name after '${quote(text)}'`, quoted);
    }
    if (token.quoted) return this.attribute(text, token);
    const dot = text.indexOf('.');
    const prefix = dot < 0 ? '' : text.slice(0, dot).toLowerCase();
    const rest = dot < 0 ? text : text.slice(dot + 1);
    const namespace = own(NAMESPACES, prefix);
    if (!namespace) return this.attribute(text, token);
    if (!rest) this.fail(`expected a name after '${quote(prefix)}.'`, token);
    if (namespace === 'attributes') return this.attribute(rest, token);
    return { namespace, key: rest };
  }

  private attribute(name: string, token: Token): Field {
    const key =
      name.toLowerCase() === 'run_id' || name.toLowerCase() === 'run_name'
        ? 'id'
        : name.toLowerCase() === 'start_time'
          ? 'started'
          : name.toLowerCase() === 'end_time'
            ? 'ended'
            : name.toLowerCase();
    if (!(ATTRIBUTES as readonly string[]).includes(key)) {
      this.fail(
        `unknown field '${quote(name)}': use metrics.NAME, params.NAME, tags.NAME or one of ${ATTRIBUTES.join(', ')}`,
        token,
      );
    }
    return { namespace: 'attributes', key };
  }

  private value(): Value {
    const token = this.next();
    if (token.kind === 'number') return token.value;
    if (token.kind === 'string') return token.value;
    if (token.kind === 'word' && !token.quoted) {
      const word = token.text.toLowerCase();
      if (word === 'true') return true;
      if (word === 'false') return false;
      if (word === 'null') return null;
      this.fail(
        `expected a number or a quoted string, not '${quote(token.text)}' (quote text: '${quote(token.text)}')`,
        token,
      );
    }
    this.fail('expected a number or a quoted string', token);
  }

  private comparison(): Predicate {
    const field = this.field();
    const status = field.namespace === 'attributes' && field.key === 'status';
    const normalise = (value: Value): Value =>
      status && typeof value === 'string' ? (own(STATUS_SYNONYMS, value.toLowerCase()) ?? value.toLowerCase()) : value;
    const read = this.reader ? this.reader(field) : (run: Queryable) => fieldValue(run, field);
    const token = this.peek();
    if (this.isWord(token, 'is')) {
      this.next();
      const negate = this.isWord(this.peek(), 'not');
      if (negate) this.next();
      const nullToken = this.next();
      if (!this.isWord(nullToken, 'null')) this.fail("expected 'null' after 'is'", nullToken);
      return negate
        ? (run) => read(run) !== undefined && read(run) !== null
        : (run) => read(run) === undefined || read(run) === null;
    }
    if (this.isWord(token, 'in') || (this.isWord(token, 'not') && this.isWord(this.tokens[this.index + 1], 'in'))) {
      const negate = this.isWord(token, 'not');
      this.next();
      if (negate) this.next();
      const open = this.next();
      if (open.kind !== 'punct' || open.text !== '(') this.fail("expected '(' after 'in'", open);
      const values: Value[] = [];
      for (;;) {
        values.push(normalise(this.value()));
        const separator = this.next();
        if (separator.kind === 'punct' && separator.text === ')') break;
        if (separator.kind !== 'punct' || separator.text !== ',') this.fail("expected ',' or ')'", separator);
      }
      const inList = (run: Queryable) => values.some((value) => compare(read(run), value) === 0);
      return negate ? (run) => read(run) !== undefined && !inList(run) : inList;
    }
    if (this.isWord(token, 'like') || this.isWord(token, 'ilike')) {
      this.next();
      const pattern = this.next();
      if (pattern.kind !== 'string')
        this.fail(
          `expected a quoted pattern after '${token.kind === 'word' ? token.text : 'like'}', such as '3f9c%'`,
          pattern,
        );
      const matches = likeMatcher(pattern.value, token.kind === 'word' && token.text.toLowerCase() === 'ilike');
      return (run) => {
        const value = read(run);
        return value !== undefined && value !== null && matches(valueText(value));
      };
    }
    if (token.kind !== 'op')
      this.fail(
        token.kind === 'end'
          ? 'expected an operator (=, !=, <, <=, >, >=, in, like) after the field'
          : 'expected an operator (=, !=, <, <=, >, >=, in, like)',
        token,
      );
    this.next();
    const value = normalise(this.value());
    const op = token.text;
    const test: (order: number) => boolean =
      op === '='
        ? (o) => o === 0
        : op === '!='
          ? (o) => o !== 0
          : op === '<'
            ? (o) => o < 0
            : op === '<='
              ? (o) => o <= 0
              : op === '>'
                ? (o) => o > 0
                : (o) => o >= 0;
    if (value === null) {
      if (op === '=') return (run) => read(run) === undefined || read(run) === null;
      if (op === '!=') return (run) => read(run) !== undefined && read(run) !== null;
      this.fail(`'${op}' cannot compare with null; use 'is null' or 'is not null'`, token);
    }
    return (run) => {
      const raw = read(run);
      const order = compare(status && typeof raw === 'string' ? raw.toLowerCase() : raw, value);
      return order !== undefined && test(order);
    };
  }
}

/** Compiles a filter expression; throws QueryError pointing at the mistake. */
export function compileFilter(text: string, reader?: FieldReader): Predicate {
  return new Parser(tokenize(text), text, reader).parse();
}

export interface SortKey {
  field: Field;
  descending: boolean;
}

/**
 * `metrics.auc desc, params.lr` or `-metrics.auc`: keys compared in order; runs without the
 * field come last whatever the direction.
 */
export function parseSort(text: string): SortKey[] {
  if (text.length > MAX_QUERY_LENGTH)
    throw new QueryError(
      `the sort is ${text.length} characters long, more than the ${MAX_QUERY_LENGTH} it may have`,
      MAX_QUERY_LENGTH,
      text,
    );
  const keys: SortKey[] = [];
  let offset = 0;
  for (const part of text.split(',')) {
    const partStart = offset;
    offset += part.length + 1;
    // Scanned by hand: a regular expression with a lazy body and optional trailing words backtracks
    // quadratically on long runs of spaces.
    let start = 0;
    while (start < part.length && /\s/.test(part[start])) start++;
    const sign = part[start] === '-' || part[start] === '+' ? part[start] : '';
    const bodyStart = start + sign.length;
    let end = part.length;
    while (end > bodyStart && /\s/.test(part[end - 1])) end--;
    let wordStart = end;
    while (wordStart > bodyStart && !/\s/.test(part[wordStart - 1])) wordStart--;
    const word = part.slice(wordStart, end).toLowerCase();
    let direction: string | undefined;
    if ((word === 'asc' || word === 'desc') && wordStart > bodyStart && /\s/.test(part[wordStart - 1])) {
      direction = word;
      end = wordStart;
      while (end > bodyStart && /\s/.test(part[end - 1])) end--;
    }
    const body = part.slice(bodyStart, end);
    if (!body) throw new QueryError('empty sort key: name a field such as metrics.auc', partStart + start, text);
    try {
      keys.push({
        field: new Parser(tokenize(body), body).fieldOnly(),
        descending: direction ? direction === 'desc' : sign === '-',
      });
    } catch (error) {
      if (error instanceof QueryError) throw new QueryError(error.reason, partStart + bodyStart + error.offset, text);
      throw error;
    }
  }
  return keys;
}

function orderOf(a: number | boolean | string, b: number | boolean | string): number {
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Sorts in place by the keys, missing values last; stable for equal keys. */
export function sortRuns<T extends Queryable>(runs: T[], keys: SortKey[], reader?: FieldReader): T[] {
  if (keys.length === 0) return runs;
  if (keys.length === 1 && sortByNumbers(runs, keys[0], reader)) return runs;
  // Values other than numbers, booleans and text are compared as their JSON, made once per run.
  const columns = keys.map((key) => {
    const read = reader ? reader(key.field) : (run: Queryable) => fieldValue(run, key.field);
    return runs.map((run) => {
      const value = read(run);
      return value === undefined ||
        value === null ||
        typeof value === 'number' ||
        typeof value === 'boolean' ||
        typeof value === 'string'
        ? value
        : valueText(value);
    });
  });
  const order = runs.map((_, index) => index);
  order.sort((i, j) => {
    for (let k = 0; k < keys.length; k++) {
      const a = columns[k][i];
      const b = columns[k][j];
      const aMissing = a === undefined || a === null;
      const bMissing = b === undefined || b === null;
      if (aMissing || bMissing) {
        if (aMissing && bMissing) continue;
        return aMissing ? 1 : -1;
      }
      const result = orderOf(a, b);
      if (result !== 0) return keys[k].descending ? -result : result;
    }
    return i - j;
  });
  const sorted = order.map((index) => runs[index]);
  for (let i = 0; i < sorted.length; i++) runs[i] = sorted[i];
  return runs;
}

/**
 * One key whose values are all numbers (or missing), the usual sort by a metric: the values in a
 * Float64Array and the order sorted as a typed array, which is several times quicker than the
 * general comparison. False, having changed nothing, when some value is not a number.
 */
function sortByNumbers<T extends Queryable>(runs: T[], key: SortKey, reader?: FieldReader): boolean {
  const read = reader ? reader(key.field) : (run: Queryable) => fieldValue(run, key.field);
  const values = new Float64Array(runs.length);
  const present: number[] = [];
  const missing: number[] = [];
  for (let i = 0; i < runs.length; i++) {
    const value = read(runs[i]);
    if (typeof value === 'number' && !Number.isNaN(value)) {
      values[i] = value;
      present.push(i);
    } else if (value === undefined || value === null) missing.push(i);
    else return false;
  }
  const order = radixOrder(values, present, key.descending);
  const sorted = new Array<T>(runs.length);
  let at = 0;
  for (let k = 0; k < order.length; k++) sorted[at++] = runs[order[k]];
  for (let i = 0; i < missing.length; i++) sorted[at++] = runs[missing[i]];
  for (let i = 0; i < sorted.length; i++) runs[i] = sorted[i];
  return true;
}

/**
 * The indices `present` ordered by `values[index]` (ascending, or descending), equal values in the
 * order given: a stable least-significant-digit radix sort of each double's bits made sortable as
 * an unsigned number, 16 bits a pass, with no comparison function. 0 and -0 are equal, as `<` has
 * them.
 */
export function radixOrder(values: Float64Array, present: readonly number[], descending: boolean): Uint32Array {
  const n = present.length;
  const words = new Uint32Array(n * 2);
  const scratch = new Float64Array(1);
  const bits = new Uint32Array(scratch.buffer);
  const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const [lowWord, highWord] = little ? [0, 1] : [1, 0];
  for (let k = 0; k < n; k++) {
    scratch[0] = values[present[k]] + 0; // -0 + 0 is 0
    let high = bits[highWord];
    let low = bits[lowWord];
    if (high & 0x80000000) {
      high = ~high;
      low = ~low;
    } else high ^= 0x80000000;
    if (descending) {
      high = ~high;
      low = ~low;
    }
    words[k * 2] = low >>> 0;
    words[k * 2 + 1] = high >>> 0;
  }
  let order = new Uint32Array(n);
  for (let k = 0; k < n; k++) order[k] = k;
  let other = new Uint32Array(n);
  const counts = new Uint32Array(65536);
  for (let pass = 0; pass < 4; pass++) {
    const word = pass >> 1;
    const shift = (pass & 1) * 16;
    counts.fill(0);
    for (let k = 0; k < n; k++) counts[(words[order[k] * 2 + word] >>> shift) & 0xffff]++;
    if (counts[(words[word] >>> shift) & 0xffff] === n) continue; // one digit for all: the order stands
    let sum = 0;
    for (let d = 0; d < 65536; d++) {
      const count = counts[d];
      counts[d] = sum;
      sum += count;
    }
    for (let k = 0; k < n; k++) {
      const index = order[k];
      other[counts[(words[index * 2 + word] >>> shift) & 0xffff]++] = index;
    }
    [order, other] = [other, order];
  }
  for (let k = 0; k < n; k++) order[k] = present[order[k]];
  return order;
}

/** `metrics.auc` and friends, as the CLI and the table name columns. */
export function fieldName(field: Field): string {
  const plain = /^[A-Za-z0-9_.\-/@:]+$/.test(field.key) ? field.key : `\`${field.key.replace(/`/g, '``')}\``;
  return field.namespace === 'attributes' ? field.key : `${field.namespace}.${plain}`;
}
