import { availableParallelism, hostname } from 'node:os';
import { existsSync } from 'node:fs';
import { createWriteStream, type WriteStream } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { BoundaryError } from '../util/boundary';
import { nodeFileHost, type FileHost } from '../workspace/file-host';
import { DEFAULT_OPTIONS, Workspace } from '../workspace/workspace';
import { ContentStore } from '../runs/content-cache';
import { type HostSpec } from './engine';
import { reason, type AttemptResult, type Executor } from './executor';
import { hostSpecOf, openExecutor } from './executors';
import { runAttempt } from './attempt';
import { gitState } from './git';
import { HashState, type ContentHash } from '../runs/hash';
import { acquireLock, activeLocks, cancelPath, isRunProcess, LockError } from '../runs/run-lock';
import { readStateFile, writeFileAtomic } from '../runs/files';
import { loadCachedPlan, saveCachedPlan } from './plan-cache';
import { metricsFileSeries, readPlotSeries, type Series } from '../store/series';
import { ExperimentStore, saveStageSeries, summarize } from '../store/store';
import { watchPlots } from './live-plots';
import { buildPlan, cacheKey, explainChange, keyInputs, selectStages, PlanError, type KeyInputs, type Plan, type PlannedStage } from './plan';
import { flattenMetrics, MlpipeDir, mlpipeRootOf, newRunId, type RunRecord, type StageRecord, type StageStatus } from '../runs/records';
import { EXIT, UserError } from '../errors';

export interface RunOptions {
  stages: string[];
  upstream: boolean;
  force: boolean;
  /** Run every stage on this host instead of its own. */
  host?: string;
  jobs?: number;
  signal?: AbortSignal;
  /** The process stops cleanly on SIGINT (the CLI does), so `mlpipe cancel` may signal it. */
  cancelBySignal?: boolean;
}

export type RunEvent =
  | { type: 'run-start'; record: RunRecord }
  | { type: 'stage-start'; stage: string; host: string; attempt: number }
  | { type: 'log'; stage: string; line: string; stream: 'stdout' | 'stderr' }
  | { type: 'stage-end'; stage: string; status: StageStatus; reason?: string }
  /** A stage's metric series, whole: when it finishes, and while it runs as its plot files grow. */
  | { type: 'series'; stage: string; series: Series[] }
  | { type: 'notice'; message: string }
  | { type: 'run-end'; record: RunRecord };

/** A user-facing reason a run cannot start (bad pipeline, lock held, unknown stage). */
export class RunError extends UserError {
  constructor(message: string, exitCode: number = EXIT.usage) {
    super(message, exitCode);
  }
}

/** A metrics file larger than this is not read (metrics are small; a series belongs in a plot file). */
const MAX_METRICS_BYTES = 16 * 1024 * 1024;

const FINISHED: StageStatus[] = ['succeeded', 'skipped', 'restored'];

/** What one stage would do now, and why: the answer to `mlpipe status`. */
export interface StageStatusReport {
  name: string;
  state: 'up-to-date' | 'cached' | 'stale' | 'never-run' | 'blocked';
  reasons: string[];
}

/**
 * Runs pipelines: plans the stage instances, decides per stage whether to skip, restore from the
 * cache or run, runs ready stages in parallel through each host's executor (`executor.ts`), and
 * records every run.
 */
export class Runner {
  readonly dir: string;
  readonly mlpipe: MlpipeDir;
  readonly store: ContentStore;
  private readonly executors = new Map<string, Promise<Executor>>();

  /** A runner with a workspace of its own, reading files through `host`. */
  static open(pipelinePath: string, host: FileHost = nodeFileHost): Runner {
    return new Runner(new Workspace(host, { ...DEFAULT_OPTIONS, fileChecks: false }), pipelinePath);
  }

  constructor(
    private readonly workspace: Workspace,
    readonly pipelinePath: string,
  ) {
    this.dir = dirname(pipelinePath);
    this.mlpipe = new MlpipeDir(mlpipeRootOf(pipelinePath));
    this.store = new ContentStore(join(this.mlpipe.root, 'cache'));
  }

  /**
   * The resolved stages, hosts and params files. Reused from `.mlpipe/plans/` while the pipeline
   * file and every file its analysis read (params files, the model card) have the same content,
   * so a warm `mlpipe status` does not parse a large pipeline again.
   */
  plan(): Plan {
    const cached = loadCachedPlan(this.mlpipe, this.pipelinePath);
    if (cached) return cached;
    const analysis = this.workspace.analyze(this.pipelinePath, 'pipeline');
    if (analysis.kind !== 'pipeline') throw new RunError(`${this.pipelinePath} is not a pipeline`);
    let plan: Plan;
    try {
      plan = buildPlan(analysis);
    } catch (error) {
      if (error instanceof PlanError) throw new RunError(error.message, error.exitCode);
      throw error;
    }
    saveCachedPlan(this.mlpipe, this.pipelinePath, [...analysis.inputs.keys()], plan, () => this.workspace.cached(this.pipelinePath) === analysis);
    return plan;
  }

