import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { nodeFileHost } from '../../core/src/workspace/file-host';
import { Workspace } from '../../core/src/workspace/workspace';
import { tempWorkspace } from '../support/files';
import { generatePipelineText } from '../support/generate';
import { pick, seeded } from '../support/random';

/** Everything a user sees from an analysis, in a comparable form. */
function findings(workspace: Workspace, path: string): string[] {
  const analysis = workspace.analyze(path);
  return analysis.diagnostics.map((d) => `${d.start}-${d.end} ${d.severity} ${d.code}: ${d.message}`).sort();
}

describe('incremental analysis', () => {
  it('reports after every edit exactly what a fresh analysis of the same text reports', () => {
    const base = generatePipelineText(30, { aliases: true }).replace('x-resources: &gpu', 'x-resources: &gpu');
    const { dir, cleanup } = tempWorkspace({ 'params.yaml': 'seed: 1\ntrain:\n  lr: 0.1\n', 'src/step.py': '' });
    try {
      const path = join(dir, 'mlpipe.yaml');
      const incremental = new Workspace(nodeFileHost);
      const random = seeded(7);
      // Edits that matter to caches: anchors, aliases, defaults, params references, stage names, needs.
      const replacements: [string, string][] = [
        ['&gpu { gpus: 1', '&gpu { gpus: 5'],
        ['&gpu {', '&gpx {'],
        ['*gpu', '*gpx'],
        [
          'defaults: { image: localhost/mlpipe-python:3.11, host: local }',
          'defaults: { image: Bad Image, host: nowhere }',
        ],
        ['${params.train.lr}', '${params.train.lrr}'],
        ['  s3:', '  s2:'],
        ['deps: [src/step.py, out/s4.bin]', 'deps: [src/step.py, out/s9.bin]'],
        ['    timeout: 2h', '    timeout: 2 hours'],
        ['gpu-box: { docker: ssh://ml@gpu-box, gpus: 4 }', 'gpu-box: { docker: ssh://ml@gpu-box }'],
        ['params: [seed]', 'params: [sed]'],
      ];
      let text = base;
      let applied = 0;
      incremental.open(path, text, 0);
      for (let version = 1; version <= 300; version++) {
        const [from, to] = pick(random, replacements);
        const useForward = random() < 0.5;
        const [a, b] = useForward ? [from, to] : [to, from];
        const hits = text.split(a).length - 1;
        if (hits === 0) continue;
        // Replace one occurrence, chosen at random, so edits land in different stages.
        let index = -1;
        const which = Math.floor(random() * hits);
        for (let i = 0; i <= which; i++) index = text.indexOf(a, index + 1);
        text = text.slice(0, index) + b + text.slice(index + a.length);
        applied++;
        incremental.change(path, text, version);
        const fresh = new Workspace(nodeFileHost);
        fresh.open(path, text, version);
        assert.deepEqual(findings(incremental, path), findings(fresh, path), `after edit ${version}: '${a}' -> '${b}'`);
      }
      assert.ok(applied > 150, `only ${applied} edits applied`);
    } finally {
      cleanup();
    }
  });
});
