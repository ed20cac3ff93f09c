import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { complete } from '../../core/src/language/completion';
import { rename } from '../../core/src/language/navigation';
import { checkLicense } from '../../core/src/modelcard/spdx';
import { hostVerifier } from '../../core/src/runner/known-hosts';
import { buildPlan, PlanError } from '../../core/src/runner/plan';
import { nodeFileHost } from '../../core/src/workspace/file-host';
import { Workspace, type PipelineAnalysis } from '../../core/src/workspace/workspace';
import { tempWorkspace } from '../support/files';

/** Regressions for the findings of a code review; each names what went wrong before. */
describe('review regressions', () => {
  const analyse = (files: Record<string, string>, name = 'mlpipe.yaml') => {
    const { dir, cleanup } = tempWorkspace(files);
    const workspace = new Workspace(nodeFileHost);
    return { dir, cleanup, workspace, analysis: workspace.analyze(join(dir, name)) };
  };

  it('refuses a matrix output that resolves to the workspace itself (the runner removes outputs)', () => {
    const { analysis, cleanup } = analyse({
      'mlpipe.yaml':
        'version: 1\ndefaults: { image: img }\nstages:\n  export:\n    matrix: { target: [build, "."] }\n    cmd: echo x\n    outs: ["${matrix.target}"]\n',
    });
    try {
      assert.ok(
        analysis.diagnostics.some((d) => d.code === 'path-outside-workspace'),
        'every variant is checked',
      );
      assert.throws(() => buildPlan({ ...(analysis as PipelineAnalysis), diagnostics: [] }), PlanError);
    } finally {
      cleanup();
    }
  });

  it('adds a dep after a block-scalar command inside the right stage', () => {
    const text =
      'version: 1\ndefaults: { image: img }\nstages:\n  prepare:\n    cmd: echo\n    outs: [data/prepared]\n  train:\n    cmd: |\n      python train.py --in data/prepared\n\n  evaluate:\n    cmd: echo\n';
    const { analysis, cleanup } = analyse({ 'mlpipe.yaml': text });
    try {
      const fix = analysis.diagnostics.find((d) => d.code === 'undeclared-input')?.fixes?.[0];
      assert.ok(fix);
      const edit = fix.edits[0];
      const fixed = text.slice(0, edit.start) + edit.newText + text.slice(edit.end);
      assert.match(
        fixed,
        /  train:\n    cmd: \|\n      python train\.py --in data\/prepared\n    deps: \[data\/prepared\]\n\n  evaluate:/,
      );
    } finally {
      cleanup();
    }
  });

  it('offers no list fix that would replace a list the stage inherits through <<:', () => {
    const text =
      'version: 1\ndefaults: { image: img }\nx-base: &base { deps: [common.py] }\nstages:\n  prepare:\n    cmd: echo\n    outs: [data/prepared]\n  train:\n    <<: *base\n    cmd: python train.py data/prepared\n';
    const { analysis, cleanup } = analyse({ 'mlpipe.yaml': text, 'common.py': '' });
    try {
      const finding = analysis.diagnostics.find((d) => d.code === 'undeclared-input');
      assert.ok(finding);
      assert.ok(!(finding.fixes ?? []).some((fix) => fix.title.includes('deps')));
    } finally {
      cleanup();
    }
  });

  it('does not crash on a matrix key with regular-expression characters', () => {
    const { analysis, cleanup } = analyse({
      'mlpipe.yaml':
        'version: 1\ndefaults: { image: img }\nstages:\n  a:\n    matrix: { "lr(": [1, 2] }\n    cmd: echo\n    outs: [out.txt]\n',
    });
    try {
      assert.ok(analysis.diagnostics.some((d) => d.code === 'matrix-output-collision'));
    } finally {
      cleanup();
    }
  });

  it('reads params only from inside the pipeline folder', () => {
    const { dir, cleanup } = tempWorkspace({});
    try {
      mkdirSync(join(dir, 'outside'));
      mkdirSync(join(dir, 'project'));
      writeFileSync(join(dir, 'outside', 'secrets.yaml'), 'aws:\n  key: AKIASECRET\n');
      writeFileSync(
        join(dir, 'project', 'mlpipe.yaml'),
        'version: 1\nparams: ../outside/secrets.yaml\ndefaults: { image: img }\nstages:\n  a:\n    cmd: echo\n    resources: { memory: "${params.aws.key}" }\n',
      );
      const analysis = new Workspace(nodeFileHost).analyze(join(dir, 'project', 'mlpipe.yaml'));
      assert.ok(
        analysis.diagnostics.some(
          (d) =>
            d.code === 'path-outside-workspace' &&
            d.message.includes("Params file '../outside/secrets.yaml' is outside"),
        ),
      );
      assert.ok(!analysis.diagnostics.some((d) => d.message.includes('AKIASECRET')), 'no value from outside is quoted');
    } finally {
      cleanup();
    }
  });

  it('finds an output nested in another even when a sibling sorts between them', () => {
    const { analysis, cleanup } = analyse({
      'mlpipe.yaml':
        'version: 1\ndefaults: { image: img }\nstages:\n  a:\n    cmd: echo\n    outs: [data/out, data/out-v2]\n  b:\n    cmd: echo\n    outs: [data/out/model.bin]\n',
    });
    try {
      assert.ok(analysis.diagnostics.some((d) => d.code === 'overlapping-output'));
    } finally {
      cleanup();
    }
  });

  it('renames a stage needed through a shared anchor with one edit per place', () => {
    const text =
      'version: 1\ndefaults: { image: img }\nx-after: &after { needs: [prepare] }\nstages:\n  prepare:\n    cmd: echo\n  a:\n    <<: *after\n    cmd: echo\n  b:\n    <<: *after\n    cmd: echo\n';
    const { workspace, analysis, cleanup } = analyse({ 'mlpipe.yaml': text });
    try {
      const result = rename(workspace, analysis, text.indexOf('  prepare:') + 3, 'clean');
      assert.ok(result.ok);
      if (result.ok) assert.equal(result.edits.length, 2, JSON.stringify(result.edits));
    } finally {
      cleanup();
    }
  });

  it('drops a too-large verdict when the size limit is raised, and rereads params after a reopen', () => {
    const { dir, workspace, cleanup } = analyse({
      'mlpipe.yaml':
        'version: 1\nparams: params.yaml\ndefaults: { image: img }\nstages:\n  a:\n    cmd: echo ${params.lr}\n',
      'params.yaml': 'lr: 1\n',
    });
    try {
      const pipeline = join(dir, 'mlpipe.yaml');
      workspace.configure({ ...workspace.settings, maxFileSize: 10 });
      assert.deepEqual(
        workspace.analyze(pipeline).diagnostics.map((d) => d.code),
        ['too-large'],
      );
      workspace.configure({ ...workspace.settings, maxFileSize: 4 * 1024 * 1024 });
      assert.deepEqual(workspace.analyze(pipeline).diagnostics, []);
      const params = join(dir, 'params.yaml');
      workspace.open(params, 'lr: 1\n', 1);
      workspace.analyze(pipeline);
      workspace.close(params);
      writeFileSync(params, 'other: 1\n');
      workspace.filesChanged([params]);
      workspace.open(params, 'lr: 1\n', 1); // an editor restarts versions at 1
      assert.deepEqual(workspace.analyze(pipeline).diagnostics, [], 'the reopened buffer is read, not a stale copy');
    } finally {
      cleanup();
    }
  });

  it('uppercases only the SPDX operators, not ids that contain "or"', () => {
    const result = checkLicense('GPL-2.0-or-later or MIT');
    assert.ok(!result.ok);
    if (!result.ok) assert.equal(result.suggestion, 'GPL-2.0-or-later OR MIT');
  });

  it('completes params when a key holds a dot, and suggests siblings, not prefixes', () => {
    const { analysis, workspace, cleanup } = analyse({
      'mlpipe.yaml':
        'version: 1\nparams: params.yaml\ndefaults: { image: img }\nstages:\n  a:\n    cmd: echo ${params.train.epochs} ${params.}\n',
      'params.yaml': '.venv_path: x\ntrain:\n  lr: 1\n  notes: y\n',
    });
    try {
      const offset = analysis.text.indexOf('${params.}') + '${params.'.length;
      assert.doesNotThrow(() => complete(workspace, analysis, offset));
      const unknown = analysis.diagnostics.find((d) => d.message.startsWith("Unknown param 'train.epochs'"));
      assert.ok(unknown && !unknown.message.includes('did you mean'), unknown?.message);
    } finally {
      cleanup();
    }
  });

  it('reads known_hosts patterns with brackets without throwing', () => {
    const { dir, cleanup } = tempWorkspace({});
    try {
      const key = Buffer.from('key-bytes').toString('base64');
      writeFileSync(join(dir, 'known_hosts'), `[gpu-*]:2222 ssh-ed25519 ${key}\n`);
      assert.equal(hostVerifier('gpu-7', 2222, join(dir, 'known_hosts'))(Buffer.from('key-bytes')), true);
      assert.equal(hostVerifier('cpu-1', 2222, join(dir, 'known_hosts'))(Buffer.from('key-bytes')), false);
    } finally {
      cleanup();
    }
  });
});
