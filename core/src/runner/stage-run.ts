import { createWriteStream, type WriteStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { BoundaryError } from '../util/boundary';
import { type ContentHash, type HashState } from '../runs/hash';
import { type StageCacheEntry } from '../runs/content-cache';
import { RemoteNotFound } from '../remote/backend';
import { readStateFile } from '../runs/files';
import { activeLocks } from '../runs/run-lock';
import { flattenMetrics, type StageRecord, type StageStatus } from '../runs/records';
import { metricsFileSeries, readPlotSeries, type Series } from '../store/series';
import { saveStageSeries } from '../store/store';
import { watchPlots } from './live-plots';
import { runAttempt } from './attempt';
import { adoptSeed } from './seed';
import { RunError, type RunContext, type StageContext } from './context';
import { reason, type AttemptResult } from './executor';
import { cacheKey, explainChange, keyInputs, type KeyInputs, type PlannedStage } from './plan';

/** A metrics file larger than this is not read (metrics are small; a series belongs in a plot file). */
const MAX_METRICS_BYTES = 16 * 1024 * 1024;

/**
 * One stage instance of a run, on whatever executor its host has: hash the deps, resolve the
 * image, skip it when its key and outputs are unchanged, restore it from the cache when its key
 * was seen, else run it (with retries) and hash, cache and record its outputs. Never throws: what
 * goes wrong is the stage's status, reason and error in the record.
 */
export async function runStage(run: RunContext, stage: PlannedStage, entry: StageRecord): Promise<void> {
  const { record, state, options, signal, save, onEvent } = run;
  const started = Date.now();
  entry.started = new Date(started).toISOString();
  entry.status = 'running';
  save();
  const logPath = run.mlpipe.logPath(record.id, stage.name);
  run.mlpipe.boundary.makeDirs(dirname(logPath));
  const log: WriteStream = createWriteStream(logPath, { flags: 'a' });
  const line = (text: string, stream: 'stdout' | 'stderr' = 'stdout') => {
    log.write(`${text}\n`);
    onEvent({ type: 'log', stage: stage.name, line: text, stream });
  };
  const context: StageContext = { run, stage, entry, line };
  const finish = (status: StageStatus, why?: string) => {
    entry.status = status;
    if (why) entry.reason = why;
    entry.ended = new Date().toISOString();
    entry.durationMs = Date.now() - started;
    save();
    onEvent({ type: 'stage-end', stage: stage.name, status, reason: why });
  };
  try {
    const hostName = options.host ?? stage.host;
    // Inputs: every dep must exist now (upstream stages of this run have finished).
    const deps: Record<string, string> = {};
    for (const dep of stage.deps) {
      const hashed = await state.hash(join(run.dir, dep), 'follow-inside');
      if (!hashed) {
        const producer = run.plan.stages.find((candidate) =>
          candidate.outputs.some((output) => output.path === dep || dep.startsWith(`${output.path}/`)),
        );
        throw new RunError(
          `dep ${dep} does not exist${producer ? `; stage '${producer.name}' writes it: run with --upstream, or run '${producer.name}' first` : ''}`,
        );
      }
      deps[dep] = hashed.hash;
    }
    entry.deps = deps;
    const executor = await run.executor(hostName);
    entry.engine = executor.version;
    if (!run.cleaned.has(executor.host)) {
      run.cleaned.add(executor.host);
      await executor.removeOrphans(new Set(activeLocks(join(run.mlpipe.root, 'locks')).map((lock) => lock.run)));
    }
    const digest = await executor.resolveImage(stage.image, (text) => line(text));
    entry.imageDigest = digest;
    const inputs = keyInputs(stage, deps, digest);
    const key = cacheKey(inputs);
    entry.key = key;
    if (!options.force && !stage.alwaysRun) {
      let cached = run.store.entry(key);
      let origin = '';
      if (run.remote && run.options.pull !== false && !(cached && cachedLocally(run, stage, cached))) {
        const fetched = await fromRemote(context, key);
        if (fetched) [cached, origin] = [fetched, ` on remote '${run.remote.spec().name}'`];
      }
      if (cached) {
        const current = await outputHashes(run, stage, state);
        const unchanged = stage.outputs.every(
          (output) => current[output.path]?.hash === cached.outputs[output.path]?.hash,
        );
        if (unchanged) {
          entry.outputs = Object.fromEntries(
            Object.entries(cached.outputs).map(([path, content]) => [path, content.hash]),
          );
          collectResults(context);
          line(`up to date (same inputs as run ${cached.run})`);
          saveLast(run, stage, key, inputs, cached.outputs);
          finish('skipped', `unchanged since run ${cached.run}`);
          return;
        }
        if (cachedLocally(run, stage, cached)) {
          for (const output of stage.outputs)
            if (cached.outputs[output.path])
              run.store.restore(join(run.dir, output.path), cached.outputs[output.path], state);
          entry.outputs = Object.fromEntries(
            Object.entries(cached.outputs).map(([path, content]) => [path, content.hash]),
          );
          collectResults(context);
          line(
            `restored outputs from the ${origin ? 'remote ' : ''}cache (run ${cached.run}${origin} had the same inputs)`,
          );
          saveLast(run, stage, key, inputs, cached.outputs);
          finish(
            'restored',
            `same inputs as run ${cached.run}${origin}: outputs restored from the ${origin ? 'remote ' : ''}cache`,
          );
          return;
        }
      }
      // A stage another tool had up to date (an imported dvc.lock, checked against the files), and
      // that mlpipe never ran: once it has, its own record says what changed (as mlpipe status does).
      const seeded =
        cached || run.mlpipe.lastResult(stage.name) ? undefined : await adoptSeed(run, stage, key, inputs, state);
      if (seeded) {
        entry.outputs = Object.fromEntries(
          Object.entries(seeded.outputs).map(([path, content]) => [path, content.hash]),
        );
        collectResults(context);
        line(`up to date (as ${seeded.source} recorded it)`);
        saveLast(run, stage, key, inputs, seeded.outputs);
        finish('skipped', `up to date as ${seeded.source} recorded it`);
        return;
      }
    }
    const last = run.mlpipe.lastResult(stage.name);
    const why = options.force
      ? 'forced'
      : stage.alwaysRun
        ? 'always_run'
        : !last
          ? 'never run before'
          : explainChange(last.inputs, inputs).join('; ') || 'outputs missing or modified';
    // Run: fresh outputs (unless persisted), their folders ready.
    // Each path is proven inside the workspace with no link on the way at the moment it is used:
    // a stage may have left a link in place of an output or of a folder above one.
    for (const output of stage.outputs) {
      const path = join(run.dir, output.path);
      if (!output.persist) run.store.workspace.remove(path);
      run.store.workspace.makeDirs(dirname(path));
    }
    const attemptInputs = [...stage.deps, ...run.plan.paramsFiles];
    const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    let attempt = 0;
    for (;;) {
      attempt++;
      entry.attempts = attempt;
      save();
      onEvent({ type: 'stage-start', stage: stage.name, host: executor.host, attempt });
      line(
        `$ ${stage.command.display}   (host ${executor.host}, ${executor.version}, ${stage.image}${attempt > 1 ? `, attempt ${attempt}` : ''})`,
      );
      let result: AttemptResult;
      // Curves while the stage runs: plot files on a host that shares the workspace are followed.
      const live = executor.sharesFiles
        ? watchPlots(run.dir, stage.name, stage.outputs, (series) =>
            onEvent({ type: 'series', stage: stage.name, series }),
          )
        : undefined;
      try {
        result = await runAttempt(
          executor,
          {
            stage,
            runId: record.id,
            owner,
            inputs: attemptInputs,
            attempt,
            ...(run.remote ? { remote: run.remote } : {}),
          },
          { signal, onLine: line },
        );
      } catch (error) {
        throw (await executor.lost()) ?? error;
      } finally {
        live?.close();
      }
      if (result.warning) line(`warning: ${result.warning}`, 'stderr');
      if (result.outcome === 'cancelled') {
        finish('cancelled', 'the run was cancelled');
        return;
      }
      if (result.outcome === 'exited' && result.exitCode === 0) break;
      entry.exitCode = result.exitCode;
      const gone = result.outcome === 'exited' ? await executor.lost(result.exitCode) : undefined;
      if (gone) throw gone;
      const failure =
        result.outcome === 'timeout'
          ? `timed out after ${Math.round((stage.timeoutMs ?? 0) / 1000)} s`
          : `exited with code ${result.exitCode}`;
      if (attempt > stage.retries) {
        finish('failed', failure);
        return;
      }
      line(`${failure}; retrying (${attempt} of ${stage.retries} retries)`, 'stderr');
    }
    entry.exitCode = 0;
    const outputs: Record<string, ContentHash> = {};
    for (const output of stage.outputs) {
      const hashed = await state.hash(join(run.dir, output.path), 'refuse');
      if (!hashed)
        throw new RunError(
          `stage '${stage.name}' succeeded but did not write its ${output.role === 'out' ? 'output' : output.role} ${output.path}`,
        );
      outputs[output.path] = hashed;
      if (output.cache) run.store.put(join(run.dir, output.path), hashed);
    }
    run.store.saveEntry({
      version: 1,
      key,
      stage: stage.name,
      run: record.id,
      created: new Date().toISOString(),
      outputs,
      inputs,
    });
    entry.outputs = Object.fromEntries(Object.entries(outputs).map(([path, content]) => [path, content.hash]));
    collectResults(context);
    saveLast(run, stage, key, inputs, outputs);
    finish('succeeded', why);
  } catch (error) {
    const message = reason(error);
    entry.error = message;
    line(`error: ${message}`, 'stderr');
    finish(signal.aborted ? 'cancelled' : 'failed', message);
  } finally {
    await new Promise<void>((resolve) => log.end(() => resolve()));
  }
}

/** Whether the local cache holds every cached output of an entry (outputs with `cache: false` are never there). */
function cachedLocally(run: RunContext, stage: PlannedStage, entry: StageCacheEntry): boolean {
  return stage.outputs.every(
    (output) =>
      !output.cache || (entry.outputs[output.path] !== undefined && run.store.has(entry.outputs[output.path]!)),
  );
}

/**
 * The remote's entry for the key, its objects fetched into the local cache (each checked against
 * its digest), or undefined. A remote that fails (down, refused credentials) is not asked again in
 * this run: the stage runs instead, with a warning, since the remote only saves time.
 */
async function fromRemote({ run, stage, line }: StageContext, key: string): Promise<StageCacheEntry | undefined> {
  const remote = run.remote!;
  if (remote.failure) return undefined;
  const name = remote.spec().name;
  try {
    const entry = await remote.fetchEntry(key);
    const paths = stage.outputs.filter((output) => output.cache).map((output) => output.path);
    if (!entry || !paths.every((path) => entry.outputs[path])) return undefined;
    const fetched = await remote.fetchObjects(entry, {
      paths,
      outputRemote: (_stage, path) => stage.outputs.find((output) => output.path === path)?.remote,
    });
    run.store.saveEntry(entry);
    line(`fetched ${fetched.objects} objects (${formatBytes(fetched.bytes)}) from remote '${name}'`);
    return entry;
  } catch (error) {
    if (error instanceof RemoteNotFound) {
      line(`remote '${name}' has the entry but not all its objects (${reason(error)}); the stage runs`, 'stderr');
      return undefined;
    }
    remote.failure = reason(error);
    line(`warning: ${remote.failure}; not asking remote '${name}' again in this run, the stage runs`, 'stderr');
    run.onEvent({
      type: 'notice',
      message: `remote '${name}' failed: ${remote.failure}; stages run instead of restoring`,
    });
    return undefined;
  }
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}

async function outputHashes(
  run: RunContext,
  stage: PlannedStage,
  state: HashState,
): Promise<Record<string, ContentHash | undefined>> {
  const result: Record<string, ContentHash | undefined> = {};
  for (const output of stage.outputs) {
    try {
      result[output.path] = await state.hash(join(run.dir, output.path), 'refuse');
    } catch (error) {
      // An output that is a link now is not the output the cache recorded: it runs again.
      if (!(error instanceof BoundaryError)) throw error;
    }
  }
  return result;
}

/**
 * What a finished stage's metrics and plots files say: scalar metrics into the record, series
 * (plot columns, lists in metrics files) into the run's series.json and a `series` event.
 */
function collectResults({ run, stage, entry, line }: StageContext): void {
  const series: Series[] = [];
  for (const output of stage.outputs) {
    const path = join(run.dir, output.path);
    try {
      if (output.role === 'metric') {
        // Read without following a link: a metrics file is printed, indexed and sent to MLflow.
        const data: unknown = parseYaml(readStateFile(run.store.workspace, path, MAX_METRICS_BYTES) ?? '', {
          maxAliasCount: 100,
        });
        entry.metrics[output.path] = flattenMetrics(data);
        series.push(...metricsFileSeries(data, output.path, stage.name));
      } else if (output.role === 'plot') {
        series.push(...readPlotSeries(path, output.path, stage.name, output.plot));
      }
    } catch (error) {
      if (output.role === 'metric') entry.metrics[output.path] = {};
      line(
        `warning: could not read ${output.role === 'metric' ? 'metrics' : 'plot'} file ${output.path}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
        'stderr',
      );
    }
  }
  if (series.length === 0) return;
  saveStageSeries(run.mlpipe, run.record.id, stage.name, series);
  run.onEvent({ type: 'series', stage: stage.name, series });
}

function saveLast(
  run: RunContext,
  stage: PlannedStage,
  key: string,
  inputs: KeyInputs,
  outputs: Record<string, ContentHash>,
): void {
  run.mlpipe.saveLastResult(stage.name, {
    version: 1,
    key,
    inputs,
    outputs: Object.fromEntries(Object.entries(outputs).map(([path, content]) => [path, content.hash])),
    run: run.record.id,
    ended: new Date().toISOString(),
  });
}
