import { join } from 'node:path';
import { BoundaryError } from '../util/boundary';
import { HashState } from '../runs/hash';
import { type StageCacheEntry } from '../runs/content-cache';
import { type RemoteCache } from '../remote/sync';
import { reason, type Executor } from './executor';
import { openExecutor } from './executors';
import { cacheKey, explainChange, keyInputs, selectStages, type PlannedStage } from './plan';
import { RunError, type Runner } from './runner';
import { heldSeed } from './seed';

export interface StageReport {
  name: string;
  /** up-to-date: nothing to do; cached: the cache has outputs for these inputs; stale/never-run: would run. */
  state: 'up-to-date' | 'cached' | 'stale' | 'never-run';
  reasons: string[];
  host: string;
  /** For `cached`: the remote that holds the entry, when the local cache does not. */
  remote?: string;
  /** The host is a Kubernetes cluster (the stage runs there as a Job). */
  cluster?: boolean;
}

export interface StatusOptions {
  stages: string[];
  upstream: boolean;
  /** Ask the hosts' executors for image digests (a changed image makes a stage stale). */
  images: boolean;
  /** Also look keys up in the default remote's run-cache ("cached (remote)"). */
  remote?: RemoteCache;
  /** Told once when the remote cannot be asked (the report then says what the local cache knows). */
  onRemoteFailure?: (message: string) => void;
}

/**
 * Which stages are out of date and why (which dep, param, command or image changed), without
 * running anything. Reads only file metadata when hashes are known (`.mlpipe/state.json`).
 */
