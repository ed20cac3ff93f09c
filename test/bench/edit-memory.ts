/**
 * Heap kept across edits: core's Workspace (what the language server holds per document) on a
 * generated pipeline of 1,000 stages, 200 edits each in a different stage, the heap measured after
 * forced collections. A re-parsed block that kept a view into its version of the text would pin
 * every version: the peer is that, 200 times the text's size. Target: under 10 MB.
 *
 * Part of `npm run bench:lsp`; alone: node --import tsx test/bench/edit-memory.ts
 */
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { nodeFileHost } from '../../core/src/workspace/file-host';
import { Workspace } from '../../core/src/workspace/workspace';
import { tempWorkspace } from '../support/files';
import { generatePipelineText } from '../support/generate';

export const EDIT_MEMORY_TARGET_MB = 10;

export interface EditMemoryResult {
  stages: number;
  edits: number;
  textMB: number;
  /** Heap after the edits less the heap after opening, both after full collections. */
  growthMB: number;
  /** What keeping every version of the text alive would hold. */
  everyVersionMB: number;
}

function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

export function measureEditMemory(stages = 1000, edits = 200): EditMemoryResult {
  const gc = collector();
  const heapMB = () => {
    gc();
    gc();
    return process.memoryUsage().heapUsed / 1024 / 1024;
  };
  const { dir, cleanup } = tempWorkspace({ 'params.yaml': 'seed: 1\ntrain:\n  lr: 0.1\n', 'src/step.py': '' });
  try {
    const path = join(dir, 'mlpipe.yaml');
    let text = generatePipelineText(stages, { aliases: false });
    const workspace = new Workspace(nodeFileHost);
    workspace.open(path, text, 0);
    workspace.analyze(path);
    const afterOpen = heapMB();
    for (let i = 0; i < edits; i++) {
      // 37 is prime to the stage count, so each edit lands in another stage.
      const marker = `  s${(i * 37) % stages}:\n    cmd: python`;
      text = text.replace(marker, `${marker}3`);
      workspace.change(path, text, i + 1);
      workspace.analyze(path);
    }
    const growthMB = heapMB() - afterOpen;
    const round = (mb: number) => Math.round(mb * 10) / 10;
    return {
      stages,
      edits,
      textMB: round(text.length / 1024 / 1024),
      growthMB: round(growthMB),
      everyVersionMB: round((edits * text.length) / 1024 / 1024),
    };
  } finally {
    cleanup();
  }
}

export function describeEditMemory(result: EditMemoryResult): string {
  const ratio =
    result.growthMB > 0 ? `${(result.everyVersionMB / result.growthMB).toFixed(1)}x less than that` : 'nothing kept';
  return `heap after ${result.edits} edits to a ${result.stages}-stage pipeline (${result.textMB} MB): +${result.growthMB} MB (target < ${EDIT_MEMORY_TARGET_MB} MB: ${result.growthMB < EDIT_MEMORY_TARGET_MB ? 'met' : 'MISSED'}); every version kept would be ${result.everyVersionMB} MB, ${ratio}`;
}

if (require.main === module) console.log(describeEditMemory(measureEditMemory()));
