import { checkDuplicates, duplicatePairs } from './duplicates';
import { shiftSpan, walk, type Span, type YAlias, type YMap, type YNode, type YPair, type YScalar } from './nodes';
import { parseMappingSlice, parseWhole, withPlainEnv, type ParsedSlice, type YamlProblem } from './parse';
import { planSegments, replan, type SegmentPlan } from './segments';

/** Expansion beyond the document's own size that aliases may add before mlpipe stops following them. */
export const ALIAS_EXPANSION_LIMIT = 100_000;

export interface YamlModel {
  text: string;
  root: YNode | null;
  problems: YamlProblem[];
  nodeCount: number;
  documentCount: number;
  /** The document mlpipe reads when a file holds several, and the ones it ignores. */
  chosenDocument: number;
  ignoredDocuments: Span[];
  /** True when aliases expand too far to follow (an alias bomb); consumers then treat aliases as null. */
  aliasesCut: boolean;
  /** Blocks (a top-level key, a stage) with YAML syntax errors: findings inside them would only repeat those. */
  brokenBlocks: Span[];
  /**
   * Values of blocks without aliases, by node: they do not change while their text does not, so
   * conversion to plain values (for the schema) can reuse them across edits. Pass to `toJS`.
   */
  stableValues: StableValues;
  /** Changes whenever some alias now points at a different node: caches of derived data key on it. */
  aliasVersion: number;
  /** How many blocks this update parsed, and how many it reused. */
  parsedBlocks: number;
  reusedBlocks: number;
}

export type DocumentChooser = (roots: (YNode | null)[]) => number;

/**
 * Nodes whose plain value may be cached (a block's top-level values), and the cache. A value from
 * a block with aliases depends on the anchors it points at, so it is valid for one alias version.
 */
export interface StableValues {
  /** Node to whether its value depends on aliases. */
  nodes: WeakMap<YNode, boolean>;
  cache: WeakMap<YNode, { aliasVersion: number; value: unknown }>;
  aliasVersion: number;
}

/**
 * Parses YAML text into mlpipe's tree, re-parsing only the blocks (top-level keys, stages) whose
 * text changed since the previous call. One instance belongs to one document.
 */
export class IncrementalYamlParser {
  /** The previous parse's blocks in order, and its text. */
  private blocks: ParsedSlice[] = [];
  private previous = '';
  /** The previous parse's plan, while it was segmented: an edit inside the stages updates it. */
  private plan: SegmentPlan | undefined;
  /** How many stage blocks hold each stage name, and how many names more than one (while one `stages` is split). */
  private names: Map<string, number> | undefined;
  private repeatedNames = 0;
  private readonly stable: StableValues = { nodes: new WeakMap(), cache: new WeakMap(), aliasVersion: 0 };
  private aliasVersion = 0;

  constructor(private readonly choose: DocumentChooser = () => 0) {}

  parse(text: string): YamlModel {
    return withPlainEnv(() => this.parseText(text));
  }

