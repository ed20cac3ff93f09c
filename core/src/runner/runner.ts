import { availableParallelism, hostname } from 'node:os';
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { nodeFileHost, type FileHost } from '../workspace/file-host';
import { DEFAULT_OPTIONS, Workspace } from '../workspace/workspace';
import { ContentStore, type StageCacheEntry } from '../runs/content-cache';
import { RemoteConfigError, resolveRemotes } from '../remote/spec';
import { RemoteCache, type RemoteCacheOptions } from '../remote/sync';
import { type HostSpec } from './engine';
import { type Executor } from './executor';
import { hostSpecOf, openExecutor, type ExecutorFactory } from './executors';
import { RunError, type RunContext, type RunEvent, type RunOptions } from './context';
import { runStage } from './stage-run';
import { gitState } from './git';
import { HashState } from '../runs/hash';
import { acquireLock, activeLocks, cancelPath, isRunProcess, LockError } from '../runs/run-lock';
import { writeFileAtomic } from '../runs/files';
import { loadCachedPlan, saveCachedPlan } from './plan-cache';
import { type Series } from '../store/series';
import { ExperimentStore, summarize } from '../store/store';
import { buildPlan, selectStages, PlanError, type Plan, type PlannedStage } from './plan';
import { MlpipeDir, mlpipeRootOf, newRunId, type RunRecord, type StageStatus } from '../runs/records';

// Where the CLI and the extension import them from.
export { RunError, type RunEvent, type RunOptions } from './context';

const FINISHED: StageStatus[] = ['succeeded', 'skipped', 'restored'];

/** What one stage would do now, and why: the answer to `mlpipe status`. */
export interface StageStatusReport {
  name: string;
  state: 'up-to-date' | 'cached' | 'stale' | 'never-run' | 'blocked';
  reasons: string[];
}

/**
 * Runs pipelines: plans the stage instances, decides per stage whether to skip, restore from the
 * cache or run (`stage-run.ts`), runs ready stages in parallel through each host's executor
 * (`executor.ts`), and records every run.
 */
export class Runner {
  readonly dir: string;
  readonly mlpipe: MlpipeDir;
  readonly store: ContentStore;
  private readonly executors = new Map<string, Promise<Executor>>();

  /** A runner with a workspace of its own, reading files through `host`. */
  static open(pipelinePath: string, host: FileHost = nodeFileHost, executors: ExecutorFactory = openExecutor): Runner {
    return new Runner(new Workspace(host, { ...DEFAULT_OPTIONS, fileChecks: false }), pipelinePath, executors);
  }

  /** `connectExecutor` makes each host's executor (`openExecutor`); a test of the runner's own logic may pass another. */
  constructor(
    private readonly workspace: Workspace,
    readonly pipelinePath: string,
    private readonly connectExecutor: ExecutorFactory = openExecutor,
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
    saveCachedPlan(
      this.mlpipe,
      this.pipelinePath,
      [...analysis.inputs.keys()],
      plan,
      () => this.workspace.cached(this.pipelinePath) === analysis,
    );
    return plan;
  }

  /** The pipeline's remotes with the user's overrides (.mlpipe/config.yaml, MLPIPE_REMOTE*), or undefined when none is declared anywhere. */
  openRemote(plan: Plan, options: RemoteCacheOptions = {}): RemoteCache | undefined {
    let config;
    try {
      config = resolveRemotes(plan.remotes, {
        pipelineFile: relative(process.cwd(), this.pipelinePath) || this.pipelinePath,
        boundary: this.mlpipe.boundary,
        mlpipeRoot: this.mlpipe.root,
      });
    } catch (error) {
      if (error instanceof RemoteConfigError) throw new RunError(error.message);
      throw error;
    }
    return config.remotes.size > 0 ? new RemoteCache(this.store, config, options) : undefined;
  }

  hostSpec(name: string, plan: Plan): HostSpec {
    const declared = plan.hosts[name];
    if (!declared && name !== 'local')
      throw new RunError(
        `unknown host '${name}'; declare it under hosts in ${relative(process.cwd(), this.pipelinePath)}`,
      );
    return hostSpecOf(name, declared);
  }

