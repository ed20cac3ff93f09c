import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  parseAllDocuments,
  parseDocument,
  type Document,
  type Node as LibNode,
  type ParsedNode,
} from 'yaml';
import { detached } from '../util/strings';
import { checkDuplicates } from './duplicates';
import { walk, type ScalarStyle, type Span, type YAlias, type YMap, type YNode, type YPair } from './nodes';
import { type YamlProblem } from './problems';

export type { YamlProblem, YamlProblemCode } from './problems';

/** Deeper nesting than this is cut off; `yaml` itself overflows its stack near 1,000 levels. */
export const MAX_DEPTH = 100;
/** Syntax errors reported per parsed block; past this the rest of the block is noise. */
const MAX_SYNTAX_ERRORS = 20;

const PARSE_OPTIONS = {
  version: '1.2',
  schema: 'core',
  merge: false, // `<<` stays a plain key; mlpipe resolves merges itself (see values.ts)
  uniqueKeys: false, // duplicates are found once, in build.ts, for whole-file and per-block parses alike
  prettyErrors: false,
  intAsBigInt: false,
} as const;

/** What one parse of one slice of text produced, with offsets already absolute. */
export interface ParsedSlice {
  length: number;
  base: number;
  /** The slice's mapping; its pairs become pairs of the enclosing mapping. */
  map: YMap | null;
  problems: YamlProblem[];
  /** Anchored nodes and aliases, in source order, for document-wide alias resolution. */
  anchors: YNode[];
  aliases: YAlias[];
  nodeCount: number;
  /** Set once the block is used as a stage (its names are counted for duplicates). */
  stage?: boolean;
  /** Anchored nodes and aliases outside `map` (in a block that failed to parse as a mapping): moved with the slice too. */
  detached?: YNode[];
}

const STYLES: Record<string, ScalarStyle> = {
  PLAIN: 'plain',
  QUOTE_SINGLE: 'single',
  QUOTE_DOUBLE: 'double',
  BLOCK_LITERAL: 'block-literal',
  BLOCK_FOLDED: 'block-folded',
};

class Converter {
  readonly problems: YamlProblem[] = [];
  readonly anchors: YNode[] = [];
  readonly aliases: YAlias[] = [];
  nodeCount = 0;
  private tooDeepReported = false;

  constructor(private readonly base: number) {}

  node(node: LibNode | null | undefined, depth: number): YNode | null {
    if (!node) return null;
    const range = (node as ParsedNode).range ?? [0, 0, 0];
    const start = this.base + range[0];
    const end = this.base + range[1];
    if (depth > MAX_DEPTH) {
      if (!this.tooDeepReported) {
        this.tooDeepReported = true;
        this.problems.push({
          start,
          end: start + 1,
          code: 'too-deep',
          severity: 'error',
          message: `Nesting deeper than ${MAX_DEPTH} levels is not analysed; flatten this value.`,
        });
      }
      return { kind: 'scalar', start, end, value: null, style: 'plain' };
    }
    this.nodeCount++;
    let result: YNode;
    if (isScalar(node)) {
      const value = node.value;
      const scalar =
        value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
          ? value
          : String(value);
      result = { kind: 'scalar', start, end, value: scalar, style: STYLES[node.type ?? 'PLAIN'] ?? 'plain' };
    } else if (isMap(node)) {
      const pairs: YPair[] = [];
      for (const item of node.items) {
        if (!isPair(item)) continue;
        const key = this.node(item.key as LibNode | null, depth + 1);
        let value = this.node(item.value as LibNode | null, depth + 1);
        const keyNode: YNode = key ?? {
          kind: 'scalar',
          start: value?.start ?? start,
          end: value?.start ?? start,
          value: null,
          style: 'plain',
        };
        const valueStart = value ? value.start : keyNode.end;
        // `key:` with nothing after it parses as an empty plain scalar; model it as "no value".
        if (value?.kind === 'scalar' && value.value === null && value.start === value.end) value = null;
        pairs.push({
          key: keyNode,
          keyText: keyText(keyNode, item.key as LibNode | null),
          value,
          start: keyNode.start,
          end: value ? Math.max(value.end, keyNode.end) : keyNode.end,
          valueStart,
        });
      }
      result = { kind: 'map', start, end, pairs, flow: Boolean(node.flow) };
    } else if (isSeq(node)) {
      const items: YNode[] = [];
      for (const item of node.items) {
        const converted = this.node(item as LibNode | null, depth + 1);
        if (converted) items.push(converted);
      }
      result = { kind: 'seq', start, end, items, flow: Boolean(node.flow) };
    } else if (isAlias(node)) {
      const alias: YAlias = { kind: 'alias', start, end, name: node.source, target: null };
      this.aliases.push(alias);
      result = alias;
    } else {
      return null;
    }
    if (node.tag && !isAlias(node)) result.tag = node.tag;
    if ('anchor' in node && typeof node.anchor === 'string' && node.anchor) {
      result.anchor = node.anchor;
      this.anchors.push(result);
    }
    return result;
  }
}

function keyText(key: YNode, source: LibNode | null): string {
  if (key.kind === 'scalar') return key.value === null ? '' : String(key.value);
  return source ? String(source) : '';
}