  hostSpec(name: string, plan: Plan): HostSpec {
    const declared = plan.hosts[name];
    if (!declared && name !== 'local') throw new RunError(`unknown host '${name}'; declare it under hosts in ${relative(process.cwd(), this.pipelinePath)}`);
    return hostSpecOf(name, declared);
  }

  private executor(spec: HostSpec): Promise<Executor> {
    let executor = this.executors.get(spec.name);
    if (!executor) {
      executor = openExecutor(spec, this.dir);
      this.executors.set(spec.name, executor);
      executor.catch(() => this.executors.delete(spec.name));
    }
    return executor;
  }

  async run(options: RunOptions, onEvent: (event: RunEvent) => void = () => undefined): Promise<RunRecord> {
    const plan = this.plan();
    let targets: PlannedStage[];
    try {
      targets = selectStages(plan, options.stages, options.upstream);
    } catch (error) {
      throw new RunError((error as Error).message);
    }
    if (options.host) this.hostSpec(options.host, plan);
    this.mlpipe.ensure();
    const id = newRunId();
    const release = (() => {
      try {
        return acquireLock(join(this.mlpipe.root, 'locks'), { run: id, pid: process.pid, hostname: hostname(), started: new Date().toISOString(), outputs: targets.flatMap((stage) => stage.outputs.map((output) => output.path)), signal: Boolean(options.cancelBySignal) });
      } catch (error) {
        if (error instanceof LockError) throw new RunError(error.message);
        throw error;
      }
    })();
    const record: RunRecord = {
      version: 1,
      id,
      pipeline: relative(this.dir, this.pipelinePath),
      ...(plan.name ? { name: plan.name } : {}),
      workspace: this.dir,
      status: 'running',
      target: { stages: options.stages, upstream: options.upstream, force: options.force, ...(options.host ? { host: options.host } : {}) },
      started: new Date().toISOString(),
      pid: process.pid,
      host: hostname(),
      params: Object.assign({}, ...targets.map((stage) => stage.params)),
      stages: targets.map((stage) => ({
        name: stage.name,
        stage: stage.stage,
        matrix: stage.values,
        status: 'pending',
        host: options.host ?? stage.host,
        image: stage.image,
        command: stage.command.display,
        attempts: 0,
        params: stage.params,
        deps: {},
        outputs: {},
        metrics: {},
        log: relative(this.mlpipe.runDir(id), this.mlpipe.logPath(id, stage.name)),
      })),
    };
    const git = await gitState(this.dir);
    if (git) record.git = git;
    const save = () => this.mlpipe.writeRecord(record);
    save();
    const series = new Map<string, Series[]>();
    this.index(record, [], onEvent);
    onEvent({ type: 'run-start', record });
    const state = new HashState(join(this.mlpipe.root, 'state.json'));
    const stop = new AbortController();
    const external = options.signal;
    const onExternalAbort = () => stop.abort();
    external?.addEventListener('abort', onExternalAbort);
    if (external?.aborted) stop.abort();
    // `mlpipe cancel` from anywhere: a file beside the lock, looked for twice a second.
    const requested = cancelPath(join(this.mlpipe.root, 'locks'), id);
    const poll = setInterval(() => {
      if (existsSync(requested)) stop.abort();
    }, 500);
    poll.unref();
    try {
      await this.execute(targets, plan, record, state, options, stop.signal, save, (event) => {
        if (event.type === 'series') series.set(event.stage, event.series);
        onEvent(event);
      });
      const statuses = record.stages.map((stage) => stage.status);
      record.status = stop.signal.aborted ? 'cancelled' : statuses.every((status) => FINISHED.includes(status)) ? 'succeeded' : 'failed';
    } catch (error) {
      record.status = 'failed';
      record.error = error instanceof Error ? error.message : String(error);
    } finally {
      record.ended = new Date().toISOString();
      for (const stage of record.stages) if (stage.status === 'pending' || stage.status === 'running') stage.status = 'cancelled';
      save();
      state.save();
      clearInterval(poll);
      release();
      external?.removeEventListener('abort', onExternalAbort);
    }
    this.index(record, [...series.values()].flat(), onEvent);
    onEvent({ type: 'run-end', record });
    return record;
  }

