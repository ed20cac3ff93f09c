import { walk, type YNode, type YPair } from './nodes';
import { type YamlProblem } from './problems';

export function duplicatePairs(pairs: YPair[], problems: YamlProblem[]): void {
  if (pairs.length < 2) return;
  const seen = new Map<string, YPair>();
  for (const pair of pairs) {
    const first = seen.get(pair.keyText);
    if (!first) {
      seen.set(pair.keyText, pair);
      continue;
    }
    problems.push({
      start: pair.key.start,
      end: pair.key.end,
      code: 'duplicate-key',
      severity: 'error',
      message: `Duplicate key '${pair.keyText}': YAML keeps only the last one; remove or rename one of them.`,
      related: [{ start: first.key.start, end: first.key.end, message: `'${pair.keyText}' is first defined here` }],
    });
  }
}

/** Finds duplicate keys in every mapping under `node` (`includeRoot` also checks `node` itself). */
export function checkDuplicates(node: YNode, problems: YamlProblem[], includeRoot: boolean): void {
  walk(node, (current) => {
    if (current.kind === 'map' && (includeRoot || current !== node)) duplicatePairs(current.pairs, problems);
  });
}
