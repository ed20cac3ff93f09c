/**
 * The drift report: what `mlpipe drift --format json` prints (a documented contract, see
 * docs/drift.md), what the HTML export and the webview show. Field names are snake_case because
 * the JSON is the contract; the extra `details` carry what the charts need.
 */

export type DriftMethod = 'ks' | 'chisquare' | 'z' | 'wasserstein' | 'jensenshannon' | 'psi' | 'kl';
export const DRIFT_METHODS: readonly DriftMethod[] = [
  'ks',
  'chisquare',
  'z',
  'wasserstein',
  'jensenshannon',
  'psi',
  'kl',
];
export type ColumnKind = 'num' | 'cat';

/** Numeric histogram over shared bin edges (edges.length = counts.length + 1), as shares of rows. */
export interface HistogramDetail {
  kind: 'histogram';
  edges: number[];
  reference: number[];
  current: number[];
  /** ECDF points for the detail view: x ascending, y in [0, 1]. */
  reference_ecdf: { x: number[]; y: number[] };
  current_ecdf: { x: number[]; y: number[] };
}

/** Category shares on both sides (categories in a stable order: by reference share, then new ones). */
export interface CategoryDetail {
  kind: 'categories';
  categories: string[];
  reference: number[];
  current: number[];
}

export interface ColumnDrift {
  column: string;
  type: ColumnKind;
  method: DriftMethod;
  /** The test statistic (KS D, chi-square, z) or the distance itself. */
  statistic: number;
  /** For tests (ks, chisquare, z): the p-value; null for distances. */
  p_value: number | null;
  /** Evidently's drift score: the p-value for tests, the distance otherwise. */
  score: number;
  /** Tests: drift when p_value < threshold (KS: <=, as Evidently); distances: when score >= threshold. */
  threshold: number;
  drifted: boolean;
  /** Rows with a value (missing values do not count) on each side. */
  reference_rows: number;
  current_rows: number;
  /** Why this method (default rule, or forced with --method). */
  method_reason: string;
  /** Estimates: e.g. quantiles from a sketch beyond the exact-size limit. */
  notes: string[];
  details?: HistogramDetail | CategoryDetail;
}

/** A column that could not be compared (missing on one side, all missing, text), and why. */
export interface SkippedColumn {
  column: string;
  reason: string;
}

export interface DriftReport {
  version: 1;
  /** Whether the share of drifted columns reached `drift_share`. */
  dataset_drift: boolean;
  /** The threshold share of drifted columns (default 0.5). */
  drift_share: number;
  /** Drifted columns / compared columns. */
  share_of_drifted_columns: number;
  number_of_columns: number;
  number_of_drifted_columns: number;
  columns: ColumnDrift[];
  skipped: SkippedColumn[];
  reference: { path: string; rows: number };
  current: { path: string; rows: number };
  /** Report-wide notes (ragged rows skipped, mixed types coerced...). */
  notes: string[];
}

export interface DriftOptions {
  /** Compare only these columns. */
  columns?: string[];
  /** Force a method per column. */
  methods?: Record<string, DriftMethod>;
  /** Threshold per column (overrides the method's default). */
  thresholds?: Record<string, number>;
  /** Default 0.5. */
  driftShare?: number;
  /** Columns to treat as categorical / numeric whatever their inferred type. */
  categorical?: string[];
  numerical?: string[];
  /** Leave the chart details out (smaller JSON). */
  details?: boolean;
  /** Where the two files may be read from (see DriftBoundary); none: anywhere. */
  boundary?: DriftBoundary;
  /** CSV: the field delimiter (absent: detected from each file's header line; .tsv: tab). */
  delimiter?: ',' | ';' | '\t';
  /** CSV: the decimal mark (absent: ".", and with ";" as the delimiter a decimal comma too). */
  decimal?: '.' | ',';
}

/**
 * The workspace boundary of a drift check (docs/drift.md, "Symbolic links"): a path inside `root`
 * that leads outside through a symbolic link is refused. A path outside `root` to begin with is
 * allowed when a person typed it (`outside: 'allow'`, the command line's files, the folder mlpipe
 * runs in) and refused when a file names it (`'refuse'`, a pipeline's monitor.drift, its folder).
 */
export interface DriftBoundary {
  root: string;
  outside: 'allow' | 'refuse';
  /** What the root is, for messages: "the pipeline's folder". */
  what?: string;
}
