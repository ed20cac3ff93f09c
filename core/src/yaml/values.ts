import { type StableValues } from './build';
import { deref, type YAlias, type YMap, type YNode, type YPair } from './nodes';

export function isMergeKey(pair: YPair): boolean {
  return pair.keyText === '<<' && pair.key.kind === 'scalar' && pair.key.style === 'plain';
}

/** The mappings a `<<` value merges in, in precedence order (earlier wins). */
export function mergeSources(pair: YPair): YMap[] {
  const value = deref(pair.value);
  if (value?.kind === 'map') return [value];
  if (value?.kind === 'seq')
    return value.items.map((item) => deref(item)).filter((item): item is YMap => item?.kind === 'map');
  return [];
}

/**
 * The pair for `key` in a mapping as YAML reads it: the last explicit pair, else the first merge
 * source that has it.
 */
export function mapGet(map: YMap | null | undefined, key: string): YPair | undefined {
  if (!map) return undefined;
  for (let i = map.pairs.length - 1; i >= 0; i--) {
    const pair = map.pairs[i];
    if (pair.keyText === key && !isMergeKey(pair)) return pair;
  }
  for (const pair of map.pairs) {
    if (!isMergeKey(pair)) continue;
    for (const source of mergeSources(pair)) {
      const found = mapGet(source, key);
      if (found) return found;
    }
  }
  return undefined;
}

/** Every effective pair of a mapping, merged pairs included, each key once (explicit keys win). */
export function mapEntries(map: YMap | null | undefined): YPair[] {
  if (!map) return [];
  if (!map.pairs.some(isMergeKey)) return map.pairs;
  const result = new Map<string, YPair>();
  for (const pair of map.pairs) if (!isMergeKey(pair)) result.set(pair.keyText, pair);
  for (const pair of map.pairs) {
    if (!isMergeKey(pair)) continue;
    for (const source of mergeSources(pair))
      for (const entry of mapEntries(source)) if (!result.has(entry.keyText)) result.set(entry.keyText, entry);
  }
  return [...result.values()];
}

function define(target: Record<string, unknown>, key: string, value: unknown): void {
  // A YAML key named `__proto__` must stay data: assignment would set the prototype instead.
  if (key === '__proto__')
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/**
 * The plain JavaScript value of a node: merge keys applied, aliases shared rather than copied
 * (each anchored node converts once), and aliases read as null when `cutAliases` is set.
 */
export function toJS(node: YNode | null, cutAliases = false, stable?: StableValues): unknown {
  // A block's value kept from an earlier parse: answered without setting anything up.
  if (node && stable && !cutAliases) {
    const usesAliases = stable.nodes.get(node);
    const cached = usesAliases === undefined ? undefined : stable.cache.get(node);
    if (cached && (!usesAliases || cached.aliasVersion === stable.aliasVersion)) return cached.value;
  }
  const memo = new Map<YNode, unknown>();
  const convert = (current: YNode | null): unknown => {
    if (!current) return null;
    if (current.kind === 'alias') return cutAliases || !current.target ? null : convert(current.target);
    const known = memo.get(current);
    if (known !== undefined) return known;
    const usesAliases = cutAliases ? undefined : stable?.nodes.get(current);
    if (usesAliases !== undefined && stable) {
      const cached = stable.cache.get(current);
      if (cached && (!usesAliases || cached.aliasVersion === stable.aliasVersion)) return cached.value;
      const value = convertFresh(current);
      stable.cache.set(current, { aliasVersion: stable.aliasVersion, value });
      return value;
    }
    return convertFresh(current);
  };
  const convertFresh = (current: Exclude<YNode, YAlias>): unknown => {
    if (current.kind === 'scalar') return current.value;
    if (current.kind === 'seq') {
      const list: unknown[] = [];
      memo.set(current, list);
      for (const item of current.items) list.push(convert(item));
      return list;
    }
    const object: Record<string, unknown> = {};
    memo.set(current, object);
    const hasMerge = current.pairs.some(isMergeKey);
    const explicit = hasMerge
      ? new Set(current.pairs.filter((pair) => !isMergeKey(pair)).map((pair) => pair.keyText))
      : null;
    for (const pair of current.pairs) {
      if (!isMergeKey(pair)) {
        define(object, pair.keyText, convert(pair.value));
        continue;
      }
      if (cutAliases && pair.value?.kind === 'alias') continue;
      // Explicit keys win over merged ones wherever they appear; earlier merge sources win over later.
      for (const source of mergeSources(pair)) {
        const merged = convert(source) as Record<string, unknown>;
        for (const key of Object.keys(merged)) {
          if (!explicit!.has(key) && !Object.prototype.hasOwnProperty.call(object, key))
            define(object, key, merged[key]);
        }
      }
    }
    return object;
  };
  return convert(node);
}

export interface Located {
  /** The node the path leads to, when it exists. */
  node: YNode | null;
  /** The pair whose key is the path's last segment, when the last step is a mapping key. */
  pair: YPair | null;
  /** The innermost node that is written inside the file at the path (not reached through an alias or merge). */
  lexical: YNode | YPair | null;
  /** The alias or merge the path went through, when it did. */
  via: string | null;
}

/** Follows a JSON path (`['stages', 'train', 'deps', 0]`) through the tree, merges and aliases included. */
export function locate(root: YNode | null, path: readonly (string | number)[]): Located {
  let node: YNode | null = root;
  let pair: YPair | null = null;
  let lexical: YNode | YPair | null = root;
  let via: string | null = null;
  for (const segment of path) {
    if (node?.kind === 'alias') {
      via ??= `*${node.name}`;
      node = deref(node);
    }
    if (!node) return { node: null, pair: null, lexical, via };
    pair = null;
    if (node.kind === 'map') {
      const key = String(segment);
      let found: YPair | undefined;
      for (let i = node.pairs.length - 1; i >= 0 && !found; i--)
        if (node.pairs[i].keyText === key && !isMergeKey(node.pairs[i])) found = node.pairs[i];
      if (!found) {
        for (const merge of node.pairs.filter(isMergeKey)) {
          for (const source of mergeSources(merge)) {
            const candidate = source.pairs.find((p) => p.keyText === key);
            if (candidate && !found) {
              found = candidate;
              if (!via) {
                via = merge.value?.kind === 'alias' ? `<<: *${merge.value.name}` : '<<';
                lexical = merge;
              }
            }
          }
        }
      }
      if (!found) return { node: null, pair: null, lexical, via };
      pair = found;
      node = found.value;
      if (!via) lexical = found.value ?? found;
    } else if (node.kind === 'seq' && Number.isInteger(Number(segment))) {
      node = node.items[Number(segment)] ?? null;
      if (!node) return { node: null, pair: null, lexical, via };
      if (!via) lexical = node;
    } else {
      return { node: null, pair: null, lexical, via };
    }
  }
  return { node, pair, lexical, via };
}