  private parseText(text: string): YamlModel {
    // What changed since the previous parse: one span, found from both ends.
    const ends = this.plan ? commonEnds(this.previous, text) : undefined;
    const plan =
      (this.plan && ends && replan(this.plan, this.previous, text, ends.prefix, ends.suffix)) || planSegments(text);
    this.plan = undefined; // until this parse completes: `replan` updated the previous plan in place
    if (plan.mode === 'whole') {
      this.blocks = [];
      this.previous = '';
      this.plan = undefined;
      this.names = undefined;
      const whole = parseWhole(text, this.choose);
      const problems = [...whole.problems];
      if (whole.root) checkDuplicates(whole.root, problems, true);
      resolveAliases(whole.anchors, whole.aliases, problems);
      this.aliasVersion++;
      this.stable.aliasVersion = this.aliasVersion;
      const aliasesCut = checkExpansion(whole.root, whole.aliases, whole.nodeCount, problems);
      return {
        text,
        root: whole.root,
        problems,
        nodeCount: whole.nodeCount,
        documentCount: whole.documentCount,
        chosenDocument: whole.chosen,
        ignoredDocuments: whole.ignored,
        aliasesCut,
        brokenBlocks: [],
        stableValues: this.stable,
        aliasVersion: this.aliasVersion,
        parsedBlocks: 1,
        reusedBlocks: 0,
      };
    }

    // A block wholly before the changed span is the same block at the same offset; one wholly after
    // it, the same block moved by `delta`.
    const { prefix, suffix } = ends ?? commonEnds(this.previous, text);
    const delta = text.length - this.previous.length;
    const changedEnd = text.length - suffix;
    let parsedBlocks = 0;
    let reusedBlocks = 0;
    const slices: ParsedSlice[] = [];
    // Blocks are met in order, and reused in order: one pointer walks the previous blocks (those
    // ahead of it still have their old offsets).
    const old = this.blocks;
    let cursor = 0;
    // Stage names counted across parses: blocks dropped leave the count, blocks parsed join it.
    const splits = plan.segments.filter((segment) => segment.stages).length;
    const counting = splits === 1 && this.names !== undefined;
    const names = counting ? this.names! : new Map<string, number>();
    if (!counting) this.repeatedNames = 0;
    const count = (block: ParsedSlice, by: number) => {
      for (const pair of block.map?.pairs ?? []) {
        const was = names.get(pair.keyText) ?? 0;
        if (was + by === 0) names.delete(pair.keyText);
        else names.set(pair.keyText, was + by);
        if (was === 1 && by === 1) this.repeatedNames++;
        else if (was === 2 && by === -1) this.repeatedNames--;
      }
    };
    const drop = (block: ParsedSlice) => {
      if (counting && block.stage) count(block, -1);
    };
    const reuse = (base: number, length: number): ParsedSlice | undefined => {
      while (cursor < old.length && old[cursor].base < base) drop(old[cursor++]);
      const candidate = old[cursor];
      if (!candidate || candidate.base !== base || candidate.length !== length) return undefined;
      cursor++;
      return candidate;
    };
    const slice = (start: number, end: number, expect: string): ParsedSlice => {
      let parsed: ParsedSlice | undefined;
      if (end <= prefix) parsed = reuse(start, end - start);
      else if (start >= changedEnd) parsed = reuse(start - delta, end - start);
      if (parsed) {
        reusedBlocks++;
        if (parsed.base !== start) shiftSlice(parsed, start - parsed.base);
      } else {
        parsedBlocks++;
        parsed = parseMappingSlice(text, start, end, expect);
        if (parsed.map)
          for (const pair of parsed.map.pairs)
            if (pair.value) this.stable.nodes.set(pair.value, parsed.aliases.length > 0);
      }
      slices.push(parsed);
      return parsed;
    };
    const stageBlock = (start: number, end: number): ParsedSlice => {
      const before = parsedBlocks;
      const parsed = slice(start, end, 'a stage');
      // A block reused at its offset, or after the change, was a stage block before too.
      if (!counting || parsedBlocks !== before || !parsed.stage) count(parsed, 1);
      parsed.stage = true;
      return parsed;
    };

    const rootPairs: YPair[] = [];
    for (const segment of plan.segments) {
      if (!segment.stages) {
        const parsed = slice(segment.start, segment.end, 'a top-level key');
        if (parsed.map) rootPairs.push(...parsed.map.pairs);
        continue;
      }
      const stagePairs: YPair[] = [];
      for (const child of segment.stages.children) {
        const parsed = stageBlock(child.start, child.end);
        if (parsed.map) stagePairs.push(...parsed.map.pairs);
      }
      const key: YScalar = {
        kind: 'scalar',
        start: segment.stages.keyStart,
        end: segment.stages.keyEnd,
        value: 'stages',
        style: 'plain',
      };
      const value: YMap | null =
        stagePairs.length === 0
          ? null
          : {
              kind: 'map',
              flow: false,
              pairs: stagePairs,
              start: stagePairs[0].start,
              end: stagePairs[stagePairs.length - 1].end,
            };
      rootPairs.push({
        key,
        keyText: 'stages',
        value,
        start: key.start,
        end: value ? value.end : key.end,
        valueStart: key.end + 1,
      });
    }
    while (cursor < old.length) drop(old[cursor++]);
    this.names = splits === 1 ? names : undefined;
    this.blocks = slices;
    this.previous = text;
    this.plan = plan;

    const root: YMap = {
      kind: 'map',
      flow: false,
      pairs: rootPairs,
      start: rootPairs.length > 0 ? rootPairs[0].start : 0,
      end: rootPairs.length > 0 ? rootPairs[rootPairs.length - 1].end : 0,
    };
    const problems: YamlProblem[] = [];
    let nodeCount = 1;
    const anchors: YNode[] = [];
    const aliases: YAlias[] = [];
    for (const parsed of slices) {
      problems.push(...parsed.problems);
      anchors.push(...parsed.anchors);
      aliases.push(...parsed.aliases);
      nodeCount += parsed.nodeCount;
    }
    // Inside a block, duplicates were found when it was parsed; here only the assembled levels.
    duplicatePairs(root.pairs, problems);
    const stages = rootPairs.find(
      (pair) => pair.keyText === 'stages' && pair.value?.kind === 'map' && !pair.value.flow,
    );
    if (stages?.value?.kind === 'map' && (splits !== 1 || this.repeatedNames > 0))
      duplicatePairs(stages.value.pairs, problems);
    if (resolveAliases(anchors, aliases, problems)) this.aliasVersion++;
    this.stable.aliasVersion = this.aliasVersion;
    const aliasesCut = checkExpansion(root, aliases, nodeCount, problems);
    const brokenBlocks = slices
      .filter((parsed) => parsed.problems.some((problem) => problem.code === 'yaml-syntax'))
      .map((parsed) => ({ start: parsed.base, end: parsed.base + parsed.length }));
    return {
      text,
      root: rootPairs.length > 0 ? root : null,
      brokenBlocks,
      stableValues: this.stable,
      aliasVersion: this.aliasVersion,
      problems,
      nodeCount,
      documentCount: 1,
      chosenDocument: 0,
      ignoredDocuments: [],
      aliasesCut,
      parsedBlocks,
      reusedBlocks,
    };
  }
}

