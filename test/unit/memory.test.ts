import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { nodeFileHost } from '../../core/src/workspace/file-host';
import { Workspace } from '../../core/src/workspace/workspace';
import { tempWorkspace } from '../support/files';
import { generatePipelineText } from '../support/generate';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapMB(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

describe('memory across edits', () => {
  it('does not keep old versions of a document alive through reused blocks', () => {
    const { dir, cleanup } = tempWorkspace({ 'params.yaml': 'seed: 1\ntrain:\n  lr: 0.1\n', 'src/step.py': '' });
    try {
      const path = join(dir, 'mlpipe.yaml');
      let text = generatePipelineText(1000, { aliases: false });
      const workspace = new Workspace(nodeFileHost);
      workspace.open(path, text, 0);
      workspace.analyze(path);
      const afterOpen = heapMB();
      // Each edit lands in a different stage, so each re-parsed block would pin its version of the
      // ~300 KB text if anything cached held a view into it: 200 edits would retain ~60 MB.
      for (let i = 0; i < 200; i++) {
        const marker = `  s${(i * 37) % 1000}:\n    cmd: python`;
        text = text.replace(marker, `${marker}3`);
        workspace.change(path, text, i + 1);
        workspace.analyze(path);
      }
      const growth = heapMB() - afterOpen;
      assert.ok(growth < 10, `heap grew by ${growth.toFixed(1)} MB over 200 edits`);
    } finally {
      cleanup();
    }
  });
});
