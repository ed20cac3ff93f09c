import { createHash } from 'node:crypto';
import { closeSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { Boundary } from '../util/boundary';
import { readStateFile, writeFileAtomic } from '../runs/files';
import { isRecord, isSafeSubpath } from '../runs/metadata';
import { sign, verify } from '../runs/machine';
import { checkPlannedPaths, type Plan, type PlannedStage } from './plan';
import { type MlpipeDir } from '../runs/records';

/** Set by scripts/build.mjs: a hash of the sources, so a cache written by other code is never used. */
declare const MLPIPE_BUILD: string | undefined;

const FORMAT = 2;

interface CachedPlan {
  format: number;
  build: string;
  /** sha256 of each file the plan was made from, relative to the pipeline's folder; null when absent. */
  inputs: Record<string, string | null>;
  stages: PlannedStage[];
  hosts: Plan['hosts'];
  paramsFiles: string[];
  name?: string;
  remotes?: Record<string, unknown>;
}

/** The build this code belongs to; undefined when running from sources (tests under tsx): no cache then. */
function build(): string | undefined {
  return typeof MLPIPE_BUILD === 'string' ? MLPIPE_BUILD : undefined;
}

/** A plan of 10,000 stages is about 20 MB. */
const MAX_PLAN_BYTES = 128 * 1024 * 1024;

function fileHash(boundary: Boundary, path: string): string | null {
  try {
    const { fd } = boundary.openRead(path);
    try {
      return createHash('sha256').update(readFileSync(fd)).digest('hex');
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
}

/** The shape the runner relies on; anything else plans afresh. */
function wellFormed(cached: CachedPlan): boolean {
  const strings = (value: unknown) => Array.isArray(value) && value.every((item) => typeof item === 'string');
  if (!strings(cached.paramsFiles) || !isRecord(cached.hosts)) return false;
  return cached.stages.every(
    (stage) =>
      isRecord(stage) &&
      typeof stage.name === 'string' &&
      typeof stage.image === 'string' &&
      strings(stage.deps) &&
      strings(stage.upstream) &&
      Array.isArray(stage.outputs) &&
      stage.outputs.every((output) => isRecord(output) && typeof output.path === 'string') &&
      isRecord(stage.command) &&
      strings(stage.command.argv) &&
      isRecord(stage.env),
  );
}

function cachePath(mlpipe: MlpipeDir, pipelinePath: string): string {
  return join(mlpipe.root, 'plans', `${basename(pipelinePath)}.json`);
}

/**
 * The plan saved for this pipeline when the pipeline file and every file its analysis read still
 * have the same content; undefined otherwise (or when the cache is unreadable: it is only a cache).
 */
export function loadCachedPlan(mlpipe: MlpipeDir, pipelinePath: string): Plan | undefined {
  const current = build();
  if (!current) return undefined;
  let cached: CachedPlan;
  try {
    const file = readStateFile(mlpipe.boundary, cachePath(mlpipe, pipelinePath), MAX_PLAN_BYTES);
    if (file === undefined) return undefined;
    // A plan holds the commands that will run: only one this user's mlpipe signed is believed (a
    // repository could carry a plan with other commands than its pipeline shows).
    const newline = file.indexOf('\n');
    const text = file.slice(newline + 1);
    if (newline < 0 || !verify(text, file.slice(0, newline))) return undefined;
    cached = JSON.parse(text) as CachedPlan;
  } catch {
    return undefined;
  }
  if (
    !isRecord(cached) ||
    cached.format !== FORMAT ||
    cached.build !== current ||
    !isRecord(cached.inputs) ||
    !Array.isArray(cached.stages) ||
    !wellFormed(cached)
  )
    return undefined;
  // A plan file is only a cache, and a planted one could name outputs outside the workspace:
  // it is used only when its inputs are files of the workspace and its paths pass the plan's own checks.
  if (!Object.keys(cached.inputs).every(isSafeSubpath)) return undefined;
  try {
    checkPlannedPaths(cached.stages, [basename(pipelinePath), ...cached.paramsFiles]);
  } catch {
    return undefined;
  }
  const dir = dirname(pipelinePath);
  for (const [path, hash] of Object.entries(cached.inputs))
    if (fileHash(mlpipe.boundary, resolve(dir, path)) !== hash) return undefined;
  return {
    stages: cached.stages,
    byName: new Map(cached.stages.map((stage) => [stage.name, stage])),
    hosts: cached.hosts,
    paramsFiles: cached.paramsFiles,
    ...(cached.name !== undefined ? { name: cached.name } : {}),
    ...(isRecord(cached.remotes) ? { remotes: cached.remotes } : {}),
  };
}

/** Whether JSON.parse(JSON.stringify(value)) gives the same value back (properties set to undefined aside). */
function survivesJson(value: unknown, depth = 0): boolean {
  if (depth > 64) return false;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value) && !Object.is(value, -0);
  if (Array.isArray(value)) return value.every((item) => item !== undefined && survivesJson(item, depth + 1));
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.values(value as object).every((item) => item === undefined || survivesJson(item, depth + 1));
  }
  return false;
}

/**
 * Saves a plan with the hashes of the files it came from. Skipped when JSON cannot hold the plan
 * exactly, or when `unchanged` says a file changed after the analysis read it (the hashes might
 * then be of newer content than the plan).
 */
export function saveCachedPlan(
  mlpipe: MlpipeDir,
  pipelinePath: string,
  inputs: string[],
  plan: Plan,
  unchanged: () => boolean,
): void {
  const current = build();
  if (!current) return;
  const dir = dirname(pipelinePath);
  const hashes: Record<string, string | null> = {};
  for (const path of [pipelinePath, ...inputs]) hashes[relative(dir, path)] = fileHash(mlpipe.boundary, path);
  if (!unchanged()) return;
  const cached: CachedPlan = {
    format: FORMAT,
    build: current,
    inputs: hashes,
    stages: plan.stages,
    hosts: plan.hosts,
    paramsFiles: plan.paramsFiles,
    name: plan.name,
    remotes: plan.remotes,
  };
  // A param such as .inf or a date would come back different: such plans are not cached.
  if (!survivesJson(cached)) return;
  const text = JSON.stringify(cached);
  const mac = sign(text);
  if (!mac) return;
  try {
    mlpipe.ensure();
    writeFileAtomic(cachePath(mlpipe, pipelinePath), `${mac}\n${text}`, mlpipe.boundary);
  } catch {
    // A read-only workspace only loses the speed-up.
  }
}
