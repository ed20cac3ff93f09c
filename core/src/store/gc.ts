import { existsSync, lstatSync, readdirSync, rmSync } from 'node:fs';
import { readStateFile } from '../runs/files';
import { Boundary } from '../util/boundary';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { activeLocks } from '../runs/run-lock';
import { ContentStore } from '../runs/content-cache';
import { StoreError, type ExperimentStore } from './store';
import { isModelCardFile, isPipelineFile } from '../util/file-kinds';

/**
 * `mlpipe runs gc`: frees the cache space of old runs. A run's record, params, metrics, series
 * and logs stay (they are small and they are the history); what goes are the cached outputs
 * (`.mlpipe/cache/objects`) that only old runs still point at, and their stage entries, so
 * `mlpipe checkout` of such a run then says which stages to rerun.
 *
 * Never collected: the newest `keep` runs, runs younger than `olderThanDays`, running runs, runs
 * tagged `mlpipe.keep` or `mlpipe.candidate`, the run a model card's `approval.run` names, and the
 * outputs the workspace currently holds (the last result of each stage).
 */
export interface GcOptions {
  /** Newest runs to keep whatever their age (default 10). */
  keep?: number;
  /** Only runs older than this many days are collected (default 0: age does not protect). */
  olderThanDays?: number;
  dryRun?: boolean;
  /** Model cards whose approved run must survive (paths). */
  modelCards?: string[];
  now?: number;
}

export interface GcReport {
  collectedRuns: string[];
  protectedRuns: { id: string; why: string }[];
  removedObjects: number;
  removedEntries: number;
  freedBytes: number;
  dryRun: boolean;
}

const PROTECTING_TAGS = ['mlpipe.keep', 'mlpipe.candidate'];

/** A card or pipeline as gc reads it: within the workspace (links that stay inside followed), at most 4 MB, never a FIFO. */
function readBounded(path: string): string {
  return readStateFile(new Boundary(dirname(path)), path, 4 * 1024 * 1024, 'follow-inside') ?? '';
}

/** The run ids model cards name in `approval.run` (unreadable cards name none). */
export function approvedRuns(cards: string[]): Map<string, string> {
  const runs = new Map<string, string>();
  for (const card of cards) {
    try {
      const data = parseYaml(readBounded(card), { maxAliasCount: 100 }) as { approval?: { run?: unknown } } | null;
      const run = data?.approval?.run;
      if (typeof run === 'string' && run) runs.set(run, card);
    } catch {
      // a card that does not parse protects nothing; `mlpipe check` reports it
    }
  }
  return runs;
}

/**
 * Model cards of the workspace folder: `modelcard.yaml` and `*.modelcard.yaml` there, and the card
 * each pipeline there names in `model.card` (wherever it lives).
 */
export function modelCardsBeside(workspace: string): string[] {
  let names: string[];
  try {
    names = readdirSync(workspace);
  } catch {
    return [];
  }
  const cards = new Set(names.filter(isModelCardFile).map((name) => join(workspace, name)));
  for (const name of names.filter(isPipelineFile)) {
    try {
      const card = (
        parseYaml(readBounded(join(workspace, name)), { maxAliasCount: 100 }) as { model?: { card?: unknown } } | null
      )?.model?.card;
      if (typeof card === 'string') cards.add(resolve(workspace, card));
    } catch {
      // a pipeline that does not parse names no card; mlpipe check reports it
    }
  }
  return [...cards];
}

export function collectGarbage(store: ExperimentStore, options: GcOptions = {}): GcReport {
  // gc deletes: .mlpipe's folders must be its own, not links to folders elsewhere.
  store.dir.checkLayout();
  // A run in progress may be storing or restoring the very objects gc would remove.
  const running = activeLocks(join(store.root, 'locks'));
  if (running.length > 0)
    throw new StoreError(`run ${running[0].run} is in progress; run mlpipe runs gc when it has ended`);
  const keep = options.keep ?? 10;
  const now = options.now ?? Date.now();
  const approved = approvedRuns(options.modelCards ?? modelCardsBeside(dirname(store.root)));
  const cache = new ContentStore(join(store.root, 'cache'));
  const runs = store.runs();
  const collected: string[] = [];
  const protectedRuns: { id: string; why: string }[] = [];
  const liveKeys = new Set<string>();
  runs.forEach((run, index) => {
    const id = run.summary.id;
    const tag = PROTECTING_TAGS.find((name) => name in run.tags);
    const why =
      run.status === 'running'
        ? 'running'
        : approved.has(id)
          ? `approved in ${approved.get(id)}`
          : tag
            ? `tagged ${tag}`
            : index < keep
              ? `one of the newest ${keep}`
              : options.olderThanDays !== undefined &&
                  now - Date.parse(run.summary.started) < options.olderThanDays * 86_400_000
                ? `younger than ${options.olderThanDays} days`
                : undefined;
    const keys =
      why === undefined
        ? []
        : (store.fullRecord(id)?.stages ?? []).map((stage) => stage.key).filter((key): key is string => Boolean(key));
    if (why) {
      if (why !== `one of the newest ${keep}` && why !== `younger than ${options.olderThanDays} days`)
        protectedRuns.push({ id, why });
      for (const key of keys) liveKeys.add(key);
    } else {
      collected.push(id);
    }
  });
  // What the workspace holds now stays restorable, whichever run made it.
  const last = join(store.root, 'last');
  if (existsSync(last)) {
    for (const name of readdirSync(last)) {
      try {
        const key = (
          JSON.parse(readStateFile(store.dir.boundary, join(last, name), 1024 * 1024) ?? '{}') as { key?: string }
        ).key;
        if (key) liveKeys.add(key);
      } catch {
        // an unreadable state file protects nothing
      }
    }
  }
  // Entries only collected runs point at, and those of deleted runs, go.
  const entries = cache.entries();
  const liveObjects = new Set<string>();
  const doomed: typeof entries = [];
  for (const entry of entries) {
    if (liveKeys.has(entry.key)) {
      for (const content of Object.values(entry.outputs))
        for (const hash of content.kind === 'file' ? [content.hash] : Object.values(content.files ?? {}))
          liveObjects.add(hash);
    } else {
      doomed.push(entry);
    }
  }
  const objects = new Set<string>();
  for (const entry of doomed)
    for (const content of Object.values(entry.outputs))
      for (const hash of content.kind === 'file' ? [content.hash] : Object.values(content.files ?? {}))
        if (!liveObjects.has(hash)) objects.add(hash);
  let freedBytes = 0;
  for (const hash of objects) {
    const path = cache.objectFile(hash);
    try {
      // Only the cache's own files: never through a link planted on the way or in the object's place.
      cache.workspace.assertNoLinks(path);
      const stat = lstatSync(path);
      if (!stat.isFile() && !stat.isSymbolicLink()) continue;
      freedBytes += stat.isFile() ? stat.size : 0;
    } catch {
      continue;
    }
    if (!options.dryRun) rmSync(path, { force: true });
  }
  if (!options.dryRun) for (const entry of doomed) cache.removeEntry(entry.key);
  return {
    collectedRuns: collected,
    protectedRuns,
    removedObjects: objects.size,
    removedEntries: doomed.length,
    freedBytes,
    dryRun: Boolean(options.dryRun),
  };
}