  /** The host's executor, connected once per runner (again after a failed connect). */
  private executor(name: string, plan: Plan): Promise<Executor> {
    let executor = this.executors.get(name);
    if (!executor) {
      executor = this.connectExecutor(this.hostSpec(name, plan), this.dir);
      this.executors.set(name, executor);
      executor.catch(() => this.executors.delete(name));
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
        return acquireLock(join(this.mlpipe.root, 'locks'), {
          run: id,
          pid: process.pid,
          hostname: hostname(),
          started: new Date().toISOString(),
          outputs: targets.flatMap((stage) => stage.outputs.map((output) => output.path)),
          signal: Boolean(options.cancelBySignal),
        });
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
      target: {
        stages: options.stages,
        upstream: options.upstream,
        force: options.force,
        ...(options.host ? { host: options.host } : {}),
      },
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
    // The team cache: a stage's key is looked up there too, unless the caller said --no-pull; a
    // cluster host moves its stages' data through it either way.
    let remote: RemoteCache | undefined;
    try {
      remote = this.openRemote(plan, { ...options.remote, signal: stop.signal });
    } catch (error) {
      if (options.pull !== false) throw error;
    }
    try {
      const run: RunContext = {
        ...(remote ? { remote } : {}),
        dir: this.dir,
        mlpipe: this.mlpipe,
        store: this.store,
        plan,
        record,
        options,
        state,
        signal: stop.signal,
        save,
        onEvent: (event) => {
          if (event.type === 'series') series.set(event.stage, event.series);
          onEvent(event);
        },
        executor: (host) => this.executor(host, plan),
        cleaned: new Set(),
      };
      await this.execute(run, targets);
      const statuses = record.stages.map((stage) => stage.status);
      record.status = stop.signal.aborted
        ? 'cancelled'
        : statuses.every((status) => FINISHED.includes(status))
          ? 'succeeded'
          : 'failed';
    } catch (error) {
      record.status = 'failed';
      record.error = error instanceof Error ? error.message : String(error);
    } finally {
      record.ended = new Date().toISOString();
      for (const stage of record.stages)
        if (stage.status === 'pending' || stage.status === 'running') stage.status = 'cancelled';
      save();
      state.save();
      clearInterval(poll);
      remote?.close();
      release();
      external?.removeEventListener('abort', onExternalAbort);
    }
    this.index(record, [...series.values()].flat(), onEvent);
    onEvent({ type: 'run-end', record });
    return record;
  }

  private async execute(run: RunContext, targets: PlannedStage[]): Promise<void> {
    const { record, signal, save, onEvent } = run;
    const jobs = Math.max(1, run.options.jobs ?? availableParallelism());
    const inRun = new Set(targets.map((stage) => stage.name));
    const recordOf = new Map(record.stages.map((stage) => [stage.name, stage]));
    const remaining = new Set(targets.map((stage) => stage.name));
    const running = new Map<string, Promise<void>>();
    const ready = (stage: PlannedStage) =>
      stage.upstream.filter((name) => inRun.has(name)).every((name) => FINISHED.includes(recordOf.get(name)!.status));
    const broken = (stage: PlannedStage) =>
      stage.upstream.find(
        (name) => inRun.has(name) && ['failed', 'cancelled', 'blocked'].includes(recordOf.get(name)!.status),
      );
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
        const task = runStage(run, stage, recordOf.get(stage.name)!).finally(() => running.delete(stage.name));
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

  /** Adds the run to the experiment store's index; the record stays the truth if that fails. */
  /** The experiment store, opened once per runner: the second write of a run reads only what was appended since. */
  private experiments: ExperimentStore | undefined;

  private index(record: RunRecord, series: Series[], onEvent: (event: RunEvent) => void): void {
    try {
      this.experiments ??= ExperimentStore.open(this.mlpipe.root);
      this.experiments.record(summarize(record, series));
    } catch (error) {
      onEvent({
        type: 'notice',
        message: `could not update the experiment index (${error instanceof Error ? error.message : String(error)}); mlpipe runs reindex rebuilds it from the records`,
      });
    }
  }

  /**
   * Puts a run's outputs back in the workspace from the cache (`mlpipe checkout RUN`): every stage
   * of the run that finished, as it was then. Returns the paths restored.
   */
  checkout(runId: string): string[] {
    const record =
      this.mlpipe.readRecord(runId) ??
      this.mlpipe.readRecord(this.mlpipe.runIds().find((id) => id.startsWith(runId)) ?? '');
    if (!record)
      throw new RunError(
        `no run ${runId} in ${relative(process.cwd(), this.mlpipe.runs) || this.mlpipe.runs}; the folder names there are run ids`,
      );
    const state = new HashState(join(this.mlpipe.root, 'state.json'));
    const plan = this.plan();
    const restored: string[] = [];
    const missing: string[] = [];
    for (const stage of record.stages) {
      if (!stage.key || !['succeeded', 'skipped', 'restored'].includes(stage.status)) continue;
      const entry = this.store.entry(stage.key);
      if (!entry) {
        missing.push(stage.name);
        continue;
      }
      const result = this.restoreEntry(stage.name, entry, state, plan);
      restored.push(...result.restored);
      missing.push(...result.missing);
    }
    state.save();
    if (missing.length > 0)
      throw new RunError(
        `restored ${restored.length} outputs, but the cache no longer holds ${missing.join(', ')}; rerun those stages`,
      );
    return restored;
  }

  /**
   * Puts one stage's cached outputs in the workspace and records them as its last result (so
   * `mlpipe status` sees it up to date). Outputs the local cache lacks are listed, not restored.
   */
  restoreEntry(
    stage: string,
    entry: StageCacheEntry,
    state: HashState,
    plan: Plan = this.plan(),
  ): { restored: string[]; missing: string[] } {
    const restored: string[] = [];
    const missing: string[] = [];
    // Only what the pipeline declares as the stage's outputs: an entry from a remote (or a planted
    // one in .mlpipe/cache) naming src/train.py or .git/hooks/... must not write there.
    const declared = new Set(plan.byName.get(stage)?.outputs.map((output) => output.path) ?? []);
    for (const [path, content] of Object.entries(entry.outputs)) {
      if (!declared.has(path)) {
        missing.push(`${stage} (${path}: not an output of stage '${stage}' in the pipeline now, not restored)`);
        continue;
      }
      if (!this.store.has(content)) {
        missing.push(`${stage} (${path})`);
        continue;
      }
      this.store.restore(join(this.dir, path), content, state);
      restored.push(path);
    }
    if (entry.inputs && missing.length === 0)
      this.mlpipe.saveLastResult(stage, {
        version: 1,
        key: entry.key,
        inputs: entry.inputs,
        outputs: Object.fromEntries(Object.entries(entry.outputs).map(([path, content]) => [path, content.hash])),
        run: entry.run,
        ended: new Date().toISOString(),
      });
    return { restored, missing };
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
