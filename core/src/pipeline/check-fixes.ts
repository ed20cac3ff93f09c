import { type Fix, type FileEdit } from '../diagnostics/diagnostic';
import { type ParamsFile } from '../params/params';
import { deref, type YNode } from '../yaml/nodes';
import { mapGet } from '../yaml/values';
import { type PipelineCheckInput } from './check-context';
import { type Stage } from './model';

/* The edits the checks offer as quick fixes: a value replaced, an item added to a stage's list, a param added to a params file. */

/** An edit that adds `a.b.c: null` to a params file, nested under the deepest key that already exists. */
export function insertParam(file: ParamsFile, dotted: string): FileEdit {
  const parts = dotted.split('.');
  let depth = parts.length - 1;
  while (depth > 0 && !file.entries.get(parts.slice(0, depth).join('.'))) depth--;
  const text = file.text;
  const placeholder = 'null # TODO: set a value';
  const nest = (names: string[], indent: string) =>
    names
      .map((name, i) => `${indent}${'  '.repeat(i)}${name}:${i === names.length - 1 ? ` ${placeholder}` : ''}`)
      .join('\n');
  if (depth > 0) {
    const parent = file.entries.get(parts.slice(0, depth).join('.'))!;
    const node = deref(parent.node);
    if (node?.kind === 'map' && !node.flow && node.pairs.length > 0) {
      const first = node.pairs[0].key.start;
      const indent = ' '.repeat(first - (text.lastIndexOf('\n', first - 1) + 1));
      const at = endOfContent(text, node.end);
      return { path: file.path, start: at, end: at, newText: `\n${nest(parts.slice(depth), indent)}` };
    }
  }
  const trimmed = text.replace(/\s+$/, '');
  const edit: FileEdit = {
    path: file.path,
    start: trimmed.length,
    end: text.length,
    newText: `${trimmed.length > 0 ? '\n' : ''}${nest(parts, '')}\n`,
  };
  if (!file.exists) edit.createFile = true;
  return edit;
}

/** An edit appending an item to a stage's list key (`deps`, `needs`), creating the key when absent. */
export function appendToList(input: PipelineCheckInput, stage: Stage, key: string, item: string): FileEdit | undefined {
  const text = input.text;
  const map = stage.map;
  if (!map || map.flow) return undefined;
  const pair = mapGet(map, key);
  // A list the stage inherits through `<<:` is not the stage's to edit: a new key would replace it.
  if (pair && !map.pairs.includes(pair)) return undefined;
  const value = pair?.value;
  const quotedItem = /^[A-Za-z0-9_./@-]+$/.test(item) ? item : JSON.stringify(item);
  if (value?.kind === 'seq' && value.flow) {
    const close = text.lastIndexOf(']', value.end);
    if (close === -1) return undefined;
    return {
      path: input.path,
      start: close,
      end: close,
      newText: value.items.length > 0 ? `, ${quotedItem}` : quotedItem,
    };
  }
  if (value?.kind === 'seq' && value.items.length > 0) {
    const last = value.items[value.items.length - 1];
    const lineStart = text.lastIndexOf('\n', last.start) + 1;
    const prefix = text.slice(lineStart, last.start);
    const position = endOfContent(text, last.end);
    return { path: input.path, start: position, end: position, newText: `\n${prefix}${quotedItem}` };
  }
  if (pair) return undefined;
  const first = map.pairs[0]?.key.start ?? map.start;
  const indent = ' '.repeat(first - (text.lastIndexOf('\n', first - 1) + 1));
  const lastPair = map.pairs[map.pairs.length - 1];
  const position = endOfContent(text, lastPair.end);
  return { path: input.path, start: position, end: position, newText: `\n${indent}${key}: [${quotedItem}]` };
}

/**
 * Where to insert a line after a node: the end of the line holding its last character. A node's
 * end can lie past trailing newlines (a block scalar's does), which would put the new line
 * inside whatever comes next.
 */
function endOfContent(text: string, end: number): number {
  let last = Math.min(end, text.length);
  while (last > 0 && /\s/.test(text[last - 1])) last--;
  const newline = text.indexOf('\n', last);
  return newline === -1 ? text.length : newline;
}

/** A fix that replaces a scalar, keeping its quotes. */
export function replaceFix(path: string, node: YNode, replacement: string, text: string): Fix {
  // Keep quotes as written: replace what is inside them.
  const raw = text.slice(node.start, node.end);
  const quoted = raw.length >= 2 && (raw[0] === '"' || raw[0] === "'") && raw[raw.length - 1] === raw[0];
  const start = quoted ? node.start + 1 : node.start;
  const end = quoted ? node.end - 1 : node.end;
  return { title: `Change to '${replacement}'`, preferred: true, edits: [{ path, start, end, newText: replacement }] };
}
