/**
 * Where the cursor is in YAML text, read from the lines themselves rather than a parse tree, so
 * it works on the half-typed lines completion is asked about: the key path above the cursor,
 * whether a key or a value is being typed, and the word to replace.
 */
export interface CursorContext {
  /** Keys from the root, with 0 standing for "an item of this list". For a value, the path ends with its key. */
  path: (string | number)[];
  kind: 'key' | 'value';
  /** The word being typed and the span completion replaces. */
  prefix: string;
  replaceStart: number;
  replaceEnd: number;
  /** Set inside `${...}`: what is typed after `${` up to the cursor, and where that starts. */
  interpolation?: { typed: string; start: number; end: number };
  /** Inside `[...]` or `{...}` on the cursor's line. */
  inFlow: boolean;
  /** Column where a new key at the cursor's level starts. */
  indent: number;
}

interface LineShape {
  indent: number;
  /** Column where the content after any `- ` markers starts. */
  contentColumn: number;
  dashes: number;
  /** `key` of a `key:` line, or undefined. */
  key: string | undefined;
  /** Text after `key:` (comments stripped, trimmed). */
  rest: string;
  blank: boolean;
}

const KEY_LINE = /^(?:"([^"]*)"|'([^']*)'|([^\s#'"{[\]},:][^#:]*?|))[ \t]*:(?:[ \t]+|$)(.*)$/;

function shape(line: string): LineShape {
  let indent = 0;
  while (indent < line.length && line.charCodeAt(indent) === 32) indent++;
  let column = indent;
  let dashes = 0;
  while (line[column] === '-' && (column + 1 === line.length || line[column + 1] === ' ')) {
    dashes++;
    column++;
    while (line[column] === ' ') column++;
  }
  const content = line.slice(column);
  const blank = content.trim() === '' || content.trimStart().startsWith('#');
  // A key line is short; the pattern backtracks on very long lines, so those are read as values.
  const match = blank || content.length > 2000 ? null : KEY_LINE.exec(content);
  const key = match ? (match[1] ?? match[2] ?? match[3] ?? '').trim() : undefined;
  const rest = match ? match[4].replace(/\s+#.*$/, '').trim() : '';
  return { indent, contentColumn: column, dashes, key: key || undefined, rest, blank: blank && dashes === 0 };
}

/** True when a `key:` line opens a nested block: nothing after the colon but an anchor, a tag or a comment. */
function opensBlock(rest: string): boolean {
  return rest === '' || /^([&!][^\s]*\s*)+$/.test(rest) || rest === '|' || rest === '>';
}

const WORD_BREAK = /[\s,[\]{}"'#]/;

export function cursorContext(text: string, offset: number): CursorContext {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  let lineEnd = text.indexOf('\n', offset);
  if (lineEnd === -1) lineEnd = text.length;
  const before = text.slice(lineStart, offset);
  const after = text.slice(offset, lineEnd);
  const current = shape(before);

  // The word around the cursor.
  let wordStart = offset;
  while (wordStart > lineStart && !WORD_BREAK.test(text[wordStart - 1]) && text[wordStart - 1] !== ':') wordStart--;
  let wordEnd = offset;
  while (wordEnd < lineEnd && !WORD_BREAK.test(text[wordEnd]) && text[wordEnd] !== ':') wordEnd++;

  // Ancestors from the lines above.
  const path: (string | number)[] = [];
  let column = current.contentColumn;
  const ownItems: number[] = [];
  for (let i = 0; i < current.dashes; i++) ownItems.push(0);
  let cursor = lineStart - 1;
  while (cursor > 0 && column > 0) {
    const start = text.lastIndexOf('\n', cursor - 1) + 1;
    // A line indented at least as far is passed over whatever it holds: counted without reading it
    // (from a stage deep in a long pipeline, this climbs past every stage above).
    let spaces = 0;
    while (spaces < column && start + spaces < cursor && text.charCodeAt(start + spaces) === 32) spaces++;
    if (spaces >= column) {
      cursor = start - 1;
      continue;
    }
    const line = shape(text.slice(start, cursor));
    cursor = start - 1;
    if (line.blank) continue;
    if (line.indent >= column) continue;
    if (line.dashes > 0 && line.contentColumn <= column) {
      // We are inside this list item: a map item (`- path: x` then `  x: y`) or a nested one.
      path.unshift(0);
      if (line.key !== undefined && line.contentColumn < column && opensBlock(line.rest)) path.unshift(line.key);
      for (let d = 1; d < line.dashes; d++) path.unshift(0);
      column = line.indent;
      // A compact list may sit at its key's own column (`deps:\n- a`): look for the key at <= column.
      const keyLine = findCompactKey(text, cursor, column);
      if (keyLine) {
        path.unshift(keyLine.key);
        column = keyLine.indent;
        cursor = keyLine.before;
      }
      continue;
    }
    if (line.key !== undefined && opensBlock(line.rest)) {
      path.unshift(line.key);
      column = line.indent;
      continue;
    }
    break; // a multi-line scalar or something unparseable: stop climbing
  }
  if (current.dashes > 0 && ownItems.length > 0) {
    // `- ` on the cursor's line: a compact list under a key at the same column, or under the line above.
    if (path.length === 0 || current.indent === column) {
      const keyLine = findCompactKey(text, lineStart - 1, current.indent);
      if (keyLine && keyLine.indent === current.indent && !path.includes(keyLine.key)) path.push(keyLine.key);
    }
    path.push(...ownItems);
  }

  const base = {
    replaceStart: wordStart,
    replaceEnd: wordEnd,
    prefix: text.slice(wordStart, offset),
    indent: current.contentColumn,
  };

  // Inside ${...}?
  const open = before.lastIndexOf('${');
  if (open !== -1 && before.indexOf('}', open) === -1) {
    const typedStart = lineStart + open + 2;
    let end = offset;
    while (end < lineEnd && /[\w.-]/.test(text[end])) end++;
    const keyMatch = current.key !== undefined ? [current.key] : [];
    return {
      ...base,
      path: [...path, ...keyMatch],
      kind: 'value',
      interpolation: { typed: text.slice(typedStart, offset), start: typedStart, end },
      inFlow: false,
    };
  }

  const content = before.slice(current.contentColumn);
  const colon = findValueColon(content);
  if (colon === -1) {
    // No `key:` yet: a key, or a list item's value (`- data/ra`).
    const flow = flowContext(before);
    if (flow) return { ...base, ...flow, path: [...path, ...flow.path] };
    if (current.dashes > 0 && !after.includes(':')) return { ...base, path, kind: 'value', inFlow: false };
    return { ...base, path, kind: 'key', inFlow: false };
  }
  const key = unquote(content.slice(0, colon).trim());
  const valueText = content.slice(colon + 1);
  const flow = flowContext(valueText);
  if (flow) return { ...base, ...flow, path: [...path, key, ...flow.path] };
  return { ...base, path: [...path, key], kind: 'value', inFlow: false };
}

function findCompactKey(
  text: string,
  fromEnd: number,
  column: number,
): { key: string; indent: number; before: number } | undefined {
  let cursor = fromEnd;
  while (cursor > 0) {
    const start = text.lastIndexOf('\n', cursor - 1) + 1;
    const line = shape(text.slice(start, cursor));
    const before = start - 1;
    cursor = before;
    if (line.blank) continue;
    if (line.indent > column) continue;
    if (line.indent === column && line.dashes > 0) continue; // a sibling item
    if (line.key !== undefined && line.dashes === 0 && opensBlock(line.rest) && line.indent <= column)
      return { key: line.key, indent: line.indent, before };
    return undefined;
  }
  return undefined;
}

/** The colon that ends a key on this line, skipping quoted text and `${...}`; -1 when none. */
function findValueColon(content: string): number {
  let quote = '';
  for (let i = 0; i < content.length; i++) {
    const c = content[i];
    if (quote) {
      if (c === quote) quote = '';
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '{') return -1;
    else if (c === ':' && (i + 1 === content.length || content[i + 1] === ' ' || content[i + 1] === '\t')) return i;
  }
  return -1;
}

/** Inside an unclosed `[` or `{` on the line: the flow item's path and whether a key or value is typed. */
function flowContext(
  text: string,
): (Pick<CursorContext, 'kind' | 'inFlow'> & { path: (string | number)[] }) | undefined {
  const stack: { kind: '[' | '{'; key: string | undefined }[] = [];
  let quote = '';
  let token = '';
  let pendingKey: string | undefined;
  for (const c of text) {
    if (quote) {
      if (c === quote) quote = '';
      token += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      token += c;
    } else if (c === '[' || c === '{') {
      stack.push({ kind: c, key: pendingKey });
      pendingKey = undefined;
      token = '';
    } else if (c === ']' || c === '}') {
      stack.pop();
      token = '';
      pendingKey = undefined;
    } else if (c === ',') {
      token = '';
      pendingKey = undefined;
    } else if (c === ':') {
      pendingKey = unquote(token.trim());
      token = '';
    } else {
      token += c;
    }
  }
  if (stack.length === 0) return undefined;
  const path: (string | number)[] = [];
  for (const level of stack) {
    if (level.key !== undefined) path.push(level.key);
    if (level.kind === '[') path.push(0);
  }
  const inner = stack[stack.length - 1];
  if (inner.kind === '{') {
    if (pendingKey !== undefined) return { kind: 'value', inFlow: true, path: [...path, pendingKey] };
    return { kind: 'key', inFlow: true, path };
  }
  return { kind: 'value', inFlow: true, path };
}

function unquote(text: string): string {
  return text.length >= 2 && (text[0] === '"' || text[0] === "'") && text[text.length - 1] === text[0]
    ? text.slice(1, -1)
    : text;
}
