import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type TransferProgress } from '../../core/src/remote/sync';
import { type CacheStatus } from '../../core/src/runner/remote-cache';
import { remoteSummary, RemoteStates } from '../../client/src/remote/run-states';
import { TransferMeter, transferText } from '../../client/src/remote/transfer-meter';

// The client's team cache parts that need no editor: the words of a transfer's progress and the
// remote state of runs the Experiments view shows.

function progress(fields: Partial<TransferProgress>): TransferProgress {
  return { remote: 'team', phase: 'uploading', files: 10, filesDone: 0, bytes: 40e6, bytesDone: 0, ...fields };
}

function status(runs: [string, boolean][], fields: Partial<CacheStatus> = {}): CacheStatus {
  return {
    remote: 'team',
    shown: 's3://bucket/prefix',
    entries: { localOnly: 2, remoteOnly: 0, both: 3 },
    objects: { localOnly: 4, both: 5, bytesLocalOnly: 12e6 },
    runs: runs.map(([id, remote]) => ({ id, remote })),
    remoteRuns: runs.filter(([, remote]) => remote).length,
    ...fields,
  };
}

describe('transferText and TransferMeter: a transfer in words', () => {
  it('says the phase, files, bytes and rate', () => {
    assert.equal(
      transferText(progress({ filesDone: 3, bytesDone: 12e6 }), 5.1e6),
      'team: uploading 3/10 files, 12.0 MB of 40.0 MB, 5.1 MB/s',
    );
    assert.equal(transferText(progress({ phase: 'checking', files: 7 }), undefined), 'team: checking 7 objects');
    assert.equal(transferText(progress({ files: 0, bytes: 0 }), undefined), 'team: nothing to upload');
  });

  it('reads at most every interval, always at the end of a batch, with the rate since the batch began', () => {
    let clock = 1000;
    const meter = new TransferMeter(() => clock, 250);
    const event = progress({ phase: 'downloading', files: 2, bytes: 4e6 });
    const first = meter.read(event);
    assert.ok(first);
    assert.equal(first.bytesPerSecond, undefined, 'no rate before there is time to measure one');
    clock += 100;
    event.bytesDone = 1e6;
    assert.equal(meter.read(event), undefined, 'too soon after the last reading');
    clock += 900;
    event.bytesDone = 2e6;
    const second = meter.read(event)!;
    assert.equal(second.bytesPerSecond, 2e6);
    assert.equal(second.short, 'team 0/2 · 2.0 MB/s');
    assert.equal(second.done, false);
    clock += 10;
    event.filesDone = 2;
    event.bytesDone = 4e6;
    const last = meter.read(event);
    assert.ok(last?.done, 'the end of a batch is read however soon');
  });

  it('restarts the clock on a new batch (the next stage of a run, a retry that went back)', () => {
    let clock = 0;
    const meter = new TransferMeter(() => clock, 0);
    meter.read(progress({ bytesDone: 0 }));
    clock = 10_000;
    assert.equal(meter.read(progress({ bytesDone: 10e6 }))!.bytesPerSecond, 1e6);
    clock = 11_000;
    // Another batch: the rate counts from here, not from the first one's start.
    meter.read(progress({ phase: 'downloading', files: 1, bytes: 1e6, bytesDone: 0 }));
    clock = 12_000;
    assert.equal(
      meter.read(progress({ phase: 'downloading', files: 1, bytes: 1e6, bytesDone: 5e5 }))!.bytesPerSecond,
      5e5,
    );
    clock = 13_000;
    assert.equal(
      meter.read(progress({ phase: 'downloading', files: 1, bytes: 1e6, bytesDone: 1e5 }))!.bytesPerSecond,
      undefined,
      'bytes that went back (a retried object) start the measure again',
    );
  });
});

describe('RemoteStates: which runs the remote holds, for the Experiments view', () => {
  it('says local only or local + remote for the runs the remote was asked about, nothing for others', () => {
    const states = new RemoteStates(() => 0);
    states.known(
      '/w/.mlpipe',
      status([
        ['run-a', true],
        ['run-b', false],
      ]),
    );
    assert.equal(states.runState('/w/.mlpipe', 'run-a'), 'local + remote');
    assert.equal(states.runState('/w/.mlpipe', 'run-b'), 'local only');
    assert.equal(states.runState('/w/.mlpipe', 'run-new'), undefined, 'a run made after the remote was asked');
    assert.equal(states.runState('/other/.mlpipe', 'run-a'), undefined);
    const known = states.get('/w/.mlpipe');
    assert.equal(known?.kind, 'known');
    assert.equal(
      remoteSummary(known as Extract<typeof known, { kind: 'known' }>),
      '1 of 2 runs pushed · 12.0 MB local only',
    );
  });

  it('asks a folder again only after the interval, whatever the last answer was', () => {
    let clock = 0;
    const states = new RemoteStates(() => clock, 60_000);
    assert.ok(states.due('/w/.mlpipe'), 'never asked');
    states.failed('/w/.mlpipe', "remote 'team' (s3://bucket/): list: no AWS credentials found");
    clock = 59_999;
    assert.ok(!states.due('/w/.mlpipe'));
    clock = 60_000;
    assert.ok(states.due('/w/.mlpipe'));
    states.none('/w/.mlpipe');
    assert.ok(!states.due('/w/.mlpipe'));
  });

  it('shows failed and known folders, not those without a remote, and keeps a failure with its message', () => {
    const states = new RemoteStates(() => 0);
    states.none('/a/.mlpipe');
    states.failed('/c/.mlpipe', 'HTTP 403');
    states.known('/b/.mlpipe', status([]));
    assert.deepEqual(
      states.shown().map(([root, state]) => [root, state.kind]),
      [
        ['/b/.mlpipe', 'known'],
        ['/c/.mlpipe', 'failed'],
      ],
    );
    states.retain(['/b/.mlpipe']);
    assert.deepEqual(
      states.shown().map(([root]) => root),
      ['/b/.mlpipe'],
    );
  });

  it('marks pushed runs without asking again, only for the remote it shows', () => {
    const states = new RemoteStates(() => 0);
    states.known('/w/.mlpipe', status([['run-a', false]]));
    assert.equal(states.markPushed('/w/.mlpipe', 'other', ['run-a']), false);
    assert.equal(states.runState('/w/.mlpipe', 'run-a'), 'local only');
    assert.equal(states.markPushed('/w/.mlpipe', 'team', ['run-a', 'run-new']), true);
    assert.equal(states.runState('/w/.mlpipe', 'run-a'), 'local + remote');
    assert.equal(states.runState('/w/.mlpipe', 'run-new'), 'local + remote');
    const known = states.get('/w/.mlpipe') as Extract<ReturnType<RemoteStates['get']>, { kind: 'known' }>;
    assert.equal(known.remoteRuns, 2);
    assert.equal(states.markPushed('/nowhere/.mlpipe', 'team', ['run-a']), false);
  });
});
