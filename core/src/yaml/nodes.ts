/**
 * mlpipe's own YAML tree: plain objects with absolute source offsets, built from the `yaml`
 * package's documents. Aliases stay references (never copied), so alias-heavy files stay linear.
 */
export type YNode = YMap | YSeq | YScalar | YAlias;

export interface Span {
  start: number;
  end: number;
}

interface YBase extends Span {
  /** Anchor name without the `&`, when the node carries one. */
  anchor?: string;
  tag?: string;
}

export interface YMap extends YBase {
  kind: 'map';
  pairs: YPair[];
  flow: boolean;
}

export interface YPair extends Span {
  key: YNode;
  /** The key as text: its scalar value, or its source for complex keys. */
  keyText: string;
  /** Null when nothing follows the colon. */
  value: YNode | null;
  /** Offset just past the `:`, or the key's end when there is none. */
  valueStart: number;
}

export interface YSeq extends YBase {
  kind: 'seq';
  items: YNode[];
  flow: boolean;
}

export type ScalarValue = string | number | boolean | null;
export type ScalarStyle = 'plain' | 'single' | 'double' | 'block-literal' | 'block-folded';

export interface YScalar extends YBase {
  kind: 'scalar';
  value: ScalarValue;
  style: ScalarStyle;
}

export interface YAlias extends YBase {
  kind: 'alias';
  name: string;
  /** Resolved after the whole document is assembled; null when no anchor precedes it. */
  target: YNode | null;
}

export function isMap(node: YNode | null | undefined): node is YMap {
  return node?.kind === 'map';
}

export function isSeq(node: YNode | null | undefined): node is YSeq {
  return node?.kind === 'seq';
}

export function isScalar(node: YNode | null | undefined): node is YScalar {
  return node?.kind === 'scalar';
}

/** Follows aliases to the node they stand for (bounded, so a bad alias chain cannot loop). */
export function deref(node: YNode | null | undefined): YNode | null {
  let current = node ?? null;
  for (let hops = 0; current?.kind === 'alias' && hops < 64; hops++) current = current.target;
  return current?.kind === 'alias' ? null : current;
}

export function getPair(map: YMap | null | undefined, key: string): YPair | undefined {
  if (!map) return undefined;
  // Later duplicates win, as in the JS value the schema sees.
  for (let i = map.pairs.length - 1; i >= 0; i--) if (map.pairs[i].keyText === key) return map.pairs[i];
  return undefined;
}

export function getValue(map: YMap | null | undefined, key: string): YNode | null {
  return deref(getPair(map, key)?.value);
}

export function scalarText(node: YNode | null | undefined): string | undefined {
  const target = deref(node);
  if (target?.kind !== 'scalar' || target.value === null) return undefined;
  return String(target.value);
}

export function stringValue(node: YNode | null | undefined): string | undefined {
  const target = deref(node);
  return target?.kind === 'scalar' && typeof target.value === 'string' ? target.value : undefined;
}

/** Visits every node of a subtree once, without following aliases. */
export function walk(node: YNode | null, visit: (node: YNode) => void): void {
  const stack: YNode[] = node ? [node] : [];
  while (stack.length > 0) {
    const current = stack.pop()!;
    visit(current);
    if (current.kind === 'map') {
      for (let i = current.pairs.length - 1; i >= 0; i--) {
        const pair = current.pairs[i];
        if (pair.value) stack.push(pair.value);
        stack.push(pair.key);
      }
    } else if (current.kind === 'seq') {
      for (let i = current.items.length - 1; i >= 0; i--) stack.push(current.items[i]);
    }
  }
}

/** Moves a subtree by `delta` characters: recursion without a closure or a stack, since an edit moves every block after it. */
export function shiftSpan(node: YNode, delta: number): void {
  node.start += delta;
  node.end += delta;
  if (node.kind === 'map') {
    const pairs = node.pairs;
    for (let i = 0; i < pairs.length; i++) {
      const pair = pairs[i];
      pair.start += delta;
      pair.end += delta;
      pair.valueStart += delta;
      shiftSpan(pair.key, delta);
      if (pair.value) shiftSpan(pair.value, delta);
    }
  } else if (node.kind === 'seq') {
    const items = node.items;
    for (let i = 0; i < items.length; i++) shiftSpan(items[i], delta);
  }
}
