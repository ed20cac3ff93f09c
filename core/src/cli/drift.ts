import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { writeFileAtomic } from '../runs/files';
import { Boundary, BoundaryError } from '../util/boundary';
import { computeDrift, DriftCancelled, DriftError } from '../drift/engine';
import { clip, escapeControls } from '../drift/limits';
import { renderDriftHtml } from '../drift/html';
import { monitorTarget, parseMethods, type DriftTarget } from '../drift/monitor';
import { type CsvDialect, parseDecimal, parseDelimiter } from '../drift/read';
import { type DriftOptions, type DriftReport } from '../drift/types';
import { type CliIo } from './io';
import { UsageError } from '../errors';
import { findPipeline } from './pipeline-file';

/** `mlpipe drift`: documented in docs/drift.md. */

export interface DriftCommandOptions {
  reference?: string;
  current?: string;
  pipeline?: string;
  columns?: string[];
  methods: string[];
  driftShare?: number;
  format: 'text' | 'json' | 'html';
  output?: string;
  failOnDrift: boolean;
  details: boolean;
  /** CSV: `--delimiter` as given (",", ";", "\t" or "tab"); absent: detected from each file's header line. */
  delimiter?: string;
  /** CSV: `--decimal` as given ("." or ","); absent: ".", and with ";" as the delimiter a decimal comma too. */
  decimal?: string;
  /** Cancels the check (the reader threads are terminated); the command then exits 130. */
  signal?: AbortSignal;
}

function fixed(value: number | null): string {
  if (value === null) return '-';
  if (value !== 0 && Math.abs(value) < 1e-4) return value.toExponential(2);
  return Number(value.toPrecision(4)).toString();
}

export function headline(report: DriftReport): string {
  const drifted = report.number_of_drifted_columns;
  const total = report.number_of_columns;
  return drifted > 0
    ? `Drift detected in ${drifted} of ${total} column${total === 1 ? '' : 's'}`
    : `No drift: 0 of ${total} column${total === 1 ? '' : 's'} drifted`;
}

export function formatDriftText(report: DriftReport, cwd = process.cwd()): string {
  const shown = (path: string) => (isAbsolute(path) ? relative(cwd, path) || path : path);
  const lines = [
    `${headline(report)}; dataset drift: ${report.dataset_drift ? 'YES' : 'no'} (share ${fixed(report.share_of_drifted_columns)}, threshold ${report.drift_share})`,
    `reference ${shown(report.reference.path)} (${report.reference.rows} rows), current ${shown(report.current.path)} (${report.current.rows} rows)`,
    '',
  ];
  const header = ['COLUMN', 'TYPE', 'METHOD', 'SCORE', 'THRESHOLD', 'DRIFTED'];
  const rows = report.columns.map((column) => [
    clip(column.column),
    column.type,
    column.method,
    fixed(column.score),
    String(column.threshold),
    column.drifted ? 'DRIFT' : 'no',
  ]);
  const widths = header.map((title, index) => Math.max(title.length, ...rows.map((row) => row[index].length)));
  for (const row of [header, ...rows])
    lines.push(row.map((cell, index) => (index === row.length - 1 ? cell : cell.padEnd(widths[index]))).join('  '));
  for (const skipped of report.skipped) lines.push(`skipped ${clip(skipped.column)}: ${skipped.reason}`);
  for (const column of report.columns)
    for (const note of column.notes) lines.push(`note ${clip(column.column)}: ${note}`);
  for (const note of report.notes) lines.push(`note: ${note}`);
  // for a terminal: whatever a file put in a name or a path is shown, never acted on
  return `${lines.map(escapeControls).join('\n')}\n`;
}

/** The built webview bundle the HTML export inlines (dist/webviews beside dist/cli.js). */
export function driftAssets(): { script: string; css: string } {
  for (const dir of [join(__dirname, 'webviews'), join(__dirname, '..', '..', '..', 'dist', 'webviews')]) {
    const script = join(dir, 'drift.js');
    if (existsSync(script))
      return { script: readFileSync(script, 'utf8'), css: readFileSync(join(dir, 'drift.css'), 'utf8') };
  }
  throw new UsageError('the HTML report needs the built webview (dist/webviews/drift.js): run npm run build');
}

