import { statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { type StageCacheEntry } from '../runs/content-cache';
import { RemoteDamaged } from '../remote/backend';
import { HashState } from '../runs/hash';
import { type RunRecord } from '../runs/records';
import { EXIT, UserError } from '../errors';
import { approvedRuns, modelCardsBeside } from '../store/gc';
import { ExperimentStore } from '../store/store';
import {
  digestsOf,
  type FetchSummary,
  type OutputRemote,
  type PushSummary,
  type RemoteCache,
  type RemoteCacheOptions,
  type RunIndex,
} from '../remote/sync';
import { reason, type Executor } from './executor';
import { openExecutor } from './executors';
import { RunError } from './context';
import { cacheKey, keyInputs, type Plan, type PlannedStage } from './plan';
import { type Runner } from './runner';

/*
 * The runner's side of the team cache: which remote a run consults, pushing runs (their entries
 * and objects, then an index of the run), pulling runs or the current pipeline's stages into the
 * local cache and the workspace, and what is where (`mlpipe cache status`).
 */

const FINISHED = new Set(['succeeded', 'skipped', 'restored']);

/** Like Runner.openRemote, but a pipeline without remotes is a usage error (for `mlpipe cache`). */
export function requireRemoteCache(runner: Runner, options: RemoteCacheOptions = {}): RemoteCache {
  const cache = runner.openRemote(runner.plan(), options);
  if (!cache)
    throw new RunError(
      `${relative(process.cwd(), runner.pipelinePath) || runner.pipelinePath} declares no remote: add remotes: { team: { url: s3://bucket/prefix } } to it, or to .mlpipe/config.yaml`,
    );
  return cache;
}

/** The remote an output's objects go to: its own `remote:`, else the default. */
export function outputRemoteOf(plan: Plan): OutputRemote {
  return (stage, path) => plan.byName.get(stage)?.outputs.find((output) => output.path === path)?.remote;
}

export function runIndexOf(record: RunRecord): RunIndex {
  return {
    version: 1,
    run: record.id,
    pipeline: record.pipeline,
    ...(record.name ? { name: record.name } : {}),
    created: record.ended ?? record.started,
    ...(record.git ? { git: record.git } : {}),
    stages: record.stages
      .filter((stage) => stage.key && FINISHED.has(stage.status))
      .map((stage) => ({ name: stage.name, key: stage.key! })),
  };
}

/** A run id or a unique prefix of one, among the local runs. */
export function findRun(runner: Runner, id: string): RunRecord | undefined {
  const ids = runner.mlpipe.runIds();
  const matches = ids.includes(id) ? [id] : ids.filter((one) => one.startsWith(id));
  if (matches.length > 1)
    throw new UserError(`'${id}' matches ${matches.length} runs; give more of the id`, EXIT.usage);
  return matches[0] ? runner.mlpipe.readRecord(matches[0]) : undefined;
}

/** The newest local run with something to push. */
export function latestRun(runner: Runner): RunRecord | undefined {
  for (const id of [...runner.mlpipe.runIds()].sort().reverse()) {
    const record = runner.mlpipe.readRecord(id);
    if (record && record.stages.some((stage) => stage.key && FINISHED.has(stage.status))) return record;
  }
  return undefined;
}

/** Pushes runs (their stage entries with the objects, then their indexes) to the remote. */
export async function pushRuns(
  runner: Runner,
  cache: RemoteCache,
  records: RunRecord[],
  remote?: string,
): Promise<PushSummary> {
  const entries = new Map<string, StageCacheEntry>();
  const skipped: string[] = [];
  for (const record of records)
    for (const stage of record.stages) {
      if (!stage.key || !FINISHED.has(stage.status) || entries.has(stage.key)) continue;
      const entry = runner.store.entry(stage.key);
      if (entry) entries.set(stage.key, entry);
      else
        skipped.push(
          `${stage.name} of run ${record.id}: the local cache has no entry for it (mlpipe runs gc removed it?)`,
        );
    }
  const summary = await cache.push([...entries.values()], records.map(runIndexOf), {
    ...(remote ? { remote } : {}),
    outputRemote: outputRemoteOf(runner.plan()),
  });
  summary.skipped.unshift(...skipped);
  return summary;
}

export interface PullSummary extends FetchSummary {
  /** Stages restored into the workspace. */
  restored: string[];
  /** Stages that could not be: not on the remote, or an upstream missing. */
  missing: string[];
}

/** What one pull shares: the plan (read once), the hash state, the tally, and the remote asked. */
interface Pull {
  runner: Runner;
  cache: RemoteCache;
  plan: Plan;
  state: HashState;
  summary: PullSummary;
  remote?: string;
}

function startPull(runner: Runner, cache: RemoteCache, remote: string | undefined): Pull {
  return {
    runner,
    cache,
    plan: runner.plan(),
    state: new HashState(join(runner.mlpipe.root, 'state.json')),
    summary: { objects: 0, bytes: 0, restored: [], missing: [] },
    ...(remote ? { remote } : {}),
  };
}

/** Fetches an entry's objects (the local cache's first) and, with `checkout`, puts its outputs in the workspace. */
async function fetchAndRestore(pull: Pull, stage: string, entry: StageCacheEntry, checkout: boolean): Promise<void> {
  const { runner, summary } = pull;
  const fetched = await pull.cache.fetchObjects(entry, {
    ...(pull.remote ? { remote: pull.remote } : {}),
    outputRemote: outputRemoteOf(pull.plan),
  });
  summary.objects += fetched.objects;
  summary.bytes += fetched.bytes;
  runner.store.saveEntry(entry);
  if (!checkout) return;
  const result = runner.restoreEntry(stage, entry, pull.state, pull.plan);
  if (result.missing.length > 0) summary.missing.push(...result.missing);
  else summary.restored.push(stage);
}

/** Pulls runs by id (local records, or the remote's run index in a fresh clone): into the cache, and the last one into the workspace. */
export async function pullRuns(
  runner: Runner,
  cache: RemoteCache,
  ids: string[],
  options: { remote?: string; stages?: string[]; checkout?: boolean } = {},
): Promise<PullSummary> {
  const pull = startPull(runner, cache, options.remote);
  try {
    for (const [index, id] of ids.entries()) {
      const local = findRun(runner, id);
      const stages = local ? runIndexOf(local).stages : (await cache.fetchRun(id, options.remote))?.stages;
      if (!stages)
        throw new RunError(
          `no run ${id} here or on remote '${cache.spec(options.remote).name}' (mlpipe cache status lists the remote's runs)`,
        );
      const checkout = (options.checkout ?? true) && index === ids.length - 1;
      for (const stage of stages) {
        if (options.stages && !options.stages.includes(stage.name)) continue;
        const entry = runner.store.entry(stage.key) ?? (await cache.fetchEntry(stage.key, options.remote));
        if (!entry) {
          pull.summary.missing.push(`${stage.name} (run ${id}: its entry is on no remote)`);
          continue;
        }
        await fetchAndRestore(pull, stage.name, entry, checkout);
      }
    }
  } finally {
    pull.state.save();
  }
  return pull.summary;
}

/**
 * Pulls what the pipeline as it is now needs, stage by stage in order: each stage's cache key
 * from its deps (upstream outputs restored just before), its params, command and image, then its
 * entry, local or remote. A stage no cache has stops its downstream: they would run.
 */
export async function pullPipeline(
  runner: Runner,
  cache: RemoteCache,
  options: { remote?: string; stages?: string[] } = {},
): Promise<PullSummary> {
  const pull = startPull(runner, cache, options.remote);
  const { plan, state, summary } = pull;
  const executors = new Map<string, Promise<Executor>>();
  const unavailable = new Set<string>();
  try {
    for (const stage of plan.stages) {
      if (options.stages && !options.stages.includes(stage.name) && !needed(plan, stage, options.stages)) continue;
      const blocked = stage.upstream.find((name) => unavailable.has(name));
      if (blocked) {
        unavailable.add(stage.name);
        summary.missing.push(`${stage.name} (upstream '${blocked}' is not cached)`);
        continue;
      }
      const key = await currentKey(runner, plan, stage, state, executors);
      const entry = key && (runner.store.entry(key) ?? (await cache.fetchEntry(key, options.remote)));
      if (!entry) {
        unavailable.add(stage.name);
        summary.missing.push(`${stage.name} (${key ? 'no cache has its current inputs' : 'a dep is missing'})`);
        continue;
      }
      await fetchAndRestore(pull, stage.name, entry, true);
    }
  } finally {
    state.save();
  }
  return summary;
}

/** Whether `stage` is upstream of one of `targets` (pulled so they can be keyed). */
function needed(plan: Plan, stage: PlannedStage, targets: string[]): boolean {
  const seen = new Set<string>();
  const walk = (name: string): boolean => {
    if (seen.has(name)) return false;
    seen.add(name);
    const planned = plan.byName.get(name);
    return Boolean(planned?.upstream.some((up) => up === stage.name || walk(up)));
  };
  return targets.some(walk);
}

/** A stage's cache key as the runner would compute it now; undefined when a dep is missing. */
async function currentKey(
  runner: Runner,
  plan: Plan,
  stage: PlannedStage,
  state: HashState,
  executors: Map<string, Promise<Executor>>,
): Promise<string | undefined> {
  const deps: Record<string, string> = {};
  for (const dep of stage.deps) {
    const hashed = await state.hash(join(runner.dir, dep), 'follow-inside');
    if (!hashed) return undefined;
    deps[dep] = hashed.hash;
  }
  let executor = executors.get(stage.host);
  if (!executor) {
    executor = openExecutor(runner.hostSpec(stage.host, plan), runner.dir);
    executors.set(stage.host, executor);
  }
  let digest: string | undefined;
  try {
    digest = await (await executor).imageDigest(stage.image);
  } catch (error) {
    throw new RunError(
      `stage '${stage.name}': cannot ask host '${stage.host}' for the digest of ${stage.image}: ${reason(error)}`,
    );
  }
  if (!digest)
    throw new RunError(
      `stage '${stage.name}': the image ${stage.image} is not on host '${stage.host}', so its cache key is unknown; pull or build it first (docker pull ${stage.image})`,
    );
  return cacheKey(keyInputs(stage, deps, digest));
}

export interface CacheStatus {
  remote: string;
  shown: string;
  /** Stage entries by where they are. */
  entries: { localOnly: number; remoteOnly: number; both: number };
  /** Objects the local entries reference, by where they are (objects of remote-only entries are not counted). */
  objects: { localOnly: number; both: number; bytesLocalOnly: number };
  /** Local runs and whether the remote has their index. */
  runs: { id: string; remote: boolean }[];
  remoteRuns: number;
}

/** What is local only, remote only, or both. */
export async function cacheStatus(runner: Runner, cache: RemoteCache, remote?: string): Promise<CacheStatus> {
  const backend = await cache.backend(remote);
  const [remoteEntries, remoteRuns] = await Promise.all([
    backend.listDocuments('stages'),
    backend.listDocuments('runs'),
  ]);
  const remoteKeys = new Set(remoteEntries.map((listed) => `sha256:${listed.name}`));
  const local = runner.store.entries();
  const localKeys = new Set(local.map((entry) => entry.key));
  const both = [...localKeys].filter((key) => remoteKeys.has(key)).length;
  const digests = new Map<string, number>();
  for (const entry of local)
    for (const content of Object.values(entry.outputs))
      for (const digest of digestsOf(content)) {
        const file = runner.store.intactObject(digest);
        if (file) digests.set(digest, statSync(file).size);
      }
  const present = await backend.present([...digests.keys()]);
  let bytesLocalOnly = 0;
  for (const [digest, size] of digests) if (!present.has(digest)) bytesLocalOnly += size;
  const remoteRunIds = new Set(remoteRuns.map((listed) => listed.name));
  return {
    remote: backend.spec.name,
    shown: backend.shown,
    entries: { localOnly: localKeys.size - both, remoteOnly: remoteKeys.size - both, both },
    objects: { localOnly: digests.size - present.size, both: present.size, bytesLocalOnly },
    runs: runner.mlpipe
      .runIds()
      .sort()
      .map((id) => ({ id, remote: remoteRunIds.has(id) })),
    remoteRuns: remoteRunIds.size,
  };
}

export interface RemoteGcReport {
  remote: string;
  dryRun: boolean;
  /** Run indexes removed, and the runs kept for a reason other than their age. */
  runsRemoved: string[];
  protectedRuns: { id: string; why: string }[];
  entriesRemoved: number;
  entriesKept: number;
  objectsRemoved: number;
  bytesRemoved: number;
  /** False for an OCI registry: its own garbage collection frees the blobs no tag references any more. */
  objectsDeletedHere: boolean;
}

/**
 * Garbage collection of a remote: run indexes older than `keepDays` go, unless a model card's
 * approval names the run or it is tagged mlpipe.keep or mlpipe.candidate here; entries no kept run
 * references and older than `keepDays` go; then objects no kept entry references, but never one
 * younger than `graceMs` (a push in progress uploads objects before the entry naming them).
 */
export async function remoteGc(
  runner: Runner,
  cache: RemoteCache,
  options: { remote?: string; keepDays?: number; dryRun?: boolean; now?: number; graceMs?: number },
): Promise<RemoteGcReport> {
  const backend = await cache.backend(options.remote);
  const now = options.now ?? Date.now();
  const keepMs = (options.keepDays ?? 30) * 86_400_000;
  const graceMs = options.graceMs ?? 3_600_000;
  const old = (modified: Date | undefined) => !modified || now - modified.getTime() > keepMs;
  const approved = approvedRuns(modelCardsBeside(runner.dir));
  const tagged = new Map<string, string>();
  try {
    for (const run of ExperimentStore.open(runner.mlpipe.root).runs()) {
      const tag = ['mlpipe.keep', 'mlpipe.candidate'].find((name) => name in run.tags);
      if (tag) tagged.set(run.summary.id, `tagged ${tag}`);
    }
  } catch {
    // no local store: nothing tagged here
  }
  const report: RemoteGcReport = {
    remote: backend.spec.name,
    dryRun: Boolean(options.dryRun),
    runsRemoved: [],
    protectedRuns: [],
    entriesRemoved: 0,
    entriesKept: 0,
    objectsRemoved: 0,
    bytesRemoved: 0,
    objectsDeletedHere: true,
  };
  // A document that cannot be read now (a 503, a dropped connection) aborts gc before anything is
  // deleted; only one that is there but damaged counts as referencing nothing.
  const damagedIsNone = (error: unknown) => {
    if (error instanceof RemoteDamaged) return undefined;
    throw error;
  };
  const liveKeys = new Set<string>();
  for (const listed of await backend.listDocuments('runs')) {
    const id = listed.name;
    const index = await cache.fetchRun(id, options.remote).catch(damagedIsNone);
    const why = approved.has(id) ? `approved in ${approved.get(id)}` : tagged.get(id);
    const created = index ? new Date(index.created) : listed.modified;
    if (why) report.protectedRuns.push({ id, why });
    if (why || (index && !old(Number.isNaN(created?.getTime()) ? listed.modified : created)))
      for (const stage of index?.stages ?? []) liveKeys.add(stage.key);
    else report.runsRemoved.push(id);
  }
  // A protected run known only here (its index never pushed) still protects its entries.
  for (const id of [...approved.keys(), ...tagged.keys()])
    for (const stage of findRun(runner, id)?.stages ?? []) if (stage.key) liveKeys.add(stage.key);
  const liveObjects = new Set<string>();
  const keep = (entry: StageCacheEntry | undefined) => {
    for (const content of Object.values(entry?.outputs ?? {}))
      for (const digest of digestsOf(content)) liveObjects.add(digest);
  };
  const removeEntries: string[] = [];
  for (const listed of await backend.listDocuments('stages')) {
    const key = `sha256:${listed.name}`;
    if (!liveKeys.has(key) && old(listed.modified)) {
      removeEntries.push(listed.name);
      continue;
    }
    report.entriesKept++;
    keep(await cache.fetchEntry(key, options.remote).catch(damagedIsNone));
  }
  // Cleaning a remote that outputs name (`outs: [{ remote: archive }]`): their entries live on the
  // default remote, and every one of those keeps its objects here.
  const main = cache.spec().name;
  if (main !== backend.spec.name) {
    const defaults = await cache.backend();
    for (const listed of await defaults.listDocuments('stages'))
      keep(await cache.fetchEntry(`sha256:${listed.name}`).catch(damagedIsNone));
  }
  report.entriesRemoved = removeEntries.length;
  const removeObjects: string[] = [];
  for (const listed of await backend.listObjects()) {
    if (liveObjects.has(listed.name)) continue;
    if (listed.modified && now - listed.modified.getTime() < graceMs) continue;
    removeObjects.push(listed.name);
    report.bytesRemoved += (listed as { size?: number }).size ?? 0;
  }
  report.objectsRemoved = removeObjects.length;
  if (!options.dryRun) {
    await backend.deleteDocuments('runs', report.runsRemoved);
    await backend.deleteDocuments('stages', removeEntries);
    report.objectsDeletedHere = await backend.deleteObjects(removeObjects);
    const s3 = backend as { abortStaleUploads?: (before: Date) => Promise<number> };
    await s3.abortStaleUploads?.(new Date(now - 86_400_000));
  } else report.objectsDeletedHere = backend.spec.kind !== 'oci';
  return report;
}
