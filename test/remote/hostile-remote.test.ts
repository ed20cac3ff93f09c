import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ContentStore } from '../../core/src/runs/content-cache';
import { HashState } from '../../core/src/runs/hash';
import { MlpipeDir, newRunId, type RunRecord } from '../../core/src/runs/records';
import { spawnSync } from 'node:child_process';
import * as http from 'node:http';
import { utimesSync } from 'node:fs';
import { mlpipeAsync } from '../support/mlpipe-cli';
import { resolveRemotes } from '../../core/src/remote/spec';
import { RemoteCache } from '../../core/src/remote/sync';
import { ROOT } from '../support/files';
import { mlpipe } from '../support/mlpipe-cli';

/*
 * A remote is someone else's: what it says may not make mlpipe write outside the declared outputs
 * of the pipeline, nor carry a write or a delete out of a shared folder through a planted link.
 * Folder remotes only: no server is needed to say these things.
 */

const sha = (bytes: string | Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const made: string[] = [];
const temp = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
};

/** Writes a file of the folder remote under its key. */
function put(remote: string, key: string, bytes: string | Buffer): void {
  mkdirSync(join(remote, key, '..'), { recursive: true });
  writeFileSync(join(remote, key), bytes);
}

function objectKey(digest: string): string {
  return `objects/${digest.slice(7, 9)}/${digest.slice(9)}`;
}

