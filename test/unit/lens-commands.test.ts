import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  lensArguments,
  parseLensArguments,
  RUN_PIPELINE,
  RUN_PIPELINE_ON_HOST,
  SHOW_PIPELINE_GRAPH,
  RUN_STAGE_UPSTREAM,
} from '../../core/src/language/commands';
import { codeLenses } from '../../core/src/language/outline';
import { nodeFileHost } from '../../core/src/workspace/file-host';
import { DEFAULT_OPTIONS, Workspace } from '../../core/src/workspace/workspace';
import { ROOT } from '../support/files';

describe('code lens commands: declared once, typed, checked where they arrive', () => {
  const uri = 'file:///w/mlpipe.yaml';

  it('core says which command and arguments, no titles or icons', () => {
    const analysis = new Workspace(nodeFileHost, DEFAULT_OPTIONS).analyze(
      join(ROOT, 'sample-workspace/mlpipe.yaml'),
      'pipeline',
    );
    const lenses = codeLenses(analysis);
    assert.deepEqual(
      lenses.map((lens) => [lens.command.id, lens.command.args, lens.variants]),
      [
        [RUN_PIPELINE, [], undefined],
        [RUN_PIPELINE_ON_HOST, ['cluster'], undefined],
        [SHOW_PIPELINE_GRAPH, [], undefined],
        [RUN_STAGE_UPSTREAM, ['prepare'], 1],
        [RUN_STAGE_UPSTREAM, ['train'], 1],
        [RUN_STAGE_UPSTREAM, ['evaluate'], 2],
      ],
    );
    assert.ok(lenses.every((lens) => !('title' in lens)));
  });

  it('round-trips what the server sends, and refuses anything else', () => {
    assert.deepEqual(
      parseLensArguments(RUN_STAGE_UPSTREAM, lensArguments(uri, { id: RUN_STAGE_UPSTREAM, args: ['train'] })),
      [uri, 'train'],
    );
    assert.deepEqual(parseLensArguments(RUN_PIPELINE, lensArguments(uri, { id: RUN_PIPELINE, args: [] })), [uri]);
    for (const raw of [
      [],
      [uri],
      [uri, ''],
      [uri, 3],
      [uri, 'train', 'extra'],
      ['not a uri', 'train'],
      [{ kind: 'stage' }, 'train'],
    ])
      assert.equal(parseLensArguments(RUN_STAGE_UPSTREAM, raw), undefined, JSON.stringify(raw));
    assert.equal(parseLensArguments(RUN_PIPELINE, [uri, 'train']), undefined);
    assert.deepEqual(parseLensArguments(RUN_PIPELINE_ON_HOST, [uri, 'cluster']), [uri, 'cluster']);
    for (const raw of [[uri], [uri, ''], [uri, '--force'], [uri, 'a b'], [uri, 'cluster', 'x']])
      assert.equal(parseLensArguments(RUN_PIPELINE_ON_HOST, raw), undefined, JSON.stringify(raw));
  });
});
