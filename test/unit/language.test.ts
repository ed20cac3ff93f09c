import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { complete } from '../../core/src/language/completion';
import { cursorContext } from '../../core/src/language/context';
import { hover } from '../../core/src/language/hover';
import { definition, references, rename } from '../../core/src/language/navigation';
import { nodeFileHost } from '../../core/src/workspace/file-host';
import { Workspace } from '../../core/src/workspace/workspace';
import { tempWorkspace } from '../support/files';

const PIPELINE = `version: 1
params: params.yaml
defaults: { image: localhost/py:3.11 }
hosts:
  gpu-box: { docker: ssh://ml@gpu, gpus: 2 }
stages:
  prepare:
    cmd: python src/prep.py
    deps: [data/raw.csv]
    outs: [data/prepared]
  train:
    cmd: python src/train.py --lr \${params.train.lr}
    host: gpu-box
    deps: [data/prepared]
    outs: [models/model.pt]
    network: none
  evaluate:
    matrix: { split: [val, test] }
    cmd: python src/eval.py --split \${matrix.split}
    deps: [models/model.pt]
    metrics: ["metrics/eval-\${matrix.split}.json"]
`;

const CARD = `model:
  name: m
  version: 1.0.0
  license: MIT
training_data:
  stage: prepare
evaluation:
  metrics:
    - name: auc
      file: metrics/eval-test.json
      key: auc
`;

/** Text with a `|` marking the cursor: returns the text without it and the offset. */
function cursor(text: string): [string, number] {
  const at = text.indexOf('|');
  return [text.slice(0, at) + text.slice(at + 1), at];
}

