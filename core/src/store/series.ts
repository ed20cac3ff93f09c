import { basename, dirname, normalize, resolve, sep } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { readStateFile } from '../runs/files';
import { jsonRecord, MetadataError } from '../runs/metadata';
import { Boundary } from '../util/boundary';
import { parseCsv, sniffDelimiter } from '../util/csv';

/** A metric over steps: a loss curve, say. */
export interface Series {
  /** `loss`, or `train.val_loss` for the column val_loss of train.csv. */
  name: string;
  stage: string;
  /** The file it was read from, relative to the pipeline's folder. */
  file: string;
  /** What the steps are: the x column's name, or `step` for row numbers. */
  x: string;
  steps: number[];
  values: number[];
}

/** Plot files larger than this are not read into series (a note says so). */
export const MAX_SERIES_FILE_BYTES = 64 * 1024 * 1024;

/** A run's `series.json` larger than this is not read (it is the plot files' numbers, compacted). */
export const MAX_SERIES_JSON_BYTES = 64 * 1024 * 1024;
/** Points (steps and values) read from one run's `series.json`, over all its series. */
export const MAX_SERIES_POINTS = 4_000_000;
/** Series read from one run's `series.json`. */
export const MAX_SERIES_COUNT = 10_000;
/** Longest name, stage, file or x of a series read back. */
const MAX_SERIES_TEXT = 4096;

function seriesText(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_SERIES_TEXT;
}

/**
 * The series of a run's `series.json`, read back: a file any container or cloned repository may
 * have written. Entries of the wrong shape are left out (names and files must be text, steps and
 * values lists of finite numbers of one length); past MAX_SERIES_COUNT series or MAX_SERIES_POINTS
 * points in all, the rest is left out too. Never throws.
 */
export function parseSeriesFile(text: string): Series[] {
  const data = jsonRecord(text);
  if (!data || !Object.hasOwn(data, 'series')) return [];
  const list = data.series;
  if (!Array.isArray(list)) return [];
  const series: Series[] = [];
  let points = 0;
  for (const entry of list as unknown[]) {
    if (series.length >= MAX_SERIES_COUNT) break;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) continue;
    const { name, stage, file, x, steps, values } = entry as Record<string, unknown>;
    if (!seriesText(name) || !seriesText(stage) || !seriesText(file) || !seriesText(x)) continue;
    if (!Array.isArray(steps) || !Array.isArray(values) || steps.length !== values.length) continue;
    if (points + steps.length > MAX_SERIES_POINTS) break;
    if (!(steps as unknown[]).every(Number.isFinite) || !(values as unknown[]).every(Number.isFinite)) continue;
    points += steps.length;
    series.push({ name, stage, file, x, steps: steps as number[], values: values as number[] });
  }
  return series;
}

function stem(file: string): string {
  return basename(file).replace(/\.[^.]+$/, '');
}

/**
 * How a value from a file is named across runs: `auc` from metrics.json, `eval-test.auc` from
 * metrics/eval-test.json, `loss` for the column loss of loss.csv, `train.val_loss` for the column
 * val_loss of train.csv. The file's folder does not count; the file's name does, so two stages
 * writing `auc` to different files stay apart.
 */
export function valueName(file: string, key: string): string {
  const name = stem(file);
  if (name === 'metrics' || name === key) return key;
  return `${name}.${key}`;
}

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && value.trim() !== '') {
    const number = Number(value);
    return Number.isFinite(number) ? number : undefined;
  }
  if (typeof value === 'boolean') return Number(value);
  return undefined;
}

const STEP_COLUMNS = ['step', 'epoch', 'iteration', 'iter'];

