import { join, relative } from 'node:path';
import { isRunId } from '../runs/metadata';
import { collectGarbage } from '../store/gc';
import { fieldName, parseSort, QueryError, fieldValue, type Field } from '../store/query';
import { ExperimentStore, StoreError, type StoredRun } from '../store/store';
import { flattenParams } from '../util/flatten';
import { MAX_CELL, MAX_VALUE, terminalJson, terminalText } from './format';
import { type CliIo } from './io';
import { UsageError } from '../errors';
import { describeFlush, sendRuns, trackingTarget } from '../tracking/sync';
import { listExperiments, listRunsIn, MlflowError, type TrackedRunRow } from '../tracking/mlflow';
import { redactText } from '../tracking/transfer';
// Runs whose artifacts the server keeps in S3 are written with the remote cache's S3 client (ADR 0018).
import '../remote/mlflow-s3';
import { findPipeline } from './pipeline-file';
import { mlpipeRootOf } from '../runs/records';
import { tagRun } from '../approval/candidate';

/**
 * `mlpipe runs ...`: the experiment store from the terminal. Documented in docs/experiments.md.
 * Everything printed as text that came from the store (ids, names, params, metrics, tags, notes,
 * errors) goes through `terminalText`: the index and the records are input anyone may have written.
 */

export interface RunsListOptions {
  filter?: string;
  sort?: string;
  group?: 'pipeline' | 'commit';
  columns?: string;
  limit?: number;
  format: 'text' | 'json';
}

export function openStore(cwd: string, pipeline: string | undefined): ExperimentStore {
  const root = mlpipeRootOf(findPipeline(cwd, pipeline));
  return storeCall(() => ExperimentStore.open(root));
}

function storeCall<T>(action: () => T): T {
  try {
    return action();
  } catch (error) {
    if (error instanceof QueryError) throw new UsageError(`bad expression:\n${error.pointer('  ')}`);
    if (error instanceof StoreError) throw new UsageError(terminalText(error.message, MAX_VALUE), 1);
    throw error;
  }
}

/** A value from the store as one line of terminal text, at most `max` characters. */
function safe(value: unknown, max = MAX_VALUE): string {
  return terminalText(show(value), max);
}

function tagsText(tags: Record<string, string>, separator: string, max: number): string {
  return terminalText(
    Object.entries(tags)
      .map(([key, value]) => (value ? `${key}=${value}` : key))
      .join(separator),
    max,
  );
}

/** What `runs list` warns about before the runs: lines it skipped, an index it could not read. */
function storeWarnings(store: ExperimentStore, io: CliIo): void {
  if (store.problem) io.stderr(`warning: ${terminalText(store.problem, MAX_VALUE)}\n`);
  if (store.damaged > 0)
    io.stderr(
      `warning: ${store.damaged} unreadable line${store.damaged === 1 ? '' : 's'} in ${terminalText(relative(io.cwd, store.indexPath) || store.indexPath)} (a write cut short, or not an index line); mlpipe runs reindex rebuilds it\n`,
    );
}

/** A run as `--format json` gives it: a documented, versioned shape (docs/experiments.md). */
export function runJson(run: StoredRun): Record<string, unknown> {
  const s = run.summary;
  return {
    id: s.id,
    name: s.name ?? null,
    pipeline: s.pipeline,
    status: run.status,
    started: s.started,
    ended: s.ended ?? null,
    duration_s: s.durationMs === undefined ? null : s.durationMs / 1000,
    commit: s.commit ?? null,
    dirty: s.dirty ?? null,
    params: s.params,
    metrics: s.metrics,
    tags: run.tags,
    note: run.note ?? null,
    stages: s.stages,
    series: s.series,
  };
}

function parseField(text: string): Field {
  const [key] = parseSort(text);
  return key.field;
}

