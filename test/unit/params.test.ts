import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ParamsIndex, readParamsFile } from '../../core/src/params/params';
import { nodeFileHost } from '../../core/src/workspace/file-host';
import { Workspace } from '../../core/src/workspace/workspace';
import { tempWorkspace } from '../support/files';

describe('params files', () => {
  it('deep-merges several files, the later winning key by key', () => {
    const base = readParamsFile('/w/params.yaml', 'train:\n  lr: 0.1\n  epochs: 3\nseed: 1\nlayers: [64, 32]\n');
    const override = readParamsFile('/w/override.yaml', 'train:\n  lr: 0.4\nseed:\n  value: 2\n');
    const index = new ParamsIndex([base, override]);
    assert.equal(index.get('train.lr')?.value, 0.4);
    assert.equal(index.get('train.lr')?.file, '/w/override.yaml', 'go to definition lands on the winning file');
    assert.equal(index.get('train.epochs')?.value, 3);
    assert.deepEqual(index.get('train')?.value, { lr: 0.4, epochs: 3 });
    assert.deepEqual(index.get('seed')?.value, { value: 2 });
    assert.equal(index.get('layers.1')?.value, 32, 'list items are addressed by index');
    assert.deepEqual(index.childrenOf('train').sort(), ['epochs', 'lr']);
  });

  it('ignores an empty or broken later file instead of dropping the earlier ones', () => {
    const base = readParamsFile('/w/params.yaml', 'seed: 1\n');
    for (const text of ['', '# nothing yet\n', '- a list\n']) {
      const index = new ParamsIndex([base, readParamsFile('/w/local.yaml', text)]);
      assert.equal(index.get('seed')?.value, 1, JSON.stringify(text));
    }
  });

  it('offers to create the params file when a pipeline names one that does not exist', () => {
    const { dir, cleanup } = tempWorkspace({
      'mlpipe.yaml': 'version: 1\ndefaults: { image: img }\nstages:\n  a:\n    cmd: run --lr ${params.train.lr}\n',
    });
    try {
      const workspace = new Workspace(nodeFileHost);
      const analysis = workspace.analyze(join(dir, 'mlpipe.yaml'));
      const finding = analysis.diagnostics.find((d) => d.code === 'unknown-param');
      assert.match(finding?.message ?? '', /there is no params file \(params\.yaml\)/);
      const create = finding?.fixes?.find((fix) => fix.title === "Create params.yaml with 'train.lr'");
      assert.ok(create, `fixes: ${finding?.fixes?.map((fix) => fix.title).join(', ')}`);
      assert.deepEqual(create.edits, [
        {
          path: join(dir, 'params.yaml'),
          start: 0,
          end: 0,
          newText: 'train:\n  lr: null # TODO: set a value\n',
          createFile: true,
        },
      ]);
    } finally {
      cleanup();
    }
  });
});
