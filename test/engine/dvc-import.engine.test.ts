import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PYTHON_IMAGE, ensureImages } from '../../scripts/sample-image';
import { enginesMissing, startDockerd, type RunningEngine } from '../support/engines';
import { ROOT } from '../support/files';
import { lastRecord, mlpipe, statuses } from '../support/mlpipe-cli';

const missing = enginesMissing();
if (missing && process.env.CI) throw new Error(`Engine tests cannot run: ${missing}`);

/**
 * A real DVC project (iterative/dvc's parametrized benchmark pipeline, run by DVC 3.67.1, its
 * dvc.lock committed with the files) imported and run on the sample image: what dvc.lock had up
 * to date and still matches is skipped, what changed since runs.
 */
describe('an imported DVC pipeline on a real Docker Engine', { skip: missing }, () => {
  let engine: RunningEngine;
  let workspace: string;
  const env = () => ({ DOCKER_HOST: engine.address });

  before(async () => {
    engine = await startDockerd();
    await ensureImages(engine.docker, [PYTHON_IMAGE]);
    workspace = mkdtempSync(join(tmpdir(), 'mlpipe-dvc-engine-'));
    cpSync(join(ROOT, 'test/fixtures/dvc/parametrized'), workspace, { recursive: true });
  });

  after(async () => {
    await engine?.stop();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  it('skips the stages whose files match dvc.lock and runs the one whose input changed since', () => {
    writeFileSync(join(workspace, 'hello'), 'hello again\n');
    const imported = mlpipe(['import', 'dvc', '--image', PYTHON_IMAGE], workspace);
    assert.equal(imported.status, 0, imported.stderr + imported.stdout);
    assert.match(imported.stdout, /^  stage2-third: runs \(hello is not the content dvc\.lock recorded\)$/m);
    assert.match(imported.stdout, /^  stage2-first: up to date \(its files match dvc\.lock\)/m);

    const status = mlpipe(['status', '--format', 'json'], workspace, env());
    assert.deepEqual(
      Object.fromEntries(
        (JSON.parse(status.stdout) as { stages: { name: string; state: string }[] }).stages.map((stage) => [
          stage.name,
          stage.state,
        ]),
      ),
      {
        stage1: 'up-to-date',
        'stage2-first': 'up-to-date',
        'stage2-second': 'up-to-date',
        'stage2-third': 'never-run',
        'stage2-fourth': 'up-to-date',
      },
      'status says what run will do',
    );

    const run = mlpipe(['run'], workspace, env());
    assert.equal(run.status, 0, run.stderr + run.stdout);
    const record = lastRecord(workspace);
    assert.deepEqual(statuses(record), {
      stage1: 'skipped',
      'stage2-first': 'skipped',
      'stage2-second': 'skipped',
      'stage2-third': 'succeeded',
      'stage2-fourth': 'skipped',
    });
    assert.equal(record.stages.find((stage) => stage.name === 'stage1')!.reason, 'up to date as dvc.lock recorded it');
    assert.equal(readFileSync(join(workspace, 'world'), 'utf8'), 'hello again\n', 'the changed stage really ran');
    assert.equal(
      readFileSync(join(workspace, 'foobar'), 'utf8'),
      'foo\r\nbar\r\n',
      'the skipped outputs are untouched',
    );
  });

  it('keeps them up to date afterwards, and reruns a seeded stage once its input changes', () => {
    const again = mlpipe(['run'], workspace, env());
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual(new Set(Object.values(statuses(lastRecord(workspace)))), new Set(['skipped']));

    writeFileSync(join(workspace, 'lorem'), 'changed after the import\n');
    const changed = mlpipe(['run'], workspace, env());
    assert.equal(changed.status, 0, changed.stderr);
    assert.deepEqual(statuses(lastRecord(workspace)), {
      stage1: 'skipped',
      'stage2-first': 'succeeded',
      'stage2-second': 'skipped',
      'stage2-third': 'skipped',
      'stage2-fourth': 'skipped',
    });
    assert.equal(readFileSync(join(workspace, 'ipsum'), 'utf8'), 'changed after the import\n');
  });
});
