/**
 * Splits a pipeline's text into blocks that parse independently: one per top-level key, and one
 * per stage under a block-style `stages:`. In valid YAML a column-0 line other than a comment or a
 * `- ` item always starts a new top-level key, and a line at the stages' indentation always starts
 * a new stage, so parsing the blocks one by one gives the same tree as parsing the whole text.
 * A block with a syntax error keeps its error to itself, which is the recovery an editor wants.
 * Anything this scanner does not recognise falls back to one whole-text parse.
 */
export interface TextSlice {
  start: number;
  end: number;
}

export interface StagesSplit {
  /** The `stages` key itself. */
  keyStart: number;
  keyEnd: number;
  /** One slice per stage, in order; comments between stages belong to the stage above. */
  children: TextSlice[];
}

export interface TopSegment extends TextSlice {
  stages?: StagesSplit;
}

export type SegmentPlan = { mode: 'whole' } | { mode: 'segmented'; segments: TopSegment[] };

const HASH = 35; // #
const DASH = 45; // -
const SPACE = 32;
const TAB = 9;
const CR = 13;

/** Characters that make a line something other than a plain `key:` line. */
const NOT_A_KEY_START = new Set('-?:[{&*!|>%@`,]}'.split('').map((c) => c.charCodeAt(0)));

/** One line's shape; a single object reused while scanning, to keep the scan allocation-free. */
class LineCursor {
  start = 0;
  end = 0;
  indent = 0;
  /** First non-space character code, or -1 for a blank line. */
  first = -1;
  private nextStart: number;

  constructor(
    private readonly text: string,
    from: number,
    private readonly to: number,
  ) {
    this.nextStart = from;
  }

  advance(): boolean {
    const text = this.text;
    if (this.nextStart >= this.to) return false;
    const start = this.nextStart;
    let newline = text.indexOf('\n', start);
    if (newline === -1 || newline > this.to) newline = this.to;
    const end = newline > start && text.charCodeAt(newline - 1) === CR ? newline - 1 : newline;
    let indent = 0;
    while (start + indent < end && text.charCodeAt(start + indent) === SPACE) indent++;
    this.start = start;
    this.end = end;
    this.indent = indent;
    this.first = start + indent < end ? text.charCodeAt(start + indent) : -1;
    this.nextStart = newline + 1;
    return true;
  }

  get isBlankOrComment(): boolean {
    return this.first === -1 || this.first === HASH;
  }

  get isSeqItem(): boolean {
    if (this.first !== DASH) return false;
    const after = this.start + this.indent + 1;
    if (after >= this.end) return true;
    const c = this.text.charCodeAt(after);
    return c === SPACE || c === TAB;
  }

  get isDocumentMarker(): boolean {
    if (this.indent !== 0) return false;
    const head = this.text.slice(this.start, this.start + 3);
    if (head !== '---' && head !== '...') return false;
    const c = this.start + 3 < this.end ? this.text.charCodeAt(this.start + 3) : -1;
    return c === -1 || c === SPACE || c === TAB;
  }
}