export async function pipelineStatus(runner: Runner, options: StatusOptions): Promise<StageReport[]> {
  const plan = runner.plan();
  let targets: PlannedStage[];
  try {
    targets = selectStages(plan, options.stages, options.upstream);
  } catch (error) {
    throw new RunError((error as Error).message);
  }
  const state = new HashState(join(runner.mlpipe.root, 'state.json'));
  const executors = new Map<string, Promise<Executor | string>>();
  const digests = new Map<string, Promise<string | undefined>>();
  const digestOf = (stage: PlannedStage): Promise<string | undefined> => {
    if (!options.images) return Promise.resolve(undefined);
    const id = `${stage.host}\n${stage.image}`;
    let digest = digests.get(id);
    if (!digest) {
      let executor = executors.get(stage.host);
      if (!executor) {
        executor = openExecutor(runner.hostSpec(stage.host, plan), runner.dir).catch((error: unknown) => reason(error));
        executors.set(stage.host, executor);
      }
      digest = executor.then((resolved) =>
        typeof resolved === 'string' ? undefined : resolved.imageDigest(stage.image),
      );
      digests.set(id, digest);
    }
    return digest;
  };
  const reports = new Map<string, StageReport>();
  // The remote's entries by key (asked once each); a remote that fails is not asked again.
  const remoteEntries = new Map<string, StageCacheEntry>();
  const asked = new Map<string, Promise<StageCacheEntry | undefined>>();
  let remoteFailed = false;
  const remoteEntry = (key: string): Promise<StageCacheEntry | undefined> => {
    if (!options.remote || remoteFailed) return Promise.resolve(undefined);
    let entry = asked.get(key);
    if (!entry) {
      entry = options.remote.fetchEntry(key).catch((error: unknown) => {
        remoteFailed = true;
        options.onRemoteFailure?.(reason(error));
        return undefined;
      });
      asked.set(key, entry);
    }
    return entry;
  };
  // Outputs an upstream stage will have after the run: its own when up to date, the cached ones when
  // restored. Unknown (absent) when it has to run: then its downstream has to run too.
  const predicted = new Map<string, Map<string, string>>();
  const byName = new Map(plan.stages.map((stage) => [stage.name, stage]));
  for (const stage of targets) {
    const deps: Record<string, string> = {};
    const missing: string[] = [];
    const unknown: string[] = [];
    const unknownDeps = new Set<string>();
    for (const dep of stage.deps) {
      const producer = stage.upstream
        .map((name) => byName.get(name)!)
        .find((up) => up.outputs.some((output) => output.path === dep));
      if (producer && reports.has(producer.name)) {
        const hash = predicted.get(producer.name)?.get(dep);
        if (hash) deps[dep] = hash;
        else {
          unknown.push(producer.name);
          unknownDeps.add(dep);
        }
        continue;
      }
      const hashed = await state.hash(join(runner.dir, dep), 'follow-inside');
      if (hashed) deps[dep] = hashed.hash;
      else missing.push(dep);
    }
    const last = runner.mlpipe.lastResult(stage.name);
    const digest = (await digestOf(stage)) ?? last?.inputs.image ?? 'unknown';
    const inputs = keyInputs(stage, deps, digest);
    const key = cacheKey(inputs);
    const reasons: string[] = [];
    const staleUpstream = [...new Set(unknown)];
    for (const name of staleUpstream) reasons.push(`upstream '${name}' runs first`);
    for (const dep of missing) reasons.push(`dep ${dep} is missing`);
    let report: StageReport;
    let seeded: Awaited<ReturnType<typeof heldSeed>>;
    if (last && last.key === key && staleUpstream.length === 0 && missing.length === 0) {
      const changed: string[] = [];
      for (const output of stage.outputs) {
        let current: Awaited<ReturnType<HashState['hash']>>;
        try {
          current = await state.hash(join(runner.dir, output.path), 'refuse');
        } catch (error) {
          if (!(error instanceof BoundaryError)) throw error;
          changed.push(`output ${output.path} is not a plain file or folder (${error.message.split(';')[0]})`);
          continue;
        }
        if (!current) changed.push(`output ${output.path} is missing`);
        else if (current.hash !== last.outputs[output.path]) changed.push(`output ${output.path} was modified`);
      }
      report =
        changed.length === 0
          ? { name: stage.name, state: 'up-to-date', reasons: [], host: stage.host }
          : {
              name: stage.name,
              state: 'cached',
              reasons: [...changed, 'would restore it from the cache'],
              host: stage.host,
            };
    } else if (missing.length === 0 && staleUpstream.length === 0 && runner.store.entry(key)) {
      const changed = last ? explainChange(last.inputs, inputs) : [];
      report = {
        name: stage.name,
        state: 'cached',
        reasons: [
          ...changed,
          `same inputs as run ${runner.store.entry(key)!.run}: would restore its outputs from the cache`,
        ],
        host: stage.host,
      };
    } else if (missing.length === 0 && staleUpstream.length === 0 && (await remoteEntry(key))) {
      const entry = (await remoteEntry(key))!;
      const name = options.remote!.spec().name;
      remoteEntries.set(stage.name, entry);
      report = {
        name: stage.name,
        state: 'cached',
        reasons: [
          ...(last ? explainChange(last.inputs, inputs) : []),
          `same inputs as run ${entry.run} on remote '${name}': would restore its outputs from there`,
        ],
        host: stage.host,
        remote: name,
      };
    } else if (
      !last &&
      missing.length === 0 &&
      staleUpstream.length === 0 &&
      (seeded = await heldSeed(runner.mlpipe, runner.dir, stage, inputs, state))
    ) {
      // Imported (dvc.lock) and still as recorded: mlpipe run skips it.
      report = { name: stage.name, state: 'up-to-date', reasons: [], host: stage.host };
      predicted.set(stage.name, new Map(Object.entries(seeded.outputs).map(([path, content]) => [path, content.hash])));
    } else if (!last) {
      report = { name: stage.name, state: 'never-run', reasons, host: stage.host };
    } else {
      // Deps an upstream stage is about to rewrite are explained by that stage, not compared here.
      const lastInputs = {
        ...last.inputs,
        deps: Object.fromEntries(Object.entries(last.inputs.deps).filter(([dep]) => !unknownDeps.has(dep))),
      };
      report = {
        name: stage.name,
        state: 'stale',
        reasons: [...reasons, ...explainChange(lastInputs, inputs)],
        host: stage.host,
      };
      if (report.reasons.length === 0) report.reasons.push('inputs changed');
    }
    if (stage.alwaysRun && report.state === 'up-to-date')
      report = { ...report, state: 'stale', reasons: ['always_run'] };
    if (plan.hosts[stage.host]?.kubernetes) report.cluster = true;
    reports.set(stage.name, report);
    if (report.state === 'up-to-date' && last) predicted.set(stage.name, new Map(Object.entries(last.outputs)));
    else if (report.state === 'cached') {
      const entry = remoteEntries.get(stage.name) ?? runner.store.entry(key);
      predicted.set(
        stage.name,
        new Map(
          Object.entries(entry?.outputs ?? last?.outputs ?? {}).map(([path, content]) => [
            path,
            typeof content === 'string' ? content : content.hash,
          ]),
        ),
      );
    }
  }
  state.save();
  return [...reports.values()];
}