/** `--delimiter` and `--decimal`, checked (a UsageError names the option and what it takes). */
export function csvDialect(delimiter: string | undefined, decimal: string | undefined): CsvDialect {
  const dialect: CsvDialect = {};
  if (delimiter !== undefined) {
    const parsed = parseDelimiter(delimiter);
    if (parsed === undefined)
      throw new UsageError(`--delimiter must be ",", ";", "\\t" or tab, not '${clip(delimiter)}'`);
    dialect.delimiter = parsed;
  }
  if (decimal !== undefined) {
    const parsed = parseDecimal(decimal);
    if (parsed === undefined) throw new UsageError(`--decimal must be "." or ",", not '${clip(decimal)}'`);
    dialect.decimal = parsed;
  }
  return dialect;
}

export async function driftCommand(options: DriftCommandOptions, io: CliIo): Promise<number> {
  const dialect = csvDialect(options.delimiter, options.decimal);
  let target: DriftTarget;
  if (options.reference !== undefined || options.current !== undefined) {
    if (options.reference === undefined || options.current === undefined)
      throw new UsageError("drift takes two files, REFERENCE and CURRENT, or none to use the pipeline's monitor.drift");
    // Files typed on the command line: the user's choice even outside this folder, but a path
    // inside it that leads outside through a link is refused (a cloned repository's data/x.csv -> ~/.ssh/...).
    target = {
      reference: resolve(io.cwd, options.reference),
      current: resolve(io.cwd, options.current),
      options: { boundary: { root: io.cwd, outside: 'allow', what: 'the folder mlpipe runs in' } },
      source: 'the command line',
    };
  } else {
    target = monitorTarget(findPipeline(io.cwd, options.pipeline));
  }
  const within = target.options.boundary;
  for (const [role, path] of [
    ['reference', target.reference],
    ['current', target.current],
  ] as const) {
    // a pipeline's path outside its folder is refused by the engine, without a look at whether it exists
    if (within?.outside === 'refuse' && !new Boundary(within.root).contains(path)) continue;
    if (!existsSync(path)) {
      throw new UsageError(
        target.source === 'the command line'
          ? `${escapeControls(relative(io.cwd, path) || path)}: no such file (the ${role} dataset)`
          : `${escapeControls(relative(io.cwd, path) || path)}: no such file (${role} in ${escapeControls(target.source)}); if a stage writes it, run the pipeline first (mlpipe run)`,
      );
    }
  }
  // the CSV dialect rides along with the engine's options to the readers (read.ts ReadOptions)
  const driftOptions: DriftOptions & CsvDialect = {
    ...target.options,
    ...dialect,
    ...(options.columns ? { columns: options.columns } : {}),
    methods: { ...target.options.methods, ...parseMethods(options.methods) },
    ...(options.driftShare !== undefined ? { driftShare: options.driftShare } : {}),
    details: options.format === 'html' || options.details,
    ...(options.signal ? { signal: options.signal } : {}),
  };
  let report: DriftReport;
  try {
    report = await computeDrift(target.reference, target.current, driftOptions);
  } catch (error) {
    if (error instanceof DriftCancelled) throw new UsageError('drift check cancelled', 130);
    if (error instanceof DriftError)
      throw new UsageError(
        error.hint ? `${escapeControls(error.message)}\n${error.hint}` : escapeControls(error.message),
      );
    throw error;
  }
  const text =
    options.format === 'json'
      ? `${JSON.stringify(report, null, 2)}\n`
      : options.format === 'html'
        ? renderDriftHtml(report, driftAssets())
        : formatDriftText(report, io.cwd);
  if (options.output) {
    // Inside this folder the report is written without passing through a link (a committed
    // reports -> ~/.config link is refused); a path outside is the user's own choice.
    const output = resolve(io.cwd, options.output);
    const boundary = new Boundary(io.cwd);
    try {
      writeFileAtomic(output, text, boundary.contains(output) ? boundary : undefined);
    } catch (error) {
      if (error instanceof BoundaryError) throw new UsageError(`--output ${escapeControls(error.message)}`);
      throw error;
    }
    io.stderr(`${headline(report)}; report written to ${options.output}\n`);
  } else {
    io.stdout(text);
  }
  return options.failOnDrift && report.dataset_drift ? 1 : 0;
}