function libProblems(doc: Document.Parsed, source: string, base: number, into: YamlProblem[]): void {
  let count = 0;
  for (const error of doc.errors) {
    if (count++ === MAX_SYNTAX_ERRORS) {
      into.push({
        start: base + error.pos[0],
        end: base + error.pos[1],
        code: 'yaml-syntax',
        severity: 'error',
        message: `${doc.errors.length - MAX_SYNTAX_ERRORS} more YAML syntax errors follow in this block; fix the first ones.`,
      });
      break;
    }
    if (/call stack/i.test(error.message)) {
      // The parser ran out of stack inside some deep nesting: say that, not the engine's words.
      into.push({
        start: base + error.pos[0],
        end: base + error.pos[1],
        code: 'too-deep',
        severity: 'error',
        message: `Nesting too deep for the YAML parser; flatten this value (mlpipe analyses ${MAX_DEPTH} levels).`,
      });
      continue;
    }
    into.push({
      ...locateError(source, error.message, error.pos),
      code: 'yaml-syntax',
      severity: 'error',
      message: sentence(error.message),
    });
    const last = into[into.length - 1];
    last.start += base;
    last.end += base;
  }
  for (const warning of doc.warnings) {
    into.push({
      start: base + warning.pos[0],
      end: base + warning.pos[1],
      code: 'yaml-warning',
      severity: 'warning',
      message: sentence(warning.message),
    });
  }
}

/**
 * `yaml` reports an unclosed quote where it gave up, often the next line; the opening quote is
 * where the mistake is, so point there (to the end of that line).
 */
function locateError(source: string, message: string, pos: [number, number]): { start: number; end: number } {
  const quote = /^Missing closing (["'])quote/.exec(message);
  if (!quote) return { start: pos[0], end: pos[1] };
  const opening = source.lastIndexOf(quote[1], Math.max(0, pos[0] - 1));
  if (opening === -1) return { start: pos[0], end: pos[1] };
  const lineEnd = source.indexOf('\n', opening);
  return { start: opening, end: lineEnd === -1 ? source.length : lineEnd };
}

function sentence(message: string): string {
  const line = message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
  return /[.!?]$/.test(line) ? line : `${line}.`;
}

/** Parses one block of a file (a top-level key or a stage) into the pairs of a mapping. */
/**
 * Runs `parse` with `process.env` as a plain copy of itself. The `yaml` package reads
 * `process.env.LOG_TOKENS` for every token it lexes and `LOG_STREAM` for every token it composes,
 * and each read of Node's environment object is a call into C++ (about 130 ns): at 10,000 stages
 * that was about 190 ms of opening the file. The copy holds the same values, and the real object
 * is back before anything else runs (the parse is synchronous).
 */
export function withPlainEnv<T>(parse: () => T): T {
  const env = process.env;
  process.env = { ...env };
  try {
    return parse();
  } finally {
    process.env = env;
  }
}

export function parseMappingSlice(text: string, start: number, end: number, expect: string): ParsedSlice {
  const slice = detached(text.slice(start, end));
  const doc = parseDocument(slice, PARSE_OPTIONS);
  const converter = new Converter(start);
  libProblems(doc, slice, start, converter.problems);
  const contents = converter.node(doc.contents as LibNode | null, 0);
  const map = contents?.kind === 'map' && !contents.flow ? contents : null;
  if (map) checkDuplicates(map, converter.problems, false);
  if (!map && contents && doc.errors.length === 0) {
    converter.problems.push({
      start: contents.start,
      end: Math.max(contents.end, contents.start + 1),
      code: 'not-a-mapping',
      severity: 'error',
      message: `Expected ${expect} (\`name: value\`) here.`,
    });
  }
  let detachedNodes: YNode[] | undefined;
  if (converter.anchors.length + converter.aliases.length > 0) {
    const inMap = new Set<YNode>();
    if (map) walk(map, (node) => inMap.add(node));
    detachedNodes = [...converter.anchors, ...converter.aliases].filter((node) => !inMap.has(node));
  }
  return {
    length: slice.length,
    base: start,
    map,
    problems: converter.problems,
    anchors: converter.anchors,
    aliases: converter.aliases,
    nodeCount: converter.nodeCount,
    detached: detachedNodes && detachedNodes.length > 0 ? detachedNodes : undefined,
  };
}

export interface WholeParse {
  root: YNode | null;
  problems: YamlProblem[];
  anchors: YNode[];
  aliases: YAlias[];
  nodeCount: number;
  documentCount: number;
  /** Index of the document mlpipe reads, and the spans of the ones it ignores. */
  chosen: number;
  ignored: Span[];
}

/** Parses the whole text, for files the block scanner does not handle (several documents, say). */
export function parseWhole(text: string, choose: (roots: (YNode | null)[]) => number): WholeParse {
  const docs = parseAllDocuments(text, PARSE_OPTIONS);
  const list: Document.Parsed[] = [...docs];
  const problems: YamlProblem[] = [];
  if ('errors' in docs) {
    // A stream with no documents: its errors (a stray `]`, say) live on the stream itself.
    for (const error of docs.errors)
      problems.push({
        start: error.pos[0],
        end: error.pos[1],
        code: 'yaml-syntax',
        severity: 'error',
        message: sentence(error.message),
      });
  }
  const converters = list.map(() => new Converter(0));
  const roots = list.map((doc, i) => {
    libProblems(doc, text, 0, problems);
    return converters[i].node(doc.contents as LibNode | null, 0);
  });
  const chosen = roots.length === 0 ? 0 : Math.max(0, Math.min(roots.length - 1, choose(roots)));
  const converter = converters[chosen] ?? new Converter(0);
  for (const other of converters) if (other !== converter) problems.push(...other.problems);
  return {
    root: roots[chosen] ?? null,
    problems: [...problems, ...converter.problems],
    anchors: converter.anchors,
    aliases: converter.aliases,
    nodeCount: converter.nodeCount,
    documentCount: list.length,
    chosen,
    ignored: list.filter((_, i) => i !== chosen).map((doc) => ({ start: doc.range[0], end: doc.range[1] })),
  };
}
