import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { nodeFileHost } from '../../core/src/workspace/file-host';
import { Workspace } from '../../core/src/workspace/workspace';
import { tempWorkspace } from '../support/files';
import { generatePipelineText } from '../support/generate';

/** Everything a user sees from an analysis, in a comparable form. */
function findings(workspace: Workspace, path: string): string[] {
  return workspace
    .analyze(path)
    .diagnostics.map((d) => `${d.start}-${d.end} ${d.severity} ${d.code}: ${d.message}`)
    .sort();
}

// The heap these edits leave behind (old versions pinned by reused blocks) is measured by
// `npm run bench:lsp` (test/bench/edit-memory.ts), not asserted here.
describe('many edits across a large pipeline', () => {
  it('after 200 edits, each in a different stage, holds the last text and reports what a fresh analysis does', () => {
    const { dir, cleanup } = tempWorkspace({ 'params.yaml': 'seed: 1\ntrain:\n  lr: 0.1\n', 'src/step.py': '' });
    try {
      const path = join(dir, 'mlpipe.yaml');
      let text = generatePipelineText(1000, { aliases: false });
      const workspace = new Workspace(nodeFileHost);
      workspace.open(path, text, 0);
      workspace.analyze(path);
      const edited = new Set<string>();
      for (let i = 0; i < 200; i++) {
        const stage = `s${(i * 37) % 1000}`;
        const marker = `  ${stage}:\n    cmd: python`;
        assert.ok(text.includes(`${marker} `), `${stage} not edited yet`);
        text = text.replace(marker, `${marker}3`);
        edited.add(stage);
        workspace.change(path, text, i + 1);
        workspace.analyze(path);
      }
      assert.equal(edited.size, 200);
      assert.equal(workspace.text(path), text);
      const analysis = workspace.analyze(path);
      assert.equal(analysis.kind, 'pipeline');
      if (analysis.kind !== 'pipeline') return;
      const python3 = analysis.model.stages
        .filter((stage) => String(stage.cmd[0]?.value).startsWith('python3 '))
        .map((stage) => stage.name);
      assert.deepEqual(new Set(python3), edited);
      const fresh = new Workspace(nodeFileHost);
      fresh.open(path, text, 200);
      assert.deepEqual(findings(workspace, path), findings(fresh, path));
    } finally {
      cleanup();
    }
  });
});