  private async execute(
    targets: PlannedStage[],
    plan: Plan,
    record: RunRecord,
    state: HashState,
    options: RunOptions,
    signal: AbortSignal,
    save: () => void,
    onEvent: (event: RunEvent) => void,
  ): Promise<void> {
    const jobs = Math.max(1, options.jobs ?? availableParallelism());
    const inRun = new Set(targets.map((stage) => stage.name));
    const recordOf = new Map(record.stages.map((stage) => [stage.name, stage]));
    const remaining = new Set(targets.map((stage) => stage.name));
    const running = new Map<string, Promise<void>>();
    const cleaned = new Set<string>();
    const ready = (stage: PlannedStage) => stage.upstream.filter((name) => inRun.has(name)).every((name) => FINISHED.includes(recordOf.get(name)!.status));
    const broken = (stage: PlannedStage) => stage.upstream.find((name) => inRun.has(name) && ['failed', 'cancelled', 'blocked'].includes(recordOf.get(name)!.status));
    while (remaining.size > 0 || running.size > 0) {
      if (signal.aborted) {
        for (const name of remaining) recordOf.get(name)!.status = 'cancelled';
        remaining.clear();
      }
      for (const stage of targets) {
        if (!remaining.has(stage.name)) continue;
        const failedUpstream = broken(stage);
        if (failedUpstream) {
          const entry = recordOf.get(stage.name)!;
          entry.status = 'blocked';
          entry.reason = `upstream stage '${failedUpstream}' did not finish`;
          remaining.delete(stage.name);
          onEvent({ type: 'stage-end', stage: stage.name, status: 'blocked', reason: entry.reason });
          save();
          continue;
        }
        if (running.size >= jobs || !ready(stage)) continue;
        remaining.delete(stage.name);
        const task = this.runStage(stage, plan, recordOf.get(stage.name)!, record, state, options, signal, save, onEvent, cleaned).finally(() => running.delete(stage.name));
        running.set(stage.name, task);
      }
      if (running.size === 0) {
        if (remaining.size === 0) break;
        // Nothing can start: everything left waits on something that will not finish.
        for (const name of remaining) {
          const entry = recordOf.get(name)!;
          entry.status = 'blocked';
          entry.reason = 'its upstream stages did not finish';
        }
        remaining.clear();
        break;
      }
      await Promise.race(running.values());
    }
  }

