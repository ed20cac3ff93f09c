import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MlpipeDir } from '../../core/src/runs/records';
import { ContentStore } from '../../core/src/runs/content-cache';
import { tempWorkspace } from '../support/files';
import { mlpipe } from '../support/mlpipe-cli';
import { fakeRecord } from '../support/store-fixtures';

/** The release commands' refusals and mistakes, on run records as the runner writes them (the engine tier runs the real loop). */
describe('mlpipe gate, push and runs gc: mistakes and protections', () => {
  let dir: string;
  let cleanup: () => void;
  const model = Buffer.from('weights');
  const digest = `sha256:${createHash('sha256').update(model).digest('hex')}`;
  const ids = Array.from({ length: 4 }, (_, i) => `2026050${i + 1}-100000-000-aaa${i}`);

  before(() => {
    ({ dir, cleanup } = tempWorkspace({
      'mlpipe.yaml':
        'version: 1\nname: churn\nstages: {}\nmodel:\n  card: cards/churn.yaml\n  artifact: models/model.bin\n',
      'cards/churn.yaml': `model: { name: churn, version: 1.0.0 }\napproval:\n  status: approved\n  by: Ada\n  at: 2026-05-01T10:00:00Z\n  run: ${ids[0]}\n  artifact_digest: ${digest}\n`,
    }));
    const mlpipeDir = new MlpipeDir(join(dir, '.mlpipe'));
    const cache = new ContentStore(join(dir, '.mlpipe', 'cache'));
    mkdirSync(join(dir, 'models'), { recursive: true });
    writeFileSync(join(dir, 'models/model.bin'), model);
    cache.put(join(dir, 'models/model.bin'), { kind: 'file', hash: digest, size: model.length });
    ids.forEach((id, index) => {
      const record = fakeRecord(id, dir, {
        started: `2026-05-0${index + 1}T10:00:00.000Z`,
        key: `sha256:${'0'.repeat(63)}${index}`,
      });
      record.stages[0].outputs = { 'models/model.bin': digest };
      mlpipeDir.writeRecord(record);
      cache.saveEntry({
        version: 1,
        key: `sha256:${'0'.repeat(63)}${index}`,
        stage: 'train',
        run: id,
        created: '',
        outputs: { 'models/model.bin': { kind: 'file', hash: digest, size: model.length } },
      });
    });
  });
  after(() => cleanup?.());

  it("never collects the run the pipeline's own model card approves, wherever the card lives", () => {
    const gc = mlpipe(['runs', 'gc', '--keep', '0'], dir);
    assert.equal(gc.status, 0, gc.stderr);
    assert.match(gc.stdout, new RegExp(`kept ${ids[0]}: approved in .*cards/churn\\.yaml`));
    assert.ok(
      existsSync(new ContentStore(join(dir, '.mlpipe', 'cache')).objectFile(digest)),
      'the approved artifact stays',
    );
  });

  it('refuses gc while a run is in progress', () => {
    mkdirSync(join(dir, '.mlpipe', 'locks'), { recursive: true });
    // A lock as the runner writes it: named after its run id, naming a live process (this test's).
    const run = '20261204-120000-000-beef';
    writeFileSync(
      join(dir, '.mlpipe', 'locks', `${run}.json`),
      JSON.stringify({ run, pid: process.pid, hostname: hostname(), started: new Date().toISOString(), outputs: [] }),
    );
    const gc = mlpipe(['runs', 'gc'], dir);
    assert.equal(gc.status, 1);
    assert.match(gc.stderr, new RegExp(`run ${run} is in progress; run mlpipe runs gc when it has ended`));
  });

  it('answers a model card that does not parse with the file and what to do, not a stack trace', () => {
    writeFileSync(join(dir, 'cards/churn.yaml'), 'model: { name: churn\napproval: [\n');
    for (const command of [['gate'], ['push', '--dry-run']]) {
      const result = mlpipe(command, dir);
      assert.equal(result.status, 1, `${command.join(' ')}: ${result.stderr}`);
      assert.ok(
        !/at \S+\.(ts|js):\d+|internal error/.test(result.stderr + result.stdout),
        `no stack trace: ${result.stderr}`,
      );
    }
    assert.match(
      mlpipe(['gate'], dir).stdout,
      /FAIL {2}metrics +churn\.yaml does not parse .*mlpipe check churn\.yaml/,
    );
    assert.match(mlpipe(['push', '--dry-run'], dir).stderr, /churn\.yaml does not parse/);
  });

  it('refuses MLflow targets that would send credentials or models in the clear', () => {
    writeFileSync(
      join(dir, 'cards/churn.yaml'),
      `model: { name: churn, version: 1.0.0 }\napproval:\n  status: approved\n  by: Ada\n  at: 2026-05-01T10:00:00Z\n  run: ${ids[0]}\n  artifact_digest: ${digest}\n`,
    );
    const plain = mlpipe(['push', '--to', 'mlflow+http://mlflow.example.com:5000'], dir);
    assert.equal(plain.status, 1);
    assert.match(
      plain.stderr,
      /mlflow\+http:\/\/ sends the model unencrypted and is allowed only to this machine; use mlflow:\/\/mlflow\.example\.com:5000/,
    );
    const userinfo = mlpipe(['push', '--to', 'mlflow://alice:s3cret@mlflow.example.com'], dir);
    assert.equal(userinfo.status, 1);
    assert.match(userinfo.stderr, /put no credentials in the target/);
    assert.ok(!userinfo.stderr.includes('s3cret'));
  });
});
