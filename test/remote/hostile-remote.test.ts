import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  cpSync,
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
});
