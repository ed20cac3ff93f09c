import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  noticeText,
  runEndText,
  runOutcomeText,
  runStartText,
  stageCountsText,
  stageEndText,
  stageStartText,
  STAGE_STATUS_WORDS,
} from '../../core/src/runner/event-text';
import { type RunRecord, type StageRecord, type StageStatus } from '../../core/src/runs/records';
import { ROOT } from '../support/files';

function stage(name: string, status: StageStatus, extra: Partial<StageRecord> = {}): StageRecord {
  return {
    name,
    stage: name.split('@')[0],
    matrix: {},
    status,
    host: 'local',
    image: 'img',
    command: 'true',
    attempts: 1,
    params: {},
    deps: {},
    outputs: {},
    metrics: {},
    log: `logs/${name}.log`,
    ...extra,
  };
}

function record(status: RunRecord['status'], stages: StageRecord[], extra: Partial<RunRecord> = {}): RunRecord {
  return {
    version: 1,
    id: '20260101-000000-000-abcd',
    pipeline: 'mlpipe.yaml',
    workspace: '/w',
    status,
    target: { stages: [], upstream: false, force: false },
    started: '2026-01-01T00:00:00Z',
    pid: 1,
    params: {},
    stages,
    ...extra,
  };
}

describe('run event text: one wording for the CLI and VS Code', () => {
  it('words a run start, with jobs and logs when known', () => {
    const run = record('running', [stage('prepare', 'pending'), stage('train', 'pending')]);
    assert.equal(runStartText(run), 'run 20260101-000000-000-abcd: 2 stages');
    assert.equal(
      runStartText(record('running', [stage('train', 'pending')]), { jobs: 4, logs: '.mlpipe/runs/x' }),
      'run 20260101-000000-000-abcd: 1 stage, up to 4 at once; logs in .mlpipe/runs/x',
    );
  });

  it('words stage starts and ends', () => {
    assert.equal(
      stageStartText({ type: 'stage-start', stage: 'train', host: 'gpu-box', attempt: 1 }),
      'started on gpu-box',
    );
    assert.equal(
      stageStartText({ type: 'stage-start', stage: 'train', host: 'local', attempt: 2 }),
      'started on local, attempt 2',
    );
    assert.equal(stageEndText({ status: 'succeeded' }), 'ok');
    assert.equal(stageEndText({ status: 'skipped' }), 'up to date');
    assert.equal(
      stageEndText({ status: 'restored', reason: 'same inputs as run X' }),
      'restored from cache: same inputs as run X',
    );
    assert.equal(stageEndText({ status: 'failed', reason: 'exited with code 1' }), 'FAILED: exited with code 1');
    assert.equal(noticeText({ type: 'notice', message: 'host gpu-box has no GPUs' }), 'note: host gpu-box has no GPUs');
    for (const status of [
      'pending',
      'running',
      'succeeded',
      'failed',
      'skipped',
      'restored',
      'cancelled',
      'blocked',
    ] as const)
      assert.ok(STAGE_STATUS_WORDS[status], status);
  });

  it('words a run end: the outcome, the failing stage and the counts', () => {
    assert.equal(
      runEndText(
        record('succeeded', [
          stage('a', 'succeeded'),
          stage('b', 'succeeded'),
          stage('c', 'skipped'),
          stage('d', 'skipped'),
        ]),
      ),
      'run 20260101-000000-000-abcd succeeded (2 ok, 2 up to date)',
    );
    const failed = record('failed', [
      stage('prepare', 'succeeded'),
      stage('train', 'failed', { reason: 'exited with code 3' }),
      stage('evaluate', 'blocked'),
    ]);
    assert.equal(runOutcomeText(failed), 'failed in stage train: exited with code 3');
    assert.equal(
      runEndText(failed),
      'run 20260101-000000-000-abcd failed in stage train: exited with code 3 (1 ok, 1 FAILED, 1 blocked)',
    );
    assert.equal(
      runEndText(record('failed', [], { error: 'the lock is held' })),
      'run 20260101-000000-000-abcd failed: the lock is held',
    );
    assert.equal(
      runEndText(record('cancelled', [stage('a', 'cancelled')])),
      'run 20260101-000000-000-abcd cancelled (1 cancelled)',
    );
    assert.equal(
      stageCountsText(record('succeeded', [stage('a', 'restored'), stage('b', 'restored')])),
      '2 restored from cache',
    );
  });

  it('is the only wording: the CLI and the VS Code run controller both use it and keep no status words of their own', () => {
    for (const file of ['core/src/cli/run.ts', 'client/src/run-controller.ts']) {
      const source = readFileSync(join(ROOT, file), 'utf8');
      assert.match(source, /from '(\.\.\/)+(core\/src\/)?runner\/event-text'/, `${file} imports the event text`);
      assert.doesNotMatch(
        source,
        /succeeded: 'ok'|'FAILED'|'restored( from cache)?'/,
        `${file} words stage statuses itself`,
      );
    }
  });
});