const STAGES_HEADER = /^stages[ \t]*:[ \t]*(#.*)?$/;

export function planSegments(text: string): SegmentPlan {
  const segments: TopSegment[] = [];
  const line = new LineCursor(text, 0, text.length);
  while (line.advance()) {
    if (line.isBlankOrComment || line.indent > 0) continue;
    if (line.first === TAB) continue; // a tab-indented line: the block's own parse reports it
    if (line.isDocumentMarker || line.first === 37 /* % directive */) return { mode: 'whole' };
    if (line.first === 63 /* ? */ || line.first === 58 /* : */) return { mode: 'whole' };
    if (line.isSeqItem) {
      if (segments.length === 0) return { mode: 'whole' }; // the document is a sequence
      continue; // `key:\n- item` may keep its items at column 0
    }
    if (segments.length === 0 && (line.first === 91 /* [ */ || line.first === 123) /* { */) return { mode: 'whole' };
    if (segments.length > 0) segments[segments.length - 1].end = line.start;
    segments.push({ start: segments.length === 0 ? 0 : line.start, end: text.length });
  }
  if (segments.length === 0) return { mode: 'whole' };
  for (const segment of segments) {
    const stages = splitStages(text, segment);
    if (stages) segment.stages = stages;
  }
  return { mode: 'segmented', segments };
}

function splitStages(text: string, segment: TopSegment): StagesSplit | undefined {
  // The first segment also holds the comments above it; skip to its key line.
  const line = new LineCursor(text, segment.start, segment.end);
  let keyStart = -1;
  while (line.advance()) {
    if (line.isBlankOrComment) continue;
    // Only `stages` can hold the split; look no further into other keys.
    if (text.charCodeAt(line.start) !== 115 /* s */ || !STAGES_HEADER.test(text.slice(line.start, line.end)))
      return undefined;
    keyStart = line.start;
    break;
  }
  if (keyStart === -1) return undefined;
  const children: TextSlice[] = [];
  let childIndent = -1;
  while (line.advance()) {
    if (line.isBlankOrComment || line.first === TAB) continue;
    if (childIndent === -1) {
      if (line.indent === 0 || NOT_A_KEY_START.has(line.first)) return undefined;
      childIndent = line.indent;
    }
    if (line.indent < childIndent) return undefined;
    if (line.indent > childIndent) continue;
    if (NOT_A_KEY_START.has(line.first)) return undefined;
    if (children.length > 0) children[children.length - 1].end = line.start;
    children.push({ start: line.start, end: segment.end });
  }
  if (children.length === 0) return undefined;
  return { keyStart, keyEnd: keyStart + 'stages'.length, children };
}

/**
 * The plan of `text` from the plan of `previous`, when one span changed (`prefix` characters kept
 * at the start, `suffix` at the end) inside the stages of a plan with one split: only the lines of
 * the stages that span touches are scanned again, the blocks after it move by the change in
 * length. `plan` is updated in place and returned; undefined when the change reaches anything
 * else (a top-level line, an indentation below the stages', the last stage), where the caller
 * plans the whole text again.
 */
export function replan(
  plan: SegmentPlan,
  previous: string,
  text: string,
  prefix: number,
  suffix: number,
): SegmentPlan | undefined {
  if (plan.mode !== 'segmented') return undefined;
  let split: StagesSplit | undefined;
  let segmentIndex = -1;
  for (let i = 0; i < plan.segments.length; i++)
    if (plan.segments[i].stages) {
      if (split) return undefined;
      split = plan.segments[i].stages;
      segmentIndex = i;
    }
  if (!split) return undefined;
  if (prefix === previous.length && text.length === previous.length) return plan;
  const children = split.children;
  const oldChangedEnd = previous.length - suffix;
  const delta = text.length - previous.length;
  // The first stage touched: the last one starting at or before the change (its first line is kept).
  let low = 0;
  let high = children.length - 1;
  if (children[0].start > prefix) return undefined;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (children[mid].start <= prefix) low = mid;
    else high = mid - 1;
  }
  const first = low;
  // The last one touched, which must not be the last stage (whose end is the segment's).
  let last = first;
  while (last < children.length && children[last].end < oldChangedEnd) last++;
  if (last >= children.length - 1) return undefined;
  const from = children[first].start;
  const to = children[last].end + delta;
  if (to <= from || text.charCodeAt(to - 1) !== 10 /* \n */) return undefined;
  // The stages' indentation, from the previous text, where the first stage's line was read.
  const childIndent = indentAt(previous, children[0].start);
  const found: TextSlice[] = [];
  const line = new LineCursor(text, from, to);
  while (line.advance()) {
    if (line.isBlankOrComment || line.first === TAB) continue;
    if (line.indent < childIndent) return undefined;
    if (line.indent > childIndent) continue;
    if (NOT_A_KEY_START.has(line.first)) return undefined;
    if (found.length === 0 && line.start !== from) return undefined;
    if (found.length > 0) found[found.length - 1].end = line.start;
    found.push({ start: line.start, end: to });
  }
  if (found.length === 0) return undefined;
  for (let i = last + 1; i < children.length; i++) {
    children[i].start += delta;
    children[i].end += delta;
  }
  children.splice(first, last - first + 1, ...found);
  for (let i = segmentIndex; i < plan.segments.length; i++) {
    const segment = plan.segments[i];
    if (i > segmentIndex) {
      segment.start += delta;
      const stages = segment.stages;
      if (stages) {
        stages.keyStart += delta;
        stages.keyEnd += delta;
      }
    }
    segment.end += delta;
  }
  return plan;
}

function indentAt(text: string, start: number): number {
  let indent = 0;
  while (text.charCodeAt(start + indent) === SPACE) indent++;
  return indent;
}
