import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CANDIDATE_TAG, markCandidate } from '../../core/src/approval/candidate';
import { chooseRun } from '../../core/src/approval/gate';
import { MlpipeDir } from '../../core/src/runs/records';
import { ExperimentStore } from '../../core/src/store/store';
import { ROOT, tempWorkspace } from '../support/files';
import { mlpipe } from '../support/mlpipe-cli';
import { fakeRecord } from '../support/store-fixtures';

/**
 * One model candidate per pipeline, whoever sets it: `mlpipe runs tag RUN mlpipe.candidate` and
 * VS Code's "Use as Model Candidate" both go through core/src/approval/candidate.ts.
 */
describe('the model candidate rule, in the CLI and in VS Code', () => {
  let dir: string;
  let cleanup: () => void;
  const [a, b, other] = ['20260301-100000-000-aaaa', '20260302-100000-000-bbbb', '20260303-100000-000-cccc'];
  const candidates = () => {
    const store = ExperimentStore.open(join(dir, '.mlpipe'));
    return store
      .runs()
      .filter((run) => CANDIDATE_TAG in run.tags)
      .map((run) => run.summary.id)
      .sort();
  };

  before(() => {
    ({ dir, cleanup } = tempWorkspace({
      'mlpipe.yaml': 'version: 1\nname: churn\nstages: {}\n',
      'other.pipeline.yaml': 'version: 1\nname: other\nstages: {}\n',
    }));
    const records = new MlpipeDir(join(dir, '.mlpipe'));
    records.writeRecord(fakeRecord(a, dir, { started: '2026-03-01T10:00:00.000Z' }));
    records.writeRecord(fakeRecord(b, dir, { started: '2026-03-02T10:00:00.000Z' }));
    records.writeRecord({
      ...fakeRecord(other, dir, { started: '2026-03-03T10:00:00.000Z' }),
      pipeline: 'other.pipeline.yaml',
      name: 'other',
    });
  });
  after(() => cleanup?.());

  it('mlpipe runs tag moves the candidate within a pipeline and leaves other pipelines alone', () => {
    assert.equal(mlpipe(['runs', 'tag', other, CANDIDATE_TAG], dir).status, 0);
    assert.equal(mlpipe(['runs', 'tag', a, CANDIDATE_TAG], dir).status, 0);
    assert.deepEqual(candidates(), [a, other]);
    const moved = mlpipe(['runs', 'tag', b.slice(0, 20), `${CANDIDATE_TAG}=`, 'reviewed'], dir);
    assert.equal(moved.status, 0, moved.stderr);
    assert.match(moved.stderr, new RegExp(`run ${b} is now the model candidate of mlpipe\\.yaml, instead of ${a}`));
    assert.deepEqual(candidates(), [b, other]);
    const store = ExperimentStore.open(join(dir, '.mlpipe'));
    assert.equal(chooseRun(store, 'mlpipe.yaml', undefined).summary.id, b, 'the gate takes the candidate');
  });

  it("VS Code's action is the same rule: the candidate moves back, the other pipeline keeps its own", () => {
    const change = markCandidate(ExperimentStore.open(join(dir, '.mlpipe')), a);
    assert.deepEqual(change, { id: a, pipeline: 'mlpipe.yaml', uncandidated: [b] });
    assert.deepEqual(candidates(), [a, other]);
    // And the CLI sees what VS Code did.
    assert.match(
      mlpipe(['runs', 'list', '--filter', `tags.\`${CANDIDATE_TAG}\` = ''`, '--format', 'json'], dir).stdout,
      new RegExp(a),
    );
  });

  it('is written once: the client applies the rule through core and never removes the tag itself', () => {
    const files: string[] = [];
    const walk = (folder: string) => {
      for (const name of readdirSync(folder)) {
        const path = join(folder, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (name.endsWith('.ts')) files.push(path);
      }
    };
    walk(join(ROOT, 'client/src'));
    const sources = files.map((file) => readFileSync(file, 'utf8'));
    assert.ok(
      sources.some((source) =>
        /import \{[^}]*\bmarkCandidate\b[^}]*\} from '[./]+core\/src\/approval\/candidate'/.test(source),
      ),
      'the client calls core for "Use as Model Candidate"',
    );
    assert.ok(
      sources.every((source) => !source.includes("'mlpipe.candidate'")),
      'no client file spells the tag (or its rule) itself',
    );
  });
});