/** Rows as objects, from CSV/TSV (a header row) or JSON/YAML (a list of objects, or columns of lists). */
function rowsOf(path: string, text: string): Record<string, unknown>[] {
  if (/\.(json|ya?ml)$/i.test(path)) {
    const data: unknown = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text);
    const list = Array.isArray(data)
      ? data
      : data && typeof data === 'object'
        ? Object.values(data as object).find(
            (value) =>
              Array.isArray(value) && value.every((item) => item && typeof item === 'object' && !Array.isArray(item)),
          )
        : undefined;
    if (Array.isArray(list))
      return list.filter(
        (row): row is Record<string, unknown> => Boolean(row) && typeof row === 'object' && !Array.isArray(row),
      );
    // Columns: {"epoch": [1, 2], "loss": [0.9, 0.7]}
    if (data && typeof data === 'object') {
      const columns = Object.entries(data as Record<string, unknown>).filter(([, value]) => Array.isArray(value)) as [
        string,
        unknown[],
      ][];
      const length = Math.max(0, ...columns.map(([, values]) => values.length));
      return Array.from({ length }, (_, i) => Object.fromEntries(columns.map(([key, values]) => [key, values[i]])));
    }
    return [];
  }
  const firstLine = text.slice(0, text.indexOf('\n') >>> 0);
  const [header, ...rows] = parseCsv(text, sniffDelimiter(path, firstLine));
  if (!header) return [];
  return rows.map((row) => Object.fromEntries(header.map((column, i) => [column.trim(), row[i]])));
}

/**
 * The series in a plot file: one per y column (the declared ones, else every numeric column but x),
 * with x's values as steps (the declared x, else a step/epoch column, else the row number).
 */
export function readPlotSeries(
  absolute: string,
  file: string,
  stage: string,
  spec: { x?: string; y?: string[] } = {},
): Series[] {
  const text = readPlotFile(absolute, file);
  if (text === undefined) return [];
  const rows = rowsOf(file, text);
  if (rows.length === 0) return [];
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const x = spec.x ?? STEP_COLUMNS.find((name) => columns.includes(name));
  const ys =
    spec.y ?? columns.filter((column) => column !== x && rows.some((row) => toNumber(row[column]) !== undefined));
  const series: Series[] = [];
  for (const y of ys) {
    const steps: number[] = [];
    const values: number[] = [];
    rows.forEach((row, index) => {
      const value = toNumber(row[y]);
      if (value === undefined) return;
      const step = x === undefined ? index : toNumber(row[x]);
      if (step === undefined) return;
      steps.push(step);
      values.push(value);
    });
    if (values.length > 0) series.push({ name: valueName(file, y), stage, file, x: x ?? 'step', steps, values });
  }
  return capPoints(series);
}

/** The first MAX_SERIES_POINTS points of the series in all: what a run's series.json may hold and be read back. */
function capPoints(series: Series[]): Series[] {
  let left = MAX_SERIES_POINTS;
  const kept: Series[] = [];
  for (const one of series) {
    if (left <= 0) break;
    kept.push(
      one.steps.length <= left ? one : { ...one, steps: one.steps.slice(0, left), values: one.values.slice(0, left) },
    );
    left -= one.steps.length;
  }
  return kept;
}

/**
 * A plot file's text, or undefined when it is larger than MAX_SERIES_FILE_BYTES. The file is a
 * stage's output: it is opened without following a link, and proven to lie in the pipeline's
 * folder (`absolute` minus `file`), so a plot that is a link to `~/.ssh/id_rsa` is refused with a
 * BoundaryError instead of becoming numbers in the run's series.
 */
function readPlotFile(absolute: string, file: string): string | undefined {
  const path = resolve(absolute);
  const suffix = normalize(file).replace(/^(\.\/)+/, '');
  const root =
    suffix && !suffix.startsWith('..') && path.endsWith(`${sep}${suffix}`)
      ? path.slice(0, path.length - suffix.length - 1)
      : dirname(path);
  try {
    return readStateFile(new Boundary(root || sep), path, MAX_SERIES_FILE_BYTES);
  } catch (error) {
    // Too large or not a file: no series; a link stays a BoundaryError, said where the run reports it.
    if (error instanceof MetadataError) return undefined;
    throw error;
  }
}

/** Lists of numbers inside a metrics file (`{"loss": [0.9, 0.7, 0.6]}`) are series by position. */
export function metricsFileSeries(data: unknown, file: string, stage: string): Series[] {
  const series: Series[] = [];
  const walk = (value: unknown, path: string[], depth: number) => {
    if (depth > 8 || !value || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      const numbers = value.map(toNumber);
      if (path.length > 0 && value.length > 0 && numbers.every((number) => number !== undefined)) {
        series.push({
          name: valueName(file, path.join('.')),
          stage,
          file,
          x: 'step',
          steps: numbers.map((_, i) => i),
          values: numbers as number[],
        });
      }
      return;
    }
    for (const [key, child] of Object.entries(value)) walk(child, [...path, key], depth + 1);
  };
  walk(data, [], 0);
  return capPoints(series);
}
