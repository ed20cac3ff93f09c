import { IncrementalYamlParser } from '../yaml/build';
import { type YNode } from '../yaml/nodes';
import { toJS } from '../yaml/values';

/**
 * A Hugging Face model card (`README.md`): YAML front matter between `---` lines at the top, then
 * Markdown. The front matter is read with mlpipe's own YAML parser (YAML 1.2 core schema, no
 * duplicate keys, depth and alias limits) and bounded in size and node count, so a hostile README
 * gives a clear error with its line, never a stack trace or an unbounded parse.
 */

/** A README larger than this is not read: Hub cards are a few kilobytes; the largest are about 200 KB. */
export const MAX_README_BYTES = 4 * 1024 * 1024;
/** Front matter larger than this is refused (the largest real model-index blocks are about 100 KB). */
export const MAX_FRONT_MATTER_CHARS = 1024 * 1024;
/** YAML nodes in the front matter; 100,000 is a model-index of several thousand results. */
export const MAX_FRONT_MATTER_NODES = 100_000;

/** A README or card mlpipe cannot read as a model card; the message names the file and line. The CLI exits 1 with it. */
export class CardFormatError extends Error {}

/** 1-based line and column of an offset. */
function position(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, column: offset - start + 1 };
}

export interface FrontMatter {
  /** The front matter's plain value; an empty object when the README has none. */
  data: Record<string, unknown>;
  /** Whether the README starts with a front matter block. */
  present: boolean;
  /** The Markdown after the front matter. */
  body: string;
  /** The body's first line in the README (1-based), for messages about the body. */
  bodyLine: number;
  /** The front matter's YAML text and tree (offsets into that text), once read within the limits above. */
  yaml?: { text: string; root: YNode | null };
}

/**
 * The front matter block as the Hub's own parser finds it (huggingface_hub's REGEX_YAML_BLOCK,
 * `^(\s*---[\r\n]+)([\S\s]*?)([\r\n]+---(\r\n|\n|$))`), scanned by hand: that expression
 * backtracks quadratically over a long run of line breaks, which a hostile README can hold.
 */
function findBlock(source: string): { yamlStart: number; yamlEnd: number; bodyStart: number } | undefined {
  const open = /^\s*---[\r\n]+/.exec(source);
  if (!open) return undefined;
  const yamlStart = open[0].length;
  const isBreak = (index: number) => source[index] === '\n' || source[index] === '\r';
  for (let at = source.indexOf('---', yamlStart); at !== -1; at = source.indexOf('---', at + 1)) {
    if (at - 1 < yamlStart || !isBreak(at - 1)) continue;
    const after = source.startsWith('\r\n', at + 3)
      ? 2
      : source[at + 3] === '\n'
        ? 1
        : at + 3 === source.length
          ? 0
          : -1;
    if (after === -1) continue;
    let yamlEnd = at - 1;
    while (yamlEnd - 1 >= yamlStart && isBreak(yamlEnd - 1)) yamlEnd--;
    return { yamlStart, yamlEnd, bodyStart: at + 3 + after };
  }
  return undefined;
}

/** Splits a README into front matter and body and parses the front matter; `file` names it in errors. */
export function readFrontMatter(text: string, file: string): FrontMatter {
  if (text.length > MAX_README_BYTES)
    throw new CardFormatError(
      `${file} is ${text.length} characters, more than the ${MAX_README_BYTES} a model card README may have; it was not read.`,
    );
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  // An empty block (`---` right after `---`), which the Hub's expression does not match.
  const empty = /^\s*---\r?\n---(\r?\n|$)/.exec(source);
  if (empty)
    return {
      data: {},
      present: true,
      body: source.slice(empty[0].length),
      bodyLine: position(source, empty[0].length).line,
    };
  const block = findBlock(source);
  if (!block) {
    if (/^\s*---[\r\n]/.test(source))
      throw new CardFormatError(
        `${file}:1: the front matter starts with '---' but has no closing '---' line; end the YAML block with a line that is only '---'.`,
      );
    return { data: {}, present: false, body: source, bodyLine: 1 };
  }
  const { yamlStart, bodyStart } = block;
  const yamlText = source.slice(yamlStart, block.yamlEnd);
  const lineOf = (offset: number) => position(source, offset).line;
  if (yamlText.length > MAX_FRONT_MATTER_CHARS)
    throw new CardFormatError(
      `${file}:${lineOf(yamlStart)}: the front matter is ${yamlText.length} characters, more than ${MAX_FRONT_MATTER_CHARS}; mlpipe does not read it. Move long text into the Markdown body.`,
    );
  const model = new IncrementalYamlParser().parse(yamlText);
  const error = model.problems.find((problem) => problem.severity === 'error');
  if (error) {
    const at = position(source, yamlStart + error.start);
    // PyYAML, which the Hub uses, lets a quoted value go on at the start of the next lines; YAML does not.
    const hint = /Missing closing .?quote/.test(error.message)
      ? ' If the quoted text goes on over several lines, indent those lines under its key (the Hub reads them unindented with PyYAML; YAML does not).'
      : '';
    throw new CardFormatError(
      `${file}:${at.line}:${at.column}: front matter: ${error.message}${hint} Fix the YAML between the '---' lines.`,
    );
  }
  if (model.documentCount > 1)
    throw new CardFormatError(
      `${file}:${lineOf(yamlStart)}: the front matter holds ${model.documentCount} YAML documents; a model card has one.`,
    );
  if (model.nodeCount > MAX_FRONT_MATTER_NODES)
    throw new CardFormatError(
      `${file}:${lineOf(yamlStart)}: the front matter has ${model.nodeCount} YAML nodes, more than ${MAX_FRONT_MATTER_NODES}; mlpipe does not read it.`,
    );
  if (model.aliasesCut)
    throw new CardFormatError(
      `${file}:${lineOf(yamlStart)}: the front matter's aliases expand too far to follow (an alias bomb?); write the values out.`,
    );
  const value = model.root ? toJS(model.root) : null;
  if (value !== null && (typeof value !== 'object' || Array.isArray(value)))
    throw new CardFormatError(
      `${file}:${lineOf(yamlStart)}: the front matter must be a mapping (\`license: mit\` lines), not ${Array.isArray(value) ? 'a list' : 'a single value'}.`,
    );
  return {
    data: (value ?? {}) as Record<string, unknown>,
    present: true,
    body: source.slice(bodyStart),
    bodyLine: lineOf(bodyStart),
    yaml: { text: yamlText, root: model.root },
  };
}
