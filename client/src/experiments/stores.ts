import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MlpipeDir } from '../../../core/src/runs/records';
import { ExperimentStore } from '../../../core/src/store/store';
import { type TrustGate } from '../trust';

/**
 * The experiment store of a `.mlpipe/` folder, to read; undefined where opening it would write in
 * an untrusted workspace (a store rebuilds a missing index from the run records): an untrusted
 * workspace's `.mlpipe/` is left as it is, and its runs show once the workspace is trusted.
 */
export function openStore(root: string, trust: TrustGate): ExperimentStore | undefined {
  if (!trust.trusted && !existsSync(join(root, 'store', 'index.jsonl')) && existsSync(new MlpipeDir(root).runs))
    return undefined;
  return ExperimentStore.open(root);
}
