import { hashText } from './hash';

/** What a stage asks of the machine that runs it. */
export interface StageResources {
  gpus?: number | 'all';
  cpus?: number;
  memoryBytes?: number;
  shmBytes?: number;
}

/**
 * What a stage's cache key is made of: the command as run, the params it reads, the content of
 * each dep, the image digest, env, resources, working dir and network (docs/runner.md). Kept in
 * records and cache entries to explain later changes.
 */
export interface KeyInputs {
  command: string;
  image: string;
  params: Record<string, unknown>;
  deps: Record<string, string>;
  env: Record<string, string>;
  resources: StageResources;
  workdir: string;
  network: string;
}

export function cacheKey(inputs: KeyInputs): string {
  return hashText(JSON.stringify({ version: 1, ...inputs }));
}
