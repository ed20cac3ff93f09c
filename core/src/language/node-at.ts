import { type YNode, type YPair } from '../yaml/nodes';

export interface NodeHit {
  /** Keys and list indexes from the root to the hit. */
  path: (string | number)[];
  node: YNode | null;
  /** The pair whose key or value holds the offset. */
  pair: YPair | null;
  onKey: boolean;
}

/** The innermost node at an offset (ends inclusive, so a cursor just after a word still hits it). */
export function nodeAt(root: YNode | null, offset: number): NodeHit {
  const path: (string | number)[] = [];
  let node = root;
  let pair: YPair | null = null;
  while (node) {
    if (node.kind === 'map') {
      const hit = findPair(node.pairs, offset);
      if (!hit) return { path, node, pair, onKey: false };
      path.push(hit.keyText);
      pair = hit;
      if (offset >= hit.key.start && offset <= hit.key.end) return { path, node: hit.key, pair, onKey: true };
      if (!hit.value || offset < hit.value.start || offset > hit.value.end)
        return { path, node: null, pair, onKey: false };
      node = hit.value;
    } else if (node.kind === 'seq') {
      const index = node.items.findIndex((item) => offset >= item.start && offset <= item.end);
      if (index === -1) return { path, node, pair, onKey: false };
      path.push(index);
      node = node.items[index];
    } else {
      return { path, node, pair, onKey: false };
    }
  }
  return { path, node: null, pair, onKey: false };
}

function findPair(pairs: YPair[], offset: number): YPair | undefined {
  // Pairs are in source order; binary search keeps a 10,000-stage mapping cheap.
  let low = 0;
  let high = pairs.length - 1;
  let candidate = -1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if (pairs[mid].start <= offset) {
      candidate = mid;
      low = mid + 1;
    } else {
      high = mid - 1;
    }
  }
  if (candidate === -1) return undefined;
  const pair = pairs[candidate];
  return offset <= Math.max(pair.end, pair.key.end) ? pair : undefined;
}