/**
 * How many characters two texts share at their start, and then at their end (never overlapping
 * the shared start): found by halving, each step one comparison of two slices, which V8 makes as
 * a memory comparison without copying.
 */
export function commonEnds(a: string, b: string): { prefix: number; suffix: number } {
  const limit = Math.min(a.length, b.length);
  let low = 0;
  let high = limit;
  // Invariant: the first `low` characters agree; somewhere before `high` they may not.
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (a.slice(low, mid) === b.slice(low, mid)) low = mid;
    else high = mid - 1;
  }
  const prefix = low;
  low = 0;
  high = limit - prefix;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (a.slice(a.length - mid, a.length - low) === b.slice(b.length - mid, b.length - low)) low = mid;
    else high = mid - 1;
  }
  return { prefix, suffix: low };
}

function shiftSlice(slice: ParsedSlice, delta: number): void {
  slice.base += delta;
  if (slice.map) shiftSpan(slice.map, delta);
  for (const problem of slice.problems) {
    problem.start += delta;
    problem.end += delta;
    for (const related of problem.related ?? []) {
      related.start += delta;
      related.end += delta;
    }
  }
  // Nodes outside the mapping; a detached subtree is moved once, through its top node.
  if (!slice.detached) return;
  const moved = new Set<YNode>();
  for (const node of slice.detached)
    walk(node, (inner) => {
      if (moved.has(inner)) return;
      moved.add(inner);
      inner.start += delta;
      inner.end += delta;
      if (inner.kind === 'map')
        for (const pair of inner.pairs) {
          pair.start += delta;
          pair.end += delta;
          pair.valueStart += delta;
        }
    });
}

const resolvedBefore = new WeakSet<YAlias>();

/** Points every alias at its anchor; returns true when an alias resolved before points somewhere new. */
function resolveAliases(anchors: YNode[], aliases: YAlias[], problems: YamlProblem[]): boolean {
  if (aliases.length === 0) return false;
  let changed = false;
  const events: YNode[] = [...anchors, ...aliases].sort((a, b) => a.start - b.start || (a.kind === 'alias' ? 1 : -1));
  const byName = new Map<string, YNode>();
  for (const event of events) {
    if (event.kind !== 'alias') {
      byName.set(event.anchor!, event);
      continue;
    }
    const target = byName.get(event.name) ?? null;
    const previous = event.target;
    const seenBefore = resolvedBefore.has(event);
    resolvedBefore.add(event);
    event.target = null;
    if (!target) {
      problems.push({
        start: event.start,
        end: event.end,
        code: 'unknown-anchor',
        severity: 'error',
        message: `Alias *${event.name} has no anchor &${event.name} before it; define the anchor first.`,
      });
    } else if (event.start >= target.start && event.start < target.end) {
      problems.push({
        start: event.start,
        end: event.end,
        code: 'recursive-alias',
        severity: 'error',
        message: `Alias *${event.name} is inside the value anchored as &${event.name}; a value cannot contain itself.`,
      });
    } else {
      event.target = target;
    }
    // A new alias (in a block just parsed) has no cached dependants; an old one that moved does.
    if (seenBefore && event.target !== previous) changed = true;
  }
  return changed;
}

/**
 * Bounds what aliases expand to, so an alias bomb costs nothing; returns true when it cut them.
 * The expanded size is the document's own node count plus, for each alias, its target's expanded
 * size less one; only anchored subtrees are walked, so files without aliases pay nothing.
 */
function checkExpansion(root: YNode | null, aliases: YAlias[], nodeCount: number, problems: YamlProblem[]): boolean {
  if (!root || aliases.length === 0) return false;
  const limit = nodeCount + ALIAS_EXPANSION_LIMIT;
  const sizes = new Map<YNode, number>();
  const size = (node: YNode | null, depth: number): number => {
    if (!node) return 0;
    const known = sizes.get(node);
    if (known !== undefined) return known;
    if (depth > 2_000) return Infinity;
    let total = 1;
    if (node.kind === 'alias') total = size(node.target, depth + 1);
    else if (node.kind === 'map')
      for (const pair of node.pairs) total += size(pair.key, depth + 1) + size(pair.value, depth + 1);
    else if (node.kind === 'seq') for (const item of node.items) total += size(item, depth + 1);
    sizes.set(node, total);
    return total;
  };
  let expanded = nodeCount;
  let worst = aliases[0];
  for (const alias of aliases) {
    const added = size(alias.target, 0) - 1;
    if (added > 0) expanded += added;
    if (size(alias.target, 0) > size(worst.target, 0)) worst = alias;
  }
  if (expanded <= limit) return false;
  problems.push({
    start: worst.start,
    end: worst.end,
    code: 'alias-expansion',
    severity: 'error',
    message: `Aliases in this file expand to ${Number.isFinite(expanded) ? expanded.toLocaleString('en-US') : 'an unbounded number of'} values (an alias bomb?); mlpipe stops following aliases above ${limit.toLocaleString('en-US')}. Use fewer nested aliases.`,
  });
  return true;
}