function show(value: unknown): string {
  if (value === undefined || value === null) return '-';
  if (typeof value === 'number')
    return Number.isInteger(value) ? String(value) : Number(value.toPrecision(4)).toString();
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

function duration(ms: number | undefined): string {
  if (ms === undefined) return '-';
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.round((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** Default columns: the metrics most runs have (up to 4) and the params that differ between the runs (up to 4). */
function defaultColumns(runs: StoredRun[]): Field[] {
  const metricCounts = new Map<string, number>();
  for (const run of runs)
    for (const key of Object.keys(run.metrics)) metricCounts.set(key, (metricCounts.get(key) ?? 0) + 1);
  const metrics = [...metricCounts]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, 4)
    .map(([key]) => ({ namespace: 'metrics' as const, key }));
  const values = new Map<string, Set<string>>();
  for (const run of runs)
    for (const [key, value] of Object.entries(flattenParams(run.params)))
      (values.get(key) ?? values.set(key, new Set()).get(key)!).add(JSON.stringify(value));
  const params = [...values]
    .filter(([, seen]) => seen.size > 1)
    .map(([key]) => ({ namespace: 'params' as const, key }))
    .slice(0, 4);
  return [...params, ...metrics];
}

function cell(run: StoredRun, field: Field): string {
  if (field.namespace === 'params') {
    const flat = flattenParams(run.params);
    return safe(
      Object.hasOwn(flat, field.key) ? (flat[field.key] ?? fieldValue(run, field)) : fieldValue(run, field),
      MAX_CELL,
    );
  }
  return safe(fieldValue(run, field), MAX_CELL);
}

export function runsList(options: RunsListOptions, store: ExperimentStore, io: CliIo): number {
  const runs = storeCall(() => store.query({ filter: options.filter, sort: options.sort, limit: options.limit }));
  const groupOf = (run: StoredRun) =>
    options.group === 'commit'
      ? run.summary.commit
        ? `${run.summary.commit.slice(0, 10)}${run.summary.dirty ? ' (dirty)' : ''}`
        : '(no commit)'
      : (run.summary.name ?? run.summary.pipeline);
  const groups = new Map<string, StoredRun[]>();
  for (const run of runs) {
    const key = options.group ? groupOf(run) : '';
    (groups.get(key) ?? groups.set(key, []).get(key)!).push(run);
  }
  storeWarnings(store, io);
  if (options.format === 'json') {
    io.stdout(
      `${terminalJson({ version: 1, count: runs.length, total: store.size, runs: runs.map(runJson), ...(options.group ? { groups: [...groups].map(([key, members]) => ({ key, runs: members.map((run) => run.summary.id) })) } : {}) })}\n`,
    );
    return 0;
  }
  if (runs.length === 0) {
    io.stdout(store.size === 0 ? 'no runs yet: mlpipe run starts one\n' : `no run matches (of ${store.size})\n`);
    return 0;
  }
  const columns = options.columns
    ? storeCall(() =>
        options
          .columns!.split(',')
          .filter((text) => text.trim())
          .map(parseField),
      )
    : defaultColumns(runs);
  const header = [
    'ID',
    'STATUS',
    'STARTED',
    'DURATION',
    ...columns.map((field) => terminalText(fieldName(field), MAX_CELL)),
    'TAGS',
  ];
  const out: string[] = [];
  for (const [key, members] of groups) {
    if (options.group)
      out.push(
        `${options.group} ${terminalText(key, MAX_VALUE)}: ${members.length} run${members.length === 1 ? '' : 's'}\n`,
      );
    const rows = members.map((run) => [
      terminalText(run.summary.id),
      run.status,
      terminalText(run.summary.started.replace('T', ' ').slice(0, 19)),
      duration(run.summary.durationMs),
      ...columns.map((field) => cell(run, field)),
      tagsText(run.tags, ',', MAX_CELL),
    ]);
    out.push(table(header, rows));
  }
  io.stdout(out.join('\n'));
  if (options.limit !== undefined && runs.length === options.limit)
    io.stderr(`(first ${options.limit}; --limit changes it)\n`);
  return 0;
}

export function runsShow(id: string, format: 'text' | 'json', store: ExperimentStore, io: CliIo): number {
  const run = storeCall(() => store.resolve(id));
  const record = store.fullRecord(run.summary.id);
  const series = store.series(run.summary.id);
  if (format === 'json') {
    io.stdout(
      `${terminalJson({ version: 1, run: runJson(run), record: record ?? null, series: series.map((one) => ({ name: one.name, stage: one.stage, file: one.file, x: one.x, points: one.steps.length, last: one.values.at(-1) ?? null })) })}\n`,
    );
    return 0;
  }
  const s = run.summary;
  const lines = [
    `run ${terminalText(s.id)}  ${run.status}`,
    `  pipeline  ${safe(s.name ? `${s.name} (${s.pipeline})` : s.pipeline)}`,
    `  started   ${safe(s.started, MAX_CELL)}${s.ended ? `, ended ${safe(s.ended, MAX_CELL)} (${duration(s.durationMs)})` : ''}`,
    ...(s.commit ? [`  commit    ${safe(s.commit, MAX_CELL)}${s.dirty ? ' (uncommitted changes)' : ''}`] : []),
    ...(s.host ? [`  machine   ${safe(s.host)}`] : []),
    ...(s.error ? [`  error     ${safe(s.error)}`] : []),
    ...(run.note ? [`  note      ${safe(run.note)}`] : []),
    ...(Object.keys(run.tags).length > 0 ? [`  tags      ${tagsText(run.tags, ', ', MAX_VALUE)}`] : []),
  ];
  if (record && Array.isArray(record.stages)) {
    lines.push('', 'stages:');
    lines.push(
      table(
        ['  STAGE', 'STATUS', 'EXIT', 'DURATION', 'REASON'],
        record.stages.map((stage) => [
          `  ${safe(stage.name, MAX_CELL)}`,
          safe(stage.status, MAX_CELL),
          stage.exitCode === undefined ? '-' : safe(stage.exitCode, MAX_CELL),
          duration(
            typeof stage.started === 'string' && typeof stage.ended === 'string'
              ? Date.parse(stage.ended) - Date.parse(stage.started)
              : undefined,
          ),
          safe(stage.reason ?? stage.error ?? ''),
        ]),
      ).trimEnd(),
    );
  }
  const params = flattenParams(s.params);
  if (Object.keys(params).length > 0)
    lines.push(
      '',
      'params:',
      ...Object.entries(params).map(([key, value]) => `  ${terminalText(key, MAX_VALUE)} = ${safe(value)}`),
    );
  if (Object.keys(s.metrics).length > 0)
    lines.push(
      '',
      'metrics:',
      ...Object.entries(s.metrics).map(([key, value]) => `  ${terminalText(key, MAX_VALUE)} = ${safe(value)}`),
    );
  if (series.length > 0)
    lines.push(
      '',
      'series:',
      ...series.map(
        (one) =>
          `  ${terminalText(one.name, MAX_VALUE)}  ${one.steps.length} points over ${terminalText(one.x, MAX_CELL)}, last ${safe(one.values.at(-1))}  (${terminalText(one.stage, MAX_CELL)}: ${terminalText(one.file, MAX_VALUE)})`,
      ),
    );
  // Only a run id names a folder (an index may hold other ids; they have no logs).
  if (isRunId(s.id))
    lines.push('', `logs: ${terminalText(relative(io.cwd, join(store.dir.runs, s.id, 'logs')) || '.')}`);
  io.stdout(`${lines.join('\n')}\n`);
  return 0;
}

export function runsCompare(
  ids: string[],
  options: { all: boolean; format: 'text' | 'json' },
  store: ExperimentStore,
  io: CliIo,
): number {
  if (ids.length < 2) throw new UsageError('compare needs at least two run ids (mlpipe runs list shows them)');
  const runs = storeCall(() => ids.map((id) => store.resolve(id)));
  const params = runs.map((run) => flattenParams(run.params));
  const rows: { kind: 'param' | 'metric'; key: string; values: unknown[]; differs: boolean }[] = [];
  const add = (kind: 'param' | 'metric', sources: Record<string, unknown>[]) => {
    const keys = [...new Set(sources.flatMap((source) => Object.keys(source)))].sort();
    for (const key of keys) {
      const values = sources.map((source) => source[key]);
      const differs = new Set(values.map((value) => JSON.stringify(value ?? null))).size > 1;
      rows.push({ kind, key, values, differs });
    }
  };
  add('param', params);
  add(
    'metric',
    runs.map((run) => run.metrics),
  );
  if (options.format === 'json') {
    io.stdout(
      `${terminalJson({ version: 1, runs: runs.map((run) => run.summary.id), rows: rows.filter((row) => options.all || row.differs || row.kind === 'metric') })}\n`,
    );
    return 0;
  }
  const shown = rows.filter((row) => options.all || row.differs || row.kind === 'metric');
  const header = ['', ...runs.map((run) => terminalText(run.summary.id))];
  const body = shown.map((row) => {
    const first = row.values[0];
    return [
      `${row.differs ? '*' : ' '} ${row.kind === 'param' ? 'params' : 'metrics'}.${terminalText(row.key, MAX_CELL)}`,
      ...row.values.map((value, index) => {
        const delta =
          index > 0 && typeof value === 'number' && typeof first === 'number' && value !== first
            ? ` (${value > first ? '+' : ''}${show(value - first)})`
            : '';
        return `${safe(value, MAX_CELL)}${delta}`;
      }),
    ];
  });
  const hidden = rows.length - shown.length;
  io.stdout(
    `${table(header, body)}${hidden > 0 ? `(${hidden} identical param${hidden === 1 ? '' : 's'} hidden; --all shows them)\n` : ''}* differs between the runs; (+/-) is the change from the first run\n`,
  );
  return 0;
}

export function runsTag(id: string, pairs: string[], remove: string[], store: ExperimentStore, io: CliIo): number {
  if (pairs.length === 0 && remove.length === 0)
    throw new UsageError('tag needs KEY=VALUE (or KEY) pairs, or --remove KEY');
  const set: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    if (!/^[A-Za-z0-9_.\-/@]+$/.test(key))
      throw new UsageError(`'${key}' is not a tag name: letters, digits and _ . - / @ only`);
    // Defined, not assigned: a tag named __proto__ is a tag like any other.
    Object.defineProperty(set, key, {
      value: eq < 0 ? '' : pair.slice(eq + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  // The candidate rule (one per pipeline) is core's, as in VS Code.
  const change = storeCall(() => tagRun(store, id, set, remove));
  const run = store.resolve(change.id);
  io.stderr(`run ${terminalText(run.summary.id)} tags: ${tagsText(run.tags, ', ', MAX_VALUE) || '(none)'}\n`);
  if (change.uncandidated.length > 0)
    io.stderr(
      `run ${terminalText(run.summary.id)} is now the model candidate of ${terminalText(change.pipeline, MAX_VALUE)}, instead of ${terminalText(change.uncandidated.join(', '), MAX_VALUE)}\n`,
    );
  return 0;
}

export function runsNote(id: string, note: string, store: ExperimentStore, io: CliIo): number {
  storeCall(() => store.setNote(id, note));
  io.stderr(`run ${terminalText(store.resolve(id).summary.id)}: note saved\n`);
  return 0;
}

export function runsDelete(ids: string[], store: ExperimentStore, io: CliIo): number {
  if (ids.length === 0) throw new UsageError('delete needs the ids of the runs to delete');
  const deleted = storeCall(() => store.delete(ids));
  io.stderr(
    `deleted ${deleted.length} run${deleted.length === 1 ? '' : 's'}: ${terminalText(deleted.join(', '), MAX_VALUE)}; their cached outputs go with mlpipe runs gc\n`,
  );
  return 0;
}

export function runsGc(
  options: { keep?: number; olderThanDays?: number; dryRun: boolean; format: 'text' | 'json' },
  store: ExperimentStore,
  io: CliIo,
): number {
  const report = storeCall(() => collectGarbage(store, options));
  if (options.format === 'json') {
    io.stdout(`${terminalJson({ version: 1, ...report })}\n`);
    return 0;
  }
  const mb = (report.freedBytes / 1048576).toFixed(1);
  const lines = [
    `${report.dryRun ? 'would remove' : 'removed'} ${report.removedObjects} cached file${report.removedObjects === 1 ? '' : 's'} (${mb} MB) of ${report.collectedRuns.length} old run${report.collectedRuns.length === 1 ? '' : 's'}; their records, metrics and logs stay`,
    ...report.protectedRuns.map(
      (run) => `  kept ${terminalText(run.id, MAX_CELL)}: ${terminalText(run.why, MAX_VALUE)}`,
    ),
  ];
  io.stdout(`${lines.join('\n')}\n`);
  return 0;
}

/** `mlpipe runs sync`: sends the queued runs (with --all, every run) to MLFLOW_TRACKING_URI now. */
export async function runsSync(all: boolean, store: ExperimentStore, io: CliIo): Promise<number> {
  const { target, problem } = trackingTarget(undefined);
  if (!target)
    throw new UsageError(
      problem ?? 'no tracking server: set MLFLOW_TRACKING_URI (http://host:5000) to log runs to MLflow',
      2,
    );
  const ids = all ? store.runs().map((run) => run.summary.id) : [];
  const result = await sendRuns(store.root, target, ids, { force: true });
  io.stderr(`${describeFlush(result, target.uri)}\n`);
  return result.failed.length === 0 && !result.busy ? 0 : 1;
}

export function runsReindex(store: ExperimentStore, io: CliIo): number {
  const count = storeCall(() => store.rebuild());
  const skipped =
    store.skippedRecords > 0
      ? `; left out ${store.skippedRecords} run.json file${store.skippedRecords === 1 ? '' : 's'} that ${store.skippedRecords === 1 ? 'is' : 'are'} not a valid run record`
      : '';
  io.stderr(
    `rebuilt the index of ${count} run${count === 1 ? '' : 's'} from ${terminalText(store.dir.runs)}${skipped}\n`,
  );
  return 0;
}

export interface ServerRunsOptions {
  /** One experiment by name; every active experiment of the server when absent. */
  experiment?: string;
  /** MLflow's search filter, passed to the server as MLflow's own clients pass it. */
  filter?: string;
  limit?: number;
  format: 'text' | 'json';
}

/**
 * `mlpipe runs list --server [--experiment NAME]`: the runs of MLFLOW_TRACKING_URI's server,
 * whoever logged them (mlpipe, MLflow's Python client, autolog), newest first. Everything the
 * server says is shown through `terminalText`: it is input like any other.
 */
export async function runsListServer(options: ServerRunsOptions, io: CliIo): Promise<number> {
  const { target, problem } = trackingTarget(undefined);
  if (!target)
    throw new UsageError(
      problem ?? 'runs list --server needs a tracking server: set MLFLOW_TRACKING_URI (http://host:5000)',
      2,
    );
  const { client } = target;
  const limit = options.limit ?? 100;
  let experiments: { experimentId: string; name: string }[];
  let truncated = false;
  let rows: TrackedRunRow[];
  try {
    if (options.experiment !== undefined) {
      const found = await client.getExperimentByName(options.experiment);
      if (!found || found.lifecycleStage === 'deleted') {
        const names = (await listExperiments(client)).experiments.map((one) => one.name);
        throw new UsageError(
          terminalText(
            `MLflow at ${target.uri} has no experiment '${options.experiment}'${names.length ? `; it has: ${names.slice(0, 20).join(', ')}${names.length > 20 ? ', ...' : ''}` : ''}`,
            MAX_VALUE,
          ),
          1,
        );
      }
      experiments = [{ experimentId: found.experimentId, name: found.name }];
    } else {
      ({ experiments, truncated } = await listExperiments(client));
    }
    rows = await listRunsIn(
      client,
      experiments.map((one) => one.experimentId),
      { ...(options.filter ? { filter: options.filter } : {}), maxResults: limit },
    );
  } catch (error) {
    if (error instanceof MlflowError) {
      const advice =
        error.errorCode === 'INVALID_PARAMETER_VALUE' && options.filter
          ? `; --filter with --server is MLflow's search syntax: metrics.auc > 0.8 and params.lr = '0.1' and tags.team = 'vision'`
          : '';
      throw new UsageError(terminalText(`${redactText(error.message)}${advice}`, MAX_VALUE), 1);
    }
    throw error;
  }
  const experimentName = new Map(experiments.map((one) => [one.experimentId, one.name]));
  if (truncated)
    io.stderr(`warning: the server has more than ${experiments.length} experiments; only their runs are listed\n`);
  if (options.format === 'json') {
    io.stdout(
      `${terminalJson({
        version: 1,
        server: target.uri,
        count: rows.length,
        runs: rows.map((row) => ({
          experiment: experimentName.get(row.experimentId) ?? null,
          experiment_id: row.experimentId,
          run_id: row.runId,
          mlpipe_run_id: row.mlpipeRunId ?? null,
          name: row.name,
          status: row.status,
          started: row.startTime ?? null,
          ended: row.endTime ?? null,
          params: row.params,
          metrics: row.metrics,
          tags: row.tags,
        })),
      })}\n`,
    );
    return 0;
  }
  if (rows.length === 0) {
    io.stdout(
      `no runs in ${options.experiment !== undefined ? `experiment ${terminalText(options.experiment, MAX_CELL)}` : `the ${experiments.length} experiment${experiments.length === 1 ? '' : 's'}`} of ${terminalText(target.uri)}${options.filter ? ' that match' : ''}\n`,
    );
    return 0;
  }
  // The metrics most runs have and the params that differ, up to 4 each, as for the workspace's runs.
  const counts = new Map<string, number>();
  for (const row of rows) for (const key of Object.keys(row.metrics)) counts.set(key, (counts.get(key) ?? 0) + 1);
  const metrics = [...counts]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, 4)
    .map(([key]) => key);
  const values = new Map<string, Set<string>>();
  for (const row of rows)
    for (const [key, value] of Object.entries(row.params))
      (values.get(key) ?? values.set(key, new Set()).get(key)!).add(value);
  const params = [...values]
    .filter(([, seen]) => seen.size > 1 || rows.length === 1)
    .map(([key]) => key)
    .slice(0, 4);
  const header = [
    'RUN',
    'EXPERIMENT',
    'NAME',
    'STATUS',
    'STARTED',
    ...params.map((key) => terminalText(`params.${key}`, MAX_CELL)),
    ...metrics.map((key) => terminalText(`metrics.${key}`, MAX_CELL)),
  ];
  const body = rows.map((row) => [
    terminalText(row.runId, MAX_CELL),
    terminalText(experimentName.get(row.experimentId) ?? row.experimentId, MAX_CELL),
    terminalText(row.name, MAX_CELL),
    terminalText(row.status, MAX_CELL),
    row.startTime ? row.startTime.slice(0, 19).replace('T', ' ') : '-',
    ...params.map((key) => safe(row.params[key], MAX_CELL)),
    ...metrics.map((key) => safe(row.metrics[key], MAX_CELL)),
  ]);
  io.stdout(table(header, body));
  return 0;
}
