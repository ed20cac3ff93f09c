import { join } from 'node:path';
import { type ContentHash, type HashState } from '../runs/hash';
import { readStateFile, writeFileAtomic } from '../runs/files';
import { isDigest, isRecord, isSafeRelativePath, stageFileName } from '../runs/metadata';
import { type KeyInputs } from '../runs/keys';
import { type MlpipeDir } from '../runs/records';
import { type RunContext } from './context';
import { type PlannedStage } from './plan';

/**
 * A stage's state as another tool left it, imported once (`mlpipe import dvc` from dvc.lock):
 * the stage's key inputs as mlpipe computes them, without the image (no engine was asked), and
 * the content of its outputs. The importer writes one only after checking the workspace's files
 * against the other tool's hashes. A run adopts it when the stage's inputs and outputs are still
 * exactly those: the outputs go into the cache under the real key and the stage is skipped, so
 * nothing reruns that was up to date; anything else (and `--force`) runs as usual.
 */
export interface StageSeed {
  version: 1;
  /** Where the state came from, for the log line (`dvc.lock`). */
  source: string;
  stage: string;
  inputs: Omit<KeyInputs, 'image'>;
  outputs: Record<string, ContentHash>;
}

const MAX_SEED_BYTES = 16 * 1024 * 1024;

export function seedPath(mlpipe: MlpipeDir, stage: string): string {
  return join(mlpipe.root, 'seeds', `${stageFileName(stage)}.json`);
}

export function writeSeed(mlpipe: MlpipeDir, seed: StageSeed): void {
  mlpipe.ensure();
  writeFileAtomic(seedPath(mlpipe, seed.stage), `${JSON.stringify(seed, null, 2)}\n`, mlpipe.boundary);
}

function isContentHash(value: unknown): value is ContentHash {
  return (
    isRecord(value) &&
    (value.kind === 'file' || value.kind === 'dir') &&
    isDigest(value.hash) &&
    typeof value.size === 'number' &&
    (value.files === undefined ||
      (isRecord(value.files) &&
        Object.entries(value.files).every(([path, hash]) => isSafeRelativePath(path) && isDigest(hash))))
  );
}

/** The seed of a stage, or undefined when there is none or it is damaged (`.mlpipe/` is untrusted input). */
export function readSeed(mlpipe: MlpipeDir, stage: string): StageSeed | undefined {
  try {
    const text = readStateFile(mlpipe.boundary, seedPath(mlpipe, stage), MAX_SEED_BYTES);
    if (text === undefined) return undefined;
    const data = JSON.parse(text) as unknown;
    if (
      !isRecord(data) ||
      data.version !== 1 ||
      data.stage !== stage ||
      typeof data.source !== 'string' ||
      !isRecord(data.inputs) ||
      !isRecord(data.outputs) ||
      !Object.entries(data.outputs).every(([path, hash]) => isSafeRelativePath(path) && isContentHash(hash))
    )
      return undefined;
    return data as unknown as StageSeed;
  } catch {
    return undefined;
  }
}

/** Everything but the image, compared as the cache key would see it. */
function sameInputs(seed: StageSeed['inputs'], now: KeyInputs): boolean {
  const { image: _image, ...rest } = now;
  return JSON.stringify(seed) === JSON.stringify(rest);
}

/** The seed of a stage when it still holds: the same inputs (but the image) and outputs as it says. */
export async function heldSeed(
  mlpipe: MlpipeDir,
  dir: string,
  stage: PlannedStage,
  inputs: KeyInputs,
  state: HashState,
): Promise<{ seed: StageSeed; outputs: Record<string, ContentHash> } | undefined> {
  const seed = readSeed(mlpipe, stage.name);
  if (!seed || !sameInputs(seed.inputs, inputs)) return undefined;
  const outputs: Record<string, ContentHash> = {};
  for (const output of stage.outputs) {
    let current: ContentHash | undefined;
    try {
      current = await state.hash(join(dir, output.path), 'refuse');
    } catch {
      return undefined; // a link where an output should be: it runs, and fails there with the reason
    }
    if (!current || current.hash !== seed.outputs[output.path]?.hash) return undefined;
    outputs[output.path] = current;
  }
  return { seed, outputs };
}

/**
 * The outputs of a seed that still holds for this stage, cached and saved as a cache entry under
 * the stage's real key; undefined when it does not hold.
 */
export async function adoptSeed(
  run: RunContext,
  stage: PlannedStage,
  key: string,
  inputs: KeyInputs,
  state: HashState,
): Promise<{ outputs: Record<string, ContentHash>; source: string } | undefined> {
  const held = await heldSeed(run.mlpipe, run.dir, stage, inputs, state);
  if (!held) return undefined;
  const { outputs } = held;
  for (const output of stage.outputs) if (output.cache) run.store.put(join(run.dir, output.path), outputs[output.path]);
  run.store.saveEntry({
    version: 1,
    key,
    stage: stage.name,
    run: run.record.id,
    created: new Date().toISOString(),
    outputs,
    inputs,
  });
  return { outputs, source: held.seed.source };
}