describe('editor features in core', () => {
  let dir: string;
  let cleanup: () => void;
  let workspace: Workspace;
  const at = (file: string, marked: string) => {
    const [text, offset] = cursor(marked);
    workspace.change(join(dir, file), text, Date.now() + Math.random());
    return { analysis: workspace.analyze(join(dir, file)), offset };
  };
  const labels = (file: string, marked: string) => {
    const { analysis, offset } = at(file, marked);
    return complete(workspace, analysis, offset).map((item) => item.label);
  };

  before(() => {
    ({ dir, cleanup } = tempWorkspace({
      'mlpipe.yaml': PIPELINE,
      'params.yaml': 'train:\n  lr: 0.01\n  epochs: 3\nseed: 1\n',
      'modelcard.yaml': CARD,
      'data/raw.csv': 'a\n1\n',
      'data/extra.csv': 'a\n1\n',
      'src/prep.py': '',
      'metrics/eval-test.json': '{"auc": 0.9, "nested": {"f1": 0.5}}',
    }));
    workspace = new Workspace(nodeFileHost);
  });
  after(() => cleanup());

  it('reads the cursor position on half-typed lines', () => {
    const cases: [string, (string | number)[], 'key' | 'value'][] = [
      ['stages:\n  train:\n    cm|', ['stages', 'train'], 'key'],
      ['stages:\n  train:\n    needs: [pre|', ['stages', 'train', 'needs', 0], 'value'],
      ['stages:\n  train:\n    needs:\n    - pr|', ['stages', 'train', 'needs', 0], 'value'],
      ['stages:\n  train:\n    resources: { gpus: 1, me|', ['stages', 'train', 'resources'], 'key'],
      ['stages:\n  train:\n    plots:\n      - path: a\n        x|', ['stages', 'train', 'plots', 0], 'key'],
      ['evaluation:\n  metrics:\n    - name: auc\n      file: met|', ['evaluation', 'metrics', 0, 'file'], 'value'],
    ];
    for (const [marked, path, kind] of cases) {
      const [text, offset] = cursor(marked);
      const context = cursorContext(text, offset);
      assert.deepEqual([context.path, context.kind], [path, kind], marked);
    }
  });

  it('completes hosts, enum values, deps from disk and from other stages, and params lists', () => {
    assert.deepEqual(labels('mlpipe.yaml', PIPELINE.replace('host: gpu-box', 'host: |')).sort(), ['gpu-box', 'local']);
    assert.deepEqual(labels('mlpipe.yaml', PIPELINE.replace('network: none', 'network: |')), [
      'none',
      'host',
      'bridge',
    ]);
    const deps = labels('mlpipe.yaml', PIPELINE.replace('deps: [models/model.pt]', 'deps: [models/model.pt, |]'));
    assert.ok(deps.includes('data/prepared'), 'an output of another stage');
    assert.ok(deps.includes('data/') && deps.includes('src/'), 'folders on disk');
    assert.ok(!deps.includes('metrics/eval-val.json'), "the stage's own outputs are not offered as its deps");
    const inData = labels('mlpipe.yaml', PIPELINE.replace('deps: [data/raw.csv]', 'deps: [data/|]'));
    assert.ok(inData.includes('data/raw.csv') && inData.includes('data/extra.csv'));
    const matrix = labels('mlpipe.yaml', PIPELINE.replace('--split ${matrix.split}', '--split ${matrix.|}'));
    assert.deepEqual(matrix, ['split']);
  });

  it('offers a stage snippet for a new stage and keys that are not there yet', () => {
    const { analysis, offset } = at('mlpipe.yaml', PIPELINE + '  |');
    const items = complete(workspace, analysis, offset);
    const snippet = items.find((item) => item.kind === 'snippet');
    assert.ok(snippet?.insertText?.includes('cmd:'), 'the stage snippet has a command');
  });

  it('completes model-card metrics files, their keys and SPDX licenses', () => {
    assert.deepEqual(labels('modelcard.yaml', CARD.replace('file: metrics/eval-test.json', 'file: |')).sort(), [
      'metrics/eval-test.json',
      'metrics/eval-val.json',
    ]);
    assert.deepEqual(labels('modelcard.yaml', CARD.replace('key: auc', 'key: |')).sort(), ['auc', 'nested.f1']);
    const licenses = labels('modelcard.yaml', CARD.replace('license: MIT', 'license: |'));
    assert.equal(licenses[0], 'Apache-2.0');
    assert.ok(licenses.length > 500);
    assert.deepEqual(labels('modelcard.yaml', CARD.replace('stage: prepare', 'stage: |')), [
      'prepare',
      'train',
      'evaluate',
    ]);
  });

  it('hovers a host, a matrix key and a dep with what mlpipe knows about them', () => {
    const host = at('mlpipe.yaml', PIPELINE.replace('host: gpu-box', 'host: gpu-b|ox'));
    assert.match(hover(workspace, host.analysis, host.offset)?.contents ?? '', /ssh:\/\/ml@gpu.*2 GPUs/);
    const matrix = at('mlpipe.yaml', PIPELINE.replace('--split ${matrix.split}', '--split ${matrix.sp|lit}'));
    assert.match(hover(workspace, matrix.analysis, matrix.offset)?.contents ?? '', /`val`, `test`/);
    const dep = at('mlpipe.yaml', PIPELINE.replace('deps: [data/prepared]', 'deps: [data/prep|ared]'));
    assert.match(hover(workspace, dep.analysis, dep.offset)?.contents ?? '', /written by stage \*\*prepare\*\*/);
  });

  it('goes from a dep to the stage that writes it and from a card metric to its stage', () => {
    const dep = at('mlpipe.yaml', PIPELINE.replace('deps: [models/model.pt]', 'deps: [models/mo|del.pt]'));
    const targets = definition(workspace, dep.analysis, dep.offset);
    assert.equal(targets.length, 1);
    assert.equal(dep.analysis.text.slice(targets[0].start, targets[0].end), 'models/model.pt');
    assert.ok(targets[0].start < dep.offset - 40, 'the producing stage, not the dep itself');
    workspace.change(join(dir, 'mlpipe.yaml'), PIPELINE, Date.now());
    const metric = at('modelcard.yaml', CARD.replace('file: metrics/eval-test.json', 'file: metrics/eval-t|est.json'));
    const found = definition(workspace, metric.analysis, metric.offset);
    assert.equal(found[0].path, join(dir, 'mlpipe.yaml'));
  });

  it('renames a matrix-variant reference by its stage part and refuses a bad name', () => {
    const text = PIPELINE.replace(
      '  evaluate:\n',
      '  report:\n    cmd: python r.py\n    needs: [evaluate@test]\n  evaluate:\n',
    );
    const marked = text.replace('  evaluate:\n', '  eval|uate:\n');
    const { analysis, offset } = at('mlpipe.yaml', marked);
    const result = rename(workspace, analysis, offset, 'score');
    assert.ok(result.ok);
    if (result.ok) {
      const pipelineEdits = result.edits.filter((edit) => edit.path === join(dir, 'mlpipe.yaml'));
      assert.equal(pipelineEdits.length, 2);
      assert.ok(pipelineEdits.every((edit) => analysis.text.slice(edit.start, edit.end) === 'evaluate'));
    }
    const bad = rename(workspace, analysis, offset, 'has space');
    assert.equal(bad.ok, false);
    assert.equal(references(workspace, analysis, offset).length, 2);
  });
});