  private async runStage(
    stage: PlannedStage,
    plan: Plan,
    entry: StageRecord,
    record: RunRecord,
    state: HashState,
    options: RunOptions,
    signal: AbortSignal,
    save: () => void,
    onEvent: (event: RunEvent) => void,
    cleaned: Set<string>,
  ): Promise<void> {
    const started = Date.now();
    entry.started = new Date(started).toISOString();
    entry.status = 'running';
    save();
    const logPath = this.mlpipe.logPath(record.id, stage.name);
    this.mlpipe.boundary.makeDirs(dirname(logPath));
    const log: WriteStream = createWriteStream(logPath, { flags: 'a' });
    const line = (text: string, stream: 'stdout' | 'stderr' = 'stdout') => {
      log.write(`${text}\n`);
      onEvent({ type: 'log', stage: stage.name, line: text, stream });
    };
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
      const spec = this.hostSpec(hostName, plan);
      // Inputs: every dep must exist now (upstream stages of this run have finished).
      const deps: Record<string, string> = {};
      for (const dep of stage.deps) {
        const hashed = await state.hash(join(this.dir, dep), 'follow-inside');
        if (!hashed) {
          const producer = plan.stages.find((candidate) => candidate.outputs.some((output) => output.path === dep || dep.startsWith(`${output.path}/`)));
          throw new RunError(`dep ${dep} does not exist${producer ? `; stage '${producer.name}' writes it: run with --upstream, or run '${producer.name}' first` : ''}`);
        }
        deps[dep] = hashed.hash;
      }
      entry.deps = deps;
      const executor = await this.executor(spec);
      entry.engine = executor.version;
      if (!cleaned.has(spec.name)) {
        cleaned.add(spec.name);
        await executor.removeOrphans(new Set(activeLocks(join(this.mlpipe.root, 'locks')).map((lock) => lock.run)));
      }
      const digest = await executor.resolveImage(stage.image, (text) => line(text));
      entry.imageDigest = digest;
      const inputs = keyInputs(stage, deps, digest);
      const key = cacheKey(inputs);
      entry.key = key;
      if (!options.force && !stage.alwaysRun) {
        const cached = this.store.entry(key);
        if (cached) {
          const current = await this.outputHashes(stage, state);
          const unchanged = stage.outputs.every((output) => current[output.path]?.hash === cached.outputs[output.path]?.hash);
          if (unchanged) {
            entry.outputs = Object.fromEntries(Object.entries(cached.outputs).map(([path, content]) => [path, content.hash]));
            this.collectResults(stage, entry, record.id, line, onEvent);
            line(`up to date (same inputs as run ${cached.run})`);
            this.saveLast(stage, key, inputs, cached.outputs, record.id);
            finish('skipped', `unchanged since run ${cached.run}`);
            return;
          }
          if (stage.outputs.every((output) => !output.cache || (cached.outputs[output.path] && this.store.has(cached.outputs[output.path])))) {
            for (const output of stage.outputs) if (cached.outputs[output.path]) this.store.restore(join(this.dir, output.path), cached.outputs[output.path], state);
            entry.outputs = Object.fromEntries(Object.entries(cached.outputs).map(([path, content]) => [path, content.hash]));
            this.collectResults(stage, entry, record.id, line, onEvent);
            line(`restored outputs from the cache (run ${cached.run} had the same inputs)`);
            this.saveLast(stage, key, inputs, cached.outputs, record.id);
            finish('restored', `same inputs as run ${cached.run}: outputs restored from the cache`);
            return;
          }
        }
      }
      const last = this.mlpipe.lastResult(stage.name);
      const why = options.force ? 'forced' : stage.alwaysRun ? 'always_run' : !last ? 'never run before' : explainChange(last.inputs, inputs).join('; ') || 'outputs missing or modified';
      // Run: fresh outputs (unless persisted), their folders ready.
      // Each path is proven inside the workspace with no link on the way at the moment it is used:
      // a stage may have left a link in place of an output or of a folder above one.
      for (const output of stage.outputs) {
        const path = join(this.dir, output.path);
        if (!output.persist) this.store.workspace.remove(path);
        this.store.workspace.makeDirs(dirname(path));
      }
      const attemptInputs = [...stage.deps, ...plan.paramsFiles];
      const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
      let attempt = 0;
      for (;;) {
        attempt++;
        entry.attempts = attempt;
        save();
        onEvent({ type: 'stage-start', stage: stage.name, host: spec.name, attempt });
        line(`$ ${stage.command.display}   (host ${spec.name}, ${executor.version}, ${stage.image}${attempt > 1 ? `, attempt ${attempt}` : ''})`);
        let result: AttemptResult;
        // Curves while the stage runs: plot files on a host that shares the workspace are followed.
        const live = executor.sharesFiles ? watchPlots(this.dir, stage.name, stage.outputs, (series) => onEvent({ type: 'series', stage: stage.name, series })) : undefined;
        try {
          result = await runAttempt(executor, { stage, runId: record.id, owner, inputs: attemptInputs }, { signal, onLine: line });
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
        const why = result.outcome === 'timeout' ? `timed out after ${Math.round((stage.timeoutMs ?? 0) / 1000)} s` : `exited with code ${result.exitCode}`;
        if (attempt > stage.retries) {
          finish('failed', why);
          return;
        }
        line(`${why}; retrying (${attempt} of ${stage.retries} retries)`, 'stderr');
      }
      entry.exitCode = 0;
      const outputs: Record<string, ContentHash> = {};
      for (const output of stage.outputs) {
        const hashed = await state.hash(join(this.dir, output.path), 'refuse');
        if (!hashed) throw new RunError(`stage '${stage.name}' succeeded but did not write its ${output.role === 'out' ? 'output' : output.role} ${output.path}`);
        outputs[output.path] = hashed;
        if (output.cache) this.store.put(join(this.dir, output.path), hashed);
      }
      this.store.saveEntry({ version: 1, key, stage: stage.name, run: record.id, created: new Date().toISOString(), outputs, inputs });
      entry.outputs = Object.fromEntries(Object.entries(outputs).map(([path, content]) => [path, content.hash]));
      this.collectResults(stage, entry, record.id, line, onEvent);
      this.saveLast(stage, key, inputs, outputs, record.id);
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

  private async outputHashes(stage: PlannedStage, state: HashState): Promise<Record<string, ContentHash | undefined>> {
    const result: Record<string, ContentHash | undefined> = {};
    for (const output of stage.outputs) {
      try {
        result[output.path] = await state.hash(join(this.dir, output.path), 'refuse');
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
  private collectResults(stage: PlannedStage, entry: StageRecord, runId: string, line: (text: string, stream?: 'stdout' | 'stderr') => void, onEvent: (event: RunEvent) => void): void {
    const series: Series[] = [];
    for (const output of stage.outputs) {
      const path = join(this.dir, output.path);
      try {
        if (output.role === 'metric') {
          // Read without following a link: a metrics file is printed, indexed and sent to MLflow.
          const data: unknown = parseYaml(readStateFile(this.store.workspace, path, MAX_METRICS_BYTES) ?? '', { maxAliasCount: 100 });
          entry.metrics[output.path] = flattenMetrics(data);
          series.push(...metricsFileSeries(data, output.path, stage.name));
        } else if (output.role === 'plot') {
          series.push(...readPlotSeries(path, output.path, stage.name, output.plot));
        }
      } catch (error) {
        if (output.role === 'metric') entry.metrics[output.path] = {};
        line(`warning: could not read ${output.role === 'metric' ? 'metrics' : 'plot'} file ${output.path}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`, 'stderr');
      }
    }
    if (series.length === 0) return;
    saveStageSeries(this.mlpipe, runId, stage.name, series);
    onEvent({ type: 'series', stage: stage.name, series });
  }

  /** Adds the run to the experiment store's index; the record stays the truth if that fails. */
  /** The experiment store, opened once per runner: the second write of a run reads only what was appended since. */
  private experiments: ExperimentStore | undefined;

  private index(record: RunRecord, series: Series[], onEvent: (event: RunEvent) => void): void {
    try {
      this.experiments ??= ExperimentStore.open(this.mlpipe.root);
      this.experiments.record(summarize(record, series));
    } catch (error) {
      onEvent({ type: 'notice', message: `could not update the experiment index (${error instanceof Error ? error.message : String(error)}); mlpipe runs reindex rebuilds it from the records` });
    }
  }

  private saveLast(stage: PlannedStage, key: string, inputs: KeyInputs, outputs: Record<string, ContentHash>, run: string): void {
    this.mlpipe.saveLastResult(stage.name, { version: 1, key, inputs, outputs: Object.fromEntries(Object.entries(outputs).map(([path, content]) => [path, content.hash])), run, ended: new Date().toISOString() });
  }

  /**
   * Puts a run's outputs back in the workspace from the cache (`mlpipe checkout RUN`): every stage
   * of the run that finished, as it was then. Returns the paths restored.
   */
  checkout(runId: string): string[] {
    const record = this.mlpipe.readRecord(runId) ?? this.mlpipe.readRecord(this.mlpipe.runIds().find((id) => id.startsWith(runId)) ?? '');
    if (!record) throw new RunError(`no run ${runId} in ${relative(process.cwd(), this.mlpipe.runs) || this.mlpipe.runs}; the folder names there are run ids`);
    const state = new HashState(join(this.mlpipe.root, 'state.json'));
    const restored: string[] = [];
    const missing: string[] = [];
    for (const stage of record.stages) {
      if (!stage.key || !['succeeded', 'skipped', 'restored'].includes(stage.status)) continue;
      const entry = this.store.entry(stage.key);
      if (!entry) {
        missing.push(stage.name);
        continue;
      }
      for (const [path, content] of Object.entries(entry.outputs)) {
        if (!this.store.has(content)) {
          missing.push(`${stage.name} (${path})`);
          continue;
        }
        this.store.restore(join(this.dir, path), content, state);
        restored.push(path);
      }
      if (entry.inputs) this.mlpipe.saveLastResult(stage.name, { version: 1, key: entry.key, inputs: entry.inputs, outputs: Object.fromEntries(Object.entries(entry.outputs).map(([path, content]) => [path, content.hash])), run: entry.run, ended: new Date().toISOString() });
    }
    state.save();
    if (missing.length > 0) throw new RunError(`restored ${restored.length} outputs, but the cache no longer holds ${missing.join(', ')}; rerun those stages`);
    return restored;
  }

  /**
   * Stops runs of this workspace that are in progress and removes their containers. Every run is
   * asked through a cancel file its runner watches (the extension host runs pipelines in its own
   * process, which must not get a signal); a CLI run is also sent SIGINT, but only once its pid is
   * proven to be that run's process (same start time), never a pid a lock file merely names.
   */
  async cancel(): Promise<string[]> {
    const dir = join(this.mlpipe.root, 'locks');
    const locks = activeLocks(dir);
    for (const lock of locks) {
      writeFileAtomic(cancelPath(dir, lock.run), new Date().toISOString(), this.mlpipe.boundary);
      if (!lock.signal || !isRunProcess(lock)) continue;
      try {
        process.kill(lock.pid, 'SIGINT');
      } catch {
        // already gone
      }
    }
    return locks.map((lock) => lock.run);
  }
}