describe('a hostile remote', () => {
  after(() => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  });

  it("an entry that names a file which is not the stage's output is not restored there", () => {
    const remote = join(temp('mlpipe-hostile-remote-'), 'cache');
    put(remote, 'mlpipe-remote.json', '{}');
    const evil = '#!/bin/sh\necho owned\n';
    const digest = sha(evil);
    put(remote, objectKey(digest), evil);
    const key = sha('any key');
    const entry = {
      version: 1,
      key,
      stage: 'prepare',
      run: '20261205-010203-004-abcd',
      created: new Date().toISOString(),
      outputs: {
        'src/prepare.py': { kind: 'file', hash: digest, size: evil.length },
      },
    };
    put(remote, `stages/${key.slice(7)}.json`, JSON.stringify(entry));
    const run = {
      version: 1,
      run: entry.run,
      pipeline: 'mlpipe.yaml',
      created: entry.created,
      stages: [{ name: 'prepare', key }],
    };
    put(remote, `runs/${entry.run}.json`, JSON.stringify(run));
    const workspace = temp('mlpipe-hostile-ws-');
    cpSync(join(ROOT, 'sample-workspace'), workspace, { recursive: true });
    const pipeline = join(workspace, 'mlpipe.yaml');
    writeFileSync(
      pipeline,
      readFileSync(pipeline, 'utf8').replace(
        /^params: params\.yaml$/m,
        `params: params.yaml\nremotes: { shared: { url: "file://${remote}" } }`,
      ),
    );
    const source = readFileSync(join(workspace, 'src/prepare.py'), 'utf8');
    const pull = mlpipe(['cache', 'pull', entry.run], workspace, { DOCKER_HOST: 'unix:///nonexistent.sock' });
    assert.equal(pull.status, 1, pull.stderr);
    assert.match(pull.stderr, /src\/prepare\.py: not an output of stage 'prepare' in the pipeline now, not restored/);
    assert.equal(readFileSync(join(workspace, 'src/prepare.py'), 'utf8'), source, 'the source file is untouched');
    assert.doesNotMatch(pull.stderr, /\n\s+at /, 'no stack trace');
  });

  it('a folder remote with a link planted in it: a push is refused and nothing is written through the link', async () => {
    const share = temp('mlpipe-hostile-share-');
    const remote = join(share, 'cache');
    const elsewhere = join(share, 'elsewhere');
    mkdirSync(remote);
    mkdirSync(elsewhere);
    writeFileSync(join(remote, 'mlpipe-remote.json'), '{}');
    symlinkSync(elsewhere, join(remote, 'objects'));
    const workspace = temp('mlpipe-hostile-ws-');
    const store = new ContentStore(join(workspace, '.mlpipe', 'cache'));
    mkdirSync(join(workspace, 'out'), { recursive: true });
    writeFileSync(join(workspace, 'out/model.bin'), 'weights');
    const digest = sha('weights');
    const content = { kind: 'file' as const, hash: digest, size: 7 };
    store.put(join(workspace, 'out/model.bin'), content);
    const entry = {
      version: 1 as const,
      key: sha('key'),
      stage: 'train',
      run: '20261205-010203-004-abcd',
      created: new Date().toISOString(),
      outputs: { 'out/model.bin': content },
    };
    const config = resolveRemotes({ shared: { url: `file://${remote}` } }, { pipelineFile: 'mlpipe.yaml' });
    const cache = new RemoteCache(store, config);
    await assert.rejects(cache.push([entry], []), /objects is a symbolic link; refused/);
    assert.deepEqual(readdirSync(elsewhere), [], 'nothing was written through the link');
    cache.close();
  });

  it('a folder that is not an mlpipe remote (it holds other files) is never written to', async () => {
    const home = temp('mlpipe-hostile-home-');
    writeFileSync(join(home, '.bashrc'), 'export PATH');
    const workspace = temp('mlpipe-hostile-ws-');
    const store = new ContentStore(join(workspace, '.mlpipe', 'cache'));
    mkdirSync(join(workspace, 'out'), { recursive: true });
    writeFileSync(join(workspace, 'out/a'), 'a');
    const content = { kind: 'file' as const, hash: sha('a'), size: 1 };
    store.put(join(workspace, 'out/a'), content);
    const config = resolveRemotes({ home: { url: `file://${home}` } }, { pipelineFile: 'mlpipe.yaml' });
    const cache = new RemoteCache(store, config);
    const entry = {
      version: 1 as const,
      key: sha('k'),
      stage: 's',
      run: '20261205-010203-004-abcd',
      created: '',
      outputs: { 'out/a': content },
    };
    await assert.rejects(
      cache.push([entry], []),
      /is not an mlpipe remote \(it holds other files and no mlpipe-remote\.json\)/,
    );
    assert.deepEqual(readdirSync(home), ['.bashrc']);
    cache.close();
  });

  it('a FIFO planted as an object or a run index is refused at once, never waited on', async () => {
    const remote = join(temp('mlpipe-hostile-fifo-'), 'cache');
    put(remote, 'mlpipe-remote.json', '{}');
    const id = '20261205-010203-004-abcd';
    mkdirSync(join(remote, 'runs'), { recursive: true });
    assert.equal(spawnSync('mkfifo', [join(remote, 'runs', `${id}.json`)]).status, 0);
    const workspace = temp('mlpipe-hostile-ws-');
    writeFileSync(
      join(workspace, 'mlpipe.yaml'),
      `version: 1\nremotes: { shared: { url: "file://${remote}" } }\nstages:\n  s: { image: busybox, cmd: "true", outs: [out] }\n`,
    );
    const pull = await mlpipeAsync(['cache', 'pull', id], workspace, {}).done;
    assert.equal(pull.status, 1, pull.stderr);
    assert.match(pull.stderr, /runs\/20261205-010203-004-abcd\.json is not a regular file; refused/);
  });

  it("gc of a remote that only outputs name keeps every object the default remote's entries reference", async () => {
    const share = temp('mlpipe-hostile-gc-');
    const workspace = temp('mlpipe-hostile-ws-');
    writeFileSync(
      join(workspace, 'mlpipe.yaml'),
      [
        'version: 1',
        'remotes:',
        `  team: { url: "file://${join(share, 'team')}" }`,
        `  big: { url: "file://${join(share, 'big')}" }`,
        'stages:',
        '  train: { image: busybox, cmd: "true", outs: [{ path: models/model.bin, remote: big }] }',
        '',
      ].join('\n'),
    );
    mkdirSync(join(workspace, 'models'));
    writeFileSync(join(workspace, 'models/model.bin'), 'weights of a model');
    const mlpipeDir = new MlpipeDir(join(workspace, '.mlpipe'));
    mlpipeDir.ensure();
    const state = new HashState(join(mlpipeDir.root, 'state.json'));
    const store = new ContentStore(join(mlpipeDir.root, 'cache'));
    const content = (await state.hash(join(workspace, 'models/model.bin'), 'refuse'))!;
    store.put(join(workspace, 'models/model.bin'), content);
    const id = newRunId();
    const key = sha('the key');
    const now = new Date().toISOString();
    store.saveEntry({
      version: 1,
      key,
      stage: 'train',
      run: id,
      created: now,
      outputs: { 'models/model.bin': content },
    });
    const record = {
      version: 1,
      id,
      pipeline: 'mlpipe.yaml',
      workspace,
      status: 'succeeded',
      target: { stages: [], upstream: false, force: false },
      started: now,
      ended: now,
      pid: process.pid,
      params: {},
      stages: [
        {
          name: 'train',
          stage: 'train',
          matrix: {},
          status: 'succeeded',
          host: 'local',
          image: 'busybox',
          command: 'true',
          key,
          attempts: 1,
          params: {},
          deps: {},
          outputs: { 'models/model.bin': content.hash },
          metrics: {},
          log: 'logs/train.log',
        },
      ],
    } as unknown as RunRecord;
    mlpipeDir.writeRecord(record);
    const push = mlpipe(['cache', 'push', id], workspace);
    assert.equal(push.status, 0, push.stderr);
    const object = join(share, 'big', 'objects', content.hash.slice(7, 9), content.hash.slice(9));
    assert.ok(
      readFileSync(object).equals(readFileSync(join(workspace, 'models/model.bin'))),
      'the output went to its own remote',
    );
    const old = new Date(Date.now() - 3 * 86_400_000);
    utimesSync(object, old, old);
    const gc = mlpipe(['cache', 'gc', '--remote', 'big', '--keep-days', '0'], workspace);
    assert.equal(gc.status, 0, gc.stderr);
    assert.match(gc.stdout, /removed 0 run indexes, 0 stage entries \(0 kept\) and 0 objects/);
    assert.ok(readFileSync(object).length > 0, 'the object a kept entry of the default remote references stays');
  });

  it('an S3 server that stops sending in the middle of an answer: a clear stall error within the bound, no secret', async () => {
    const server = http.createServer((request, response) => {
      request.resume();
      response.writeHead(200, { 'Content-Length': '100', 'Content-Type': 'application/json' });
      response.write('{"version"'); // and nothing more, ever
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as { port: number }).port;
    try {
      const workspace = temp('mlpipe-hostile-ws-');
      writeFileSync(
        join(workspace, 'mlpipe.yaml'),
        `version: 1\nremotes: { team: { url: "s3://stalled/p", endpoint: "http://127.0.0.1:${port}" } }\nstages:\n  s: { image: busybox, cmd: "true", outs: [out] }\n`,
      );
      const started = Date.now();
      const secret = 'Sup3rSecretKeyNobodySees';
      const pull = await mlpipeAsync(['cache', 'pull', '20261205-010203-004-abcd'], workspace, {
        AWS_ACCESS_KEY_ID: 'AKIASTALL',
        AWS_SECRET_ACCESS_KEY: secret,
        AWS_SESSION_TOKEN: 'SessionTokenNobodySees',
        MLPIPE_STALL_TIMEOUT: '1',
      }).done;
      assert.equal(pull.status, 1, pull.stderr);
      assert.match(pull.stderr, /reading runs\/20261205-010203-004-abcd\.json: nothing arrived for 1 s after 10 bytes/);
      assert.ok(Date.now() - started < 30_000, 'bounded');
      assert.ok(!pull.stderr.includes(secret) && !pull.stderr.includes('SessionTokenNobodySees'));
      assert.doesNotMatch(pull.stderr, /internal error|\n\s+at /);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('an entry that claims more bytes than the disk has free is refused before anything is written', async () => {
    const remote = join(temp('mlpipe-hostile-size-'), 'cache');
    put(remote, 'mlpipe-remote.json', '{}');
    const digest = sha('small');
    put(remote, objectKey(digest), 'small');
    const key = sha('size key');
    const id = '20261205-010203-004-abcd';
    const entry = {
      version: 1,
      key,
      stage: 's',
      run: id,
      created: new Date().toISOString(),
      outputs: { out: { kind: 'file', hash: digest, size: 2 ** 52 } },
    };
    put(remote, `stages/${key.slice(7)}.json`, JSON.stringify(entry));
    put(
      remote,
      `runs/${id}.json`,
      JSON.stringify({
        version: 1,
        run: id,
        pipeline: 'mlpipe.yaml',
        created: entry.created,
        stages: [{ name: 's', key }],
      }),
    );
    const workspace = temp('mlpipe-hostile-ws-');
    writeFileSync(
      join(workspace, 'mlpipe.yaml'),
      `version: 1\nremotes: { shared: { url: "file://${remote}" } }\nstages:\n  s: { image: busybox, cmd: "true", outs: [out] }\n`,
    );
    const pull = mlpipe(['cache', 'pull', id], workspace);
    assert.equal(pull.status, 1, pull.stderr);
    assert.match(pull.stderr, /stage 's' needs 4503599627370496 bytes from the remote and the disk of .* has \d+ free/);
    const objects = join(workspace, '.mlpipe', 'cache', 'objects');
    assert.ok(!existsSync(objects) || readdirSync(objects).length === 0, 'nothing was downloaded');
  });
});
