import { type YMap, type YNode } from '../yaml/nodes';
import { type Analysis } from '../workspace/workspace';
import {
  RUN_PIPELINE,
  RUN_PIPELINE_ON_HOST,
  RUN_STAGE_UPSTREAM,
  SHOW_PIPELINE_GRAPH,
  type LensCommand,
} from './commands';

export type SymbolKind =
  'namespace' | 'function' | 'property' | 'object' | 'array' | 'string' | 'number' | 'boolean' | 'module' | 'variable';

export interface OutlineSymbol {
  name: string;
  detail?: string;
  kind: SymbolKind;
  start: number;
  end: number;
  selectionStart: number;
  selectionEnd: number;
  children: OutlineSymbol[];
}

function kindOfValue(node: YNode | null): SymbolKind {
  if (!node) return 'property';
  if (node.kind === 'map') return 'object';
  if (node.kind === 'seq') return 'array';
  if (node.kind === 'scalar')
    return typeof node.value === 'number' ? 'number' : typeof node.value === 'boolean' ? 'boolean' : 'string';
  return 'variable';
}

function shortText(node: YNode | null): string | undefined {
  if (node?.kind !== 'scalar' || node.value === null) return undefined;
  const text = String(node.value).replace(/\s+/g, ' ');
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function mapSymbols(
  map: YMap,
  depth: number,
  special: (key: string, depth: number) => SymbolKind | undefined,
): OutlineSymbol[] {
  return map.pairs.map((pair) => {
    const value = pair.value;
    const kind = special(pair.keyText, depth) ?? kindOfValue(value);
    const children = value?.kind === 'map' && depth < 3 ? mapSymbols(value, depth + 1, special) : [];
    return {
      name: pair.keyText || '(empty key)',
      detail: shortText(value),
      kind,
      start: pair.start,
      end: Math.max(pair.end, pair.key.end),
      selectionStart: pair.key.start,
      selectionEnd: pair.key.end,
      children,
    };
  });
}

/** The outline: top-level sections, stages (with their command as detail) and their keys. */
export function outline(analysis: Analysis): OutlineSymbol[] {
  const root = analysis.yaml?.root;
  if (root?.kind !== 'map') return [];
  if (analysis.kind === 'pipeline') {
    return mapSymbols(root, 0, (key, depth) => {
      if (depth === 0 && (key === 'stages' || key === 'hosts')) return 'namespace';
      return undefined;
    }).map((symbol) => {
      if (symbol.name === 'stages') {
        for (const stage of analysis.model.stages) {
          const child = symbol.children.find((candidate) => candidate.selectionStart === stage.pair.key.start);
          if (!child) continue;
          child.kind = 'function';
          child.detail = shortText(stage.cmd[0] ?? null);
        }
      }
      if (symbol.name === 'hosts') for (const host of symbol.children) host.kind = 'module';
      return symbol;
    });
  }
  return mapSymbols(root, 0, (_key, depth) => (depth === 0 ? 'namespace' : undefined));
}

export interface FoldingSpan {
  start: number;
  end: number;
  kind?: 'comment';
}

/** Foldable spans: every multi-line mapping or list, and runs of comment lines. */
export function folding(analysis: Analysis): FoldingSpan[] {
  const spans: FoldingSpan[] = [];
  const text = analysis.text;
  const visit = (node: YNode | null, start: number) => {
    if (!node) return;
    if (node.kind === 'map' || node.kind === 'seq') {
      if (text.indexOf('\n', start) !== -1 && text.indexOf('\n', start) < node.end)
        spans.push({ start, end: trimEnd(text, node.end) });
      if (node.kind === 'map') for (const pair of node.pairs) visit(pair.value, pair.start);
      else for (const item of node.items) visit(item, item.start);
    }
  };
  const root = analysis.yaml?.root ?? null;
  if (root?.kind === 'map') for (const pair of root.pairs) visit(pair.value, pair.start);
  else visit(root, root?.start ?? 0);
  // Comment blocks of two or more lines.
  let blockStart = -1;
  let blockEnd = -1;
  let lines = 0;
  let offset = 0;
  while (offset <= text.length) {
    let next = text.indexOf('\n', offset);
    if (next === -1) next = text.length;
    const isComment = /^\s*#/.test(text.slice(offset, next));
    if (isComment) {
      if (blockStart === -1) blockStart = offset;
      blockEnd = next;
      lines++;
    } else {
      if (lines >= 2) spans.push({ start: blockStart, end: blockEnd, kind: 'comment' });
      blockStart = -1;
      lines = 0;
    }
    offset = next + 1;
  }
  if (lines >= 2) spans.push({ start: blockStart, end: blockEnd, kind: 'comment' });
  return spans;
}

function trimEnd(text: string, end: number): number {
  let at = end;
  while (at > 0 && /\s/.test(text[at - 1])) at--;
  return at;
}

/** A code lens: where it sits and which command it runs; the editor adapter words and decorates it. */
export interface Lens {
  start: number;
  end: number;
  command: LensCommand;
  /** For a stage's lens: how many stage instances (matrix variants) the command runs. */
  variants?: number;
}

/** Run the pipeline and show its graph above `stages:`, run each stage (with what it needs first) above the stage. */
export function codeLenses(analysis: Analysis): Lens[] {
  if (analysis.kind !== 'pipeline') return [];
  const lenses: Lens[] = [];
  const root = analysis.yaml?.root;
  const stagesPair = root?.kind === 'map' ? root.pairs.find((pair) => pair.keyText === 'stages') : undefined;
  if (stagesPair && analysis.model.stages.length > 0) {
    lenses.push({ start: stagesPair.key.start, end: stagesPair.key.end, command: { id: RUN_PIPELINE, args: [] } });
    // And on each cluster the pipeline declares: the same pipeline, every stage sent there.
    for (const host of analysis.model.hosts.values())
      if (host.kubernetes)
        lenses.push({
          start: stagesPair.key.start,
          end: stagesPair.key.end,
          command: { id: RUN_PIPELINE_ON_HOST, args: [host.name] },
        });
    lenses.push({
      start: stagesPair.key.start,
      end: stagesPair.key.end,
      command: { id: SHOW_PIPELINE_GRAPH, args: [] },
    });
  }
  for (const stage of analysis.model.stages) {
    // A stage's lens runs what it needs first (skipping what is up to date), as `mlpipe run --upstream` does.
    lenses.push({
      start: stage.pair.key.start,
      end: stage.pair.key.end,
      command: { id: RUN_STAGE_UPSTREAM, args: [stage.name] },
      variants: stage.variants.length,
    });
  }
  return lenses;
}
