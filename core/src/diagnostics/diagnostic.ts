import { type Span } from '../yaml/nodes';

export type Severity = 'error' | 'warning' | 'information' | 'hint';

/** A text edit in some file, by offsets into that file's current text. */
export interface FileEdit {
  path: string;
  start: number;
  end: number;
  newText: string;
  /** The file does not exist yet: create it, then insert. */
  createFile?: boolean;
}

/** A quick fix attached to the diagnostic it repairs. */
export interface Fix {
  title: string;
  edits: FileEdit[];
  preferred?: boolean;
}

export interface RelatedSpan extends Span {
  message: string;
  /** Another file; the diagnostic's own file when absent. */
  path?: string;
}

/** One finding, by offsets into the analysed text. The CLI and the language server both print these. */
export interface Diagnostic extends Span {
  severity: Severity;
  /** Stable identifier, listed in docs/diagnostics.md (`unknown-stage`, `cycle`, ...). */
  code: string;
  message: string;
  related?: RelatedSpan[];
  fixes?: Fix[];
  /** Marks text that is unused or deprecated, when an editor can render that. */
  tags?: ('unnecessary' | 'deprecated')[];
}
