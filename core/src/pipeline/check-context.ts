import { type Diagnostic } from '../diagnostics/diagnostic';
import { type ParamsFile, type ParamsIndex } from '../params/params';
import { type YNode, type YScalar } from '../yaml/nodes';
import { type PipelineGraph } from './graph';
import { type PipelineModel } from './model';

/** What the semantic checks need from outside the pipeline text. */
export interface PipelineCheckInput {
  path: string;
  text: string;
  model: PipelineModel;
  graph: PipelineGraph;
  params: ParamsIndex;
  /** The params files as declared, resolved: absent ones have `exists: false`. */
  paramsFiles: (ParamsFile & { raw: string; node: YScalar | null; outside?: boolean })[];
  /** Whether a workspace-relative path exists on disk (relative to the pipeline's folder). */
  exists: (relative: string) => boolean;
  /**
   * Whether an existing path leads out of the pipeline's folder through a symbolic link: the
   * link's name (relative to the folder) when it does. Absent: links are not looked at.
   */
  linkOutside?: (relative: string) => string | undefined;
  /**
   * A version of what `exists` and `linkOutside` answer: while it holds, a stage whose paths were
   * all fine is not asked about again (the editor's edits re-check only the stages they touch).
   * Absent: every path is looked up on every check.
   */
  filesVersion?: number;
}

/** One run of the semantic checks: its input, the findings so far (in the order the rules run), and what rules share. */
export interface PipelineCheck {
  input: PipelineCheckInput;
  out: Diagnostic[];
  /** Host and image nodes checked already: a value given once (in defaults, or through an anchor) is checked once, where it is written. */
  checkedNodes: Set<YNode>;
}

/** One semantic check of a pipeline: it reads the check's input and pushes its findings. */
export type PipelineRule = (check: PipelineCheck) => void;

/** A node's span, at least one character wide. */
export function spanOf(node: { start: number; end: number }): { start: number; end: number } {
  return { start: node.start, end: Math.max(node.end, node.start + 1) };
}

export function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}
