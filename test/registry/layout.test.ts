import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { listLayout, pushToLayout } from '../../core/src/registry/layout';
import {
  ARTIFACT_TYPE_MODEL,
  buildArtifact,
  MEDIA_TYPE_INDEX,
  MEDIA_TYPE_MANIFEST,
} from '../../core/src/registry/modelpack';
import { PushError } from '../../core/src/registry/types';
import { makePackage } from '../support/registry';

interface Index {
  schemaVersion: number;
  mediaType: string;
  manifests: {
    mediaType: string;
    digest: string;
    size: number;
    artifactType?: string;
    annotations?: Record<string, string>;
  }[];
}

const dirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `mlpipe-${prefix}-`));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const readIndex = (layout: string) => JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as Index;
const tags = (layout: string) =>
  readIndex(layout)
    .manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name'])
    .sort();

/** Every blob's content hashes to its file name (image-layout.md: "Blobs"). */
function assertBlobsMatchNames(layout: string): number {
  const names = readdirSync(join(layout, 'blobs', 'sha256'));
  for (const hex of names) {
    assert.match(hex, /^[a-f0-9]{64}$/, `only finished blobs in blobs/sha256 (found ${hex})`);
    assert.equal(
      createHash('sha256')
        .update(readFileSync(join(layout, 'blobs', 'sha256', hex)))
        .digest('hex'),
      hex,
    );
  }
  return names.length;
}

describe('the local registry: an OCI image layout', () => {
  it('writes a conformant layout with the same manifest bytes as an OCI push', async () => {
    const work = tempDir('layout-work');
    const layout = join(tempDir('layout'), 'registry');
    const pkg = makePackage(work);
    const result = await pushToLayout(pkg, layout);
    const artifact = await buildArtifact(pkg);
    assert.deepEqual(JSON.parse(readFileSync(join(layout, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
    const index = readIndex(layout);
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.mediaType, MEDIA_TYPE_INDEX);
    assert.equal(index.manifests.length, 1);
    const entry = index.manifests[0]!;
    assert.equal(entry.mediaType, MEDIA_TYPE_MANIFEST);
    assert.equal(entry.artifactType, ARTIFACT_TYPE_MODEL);
    assert.equal(entry.digest, artifact.manifestDigest);
    assert.equal(entry.size, artifact.manifest.length);
    assert.deepEqual(entry.annotations, { 'org.opencontainers.image.ref.name': '1.0.0' });
    assert.ok(
      readFileSync(join(layout, 'blobs', 'sha256', artifact.manifestDigest.slice(7))).equals(artifact.manifest),
    );
    assert.equal(assertBlobsMatchNames(layout), 5, 'model, card, metrics, config, manifest');
    for (const file of pkg.files) {
      const layer = (
        JSON.parse(artifact.manifest.toString()) as {
          layers: { digest: string; annotations: Record<string, string> }[];
        }
      ).layers.find((l) => l.annotations['org.opencontainers.image.title'] === file.name)!;
      assert.ok(readFileSync(join(layout, 'blobs', 'sha256', layer.digest.slice(7))).equals(readFileSync(file.file)));
    }
    assert.deepEqual(result, {
      target: 'local',
      reference: `oci-layout://${resolve(layout)}:1.0.0@${artifact.manifestDigest}`,
      tag: '1.0.0',
      digest: artifact.manifestDigest,
      uploadedBlobs: 4,
      skippedBlobs: 0,
      bytesUploaded: pkg.files.reduce((sum, f) => sum + readFileSync(f.file).length, 0) + artifact.config.length,
    });
    assert.ok(!existsSync(join(layout, 'index.json.lock')), 'the lock is released');
  });

  it('is idempotent, keeps other tags and moves a re-pushed tag', async () => {
    const work = tempDir('layout-work');
    const layout = tempDir('layout');
    const pkg = makePackage(work);
    const first = await pushToLayout(pkg, layout);
    const indexBytes = readFileSync(join(layout, 'index.json'));
    const again = await pushToLayout(pkg, layout);
    assert.equal(again.digest, first.digest);
    assert.equal(again.uploadedBlobs, 0);
    assert.equal(again.skippedBlobs, 4);
    assert.ok(readFileSync(join(layout, 'index.json')).equals(indexBytes), 'the index is unchanged');

    await pushToLayout(pkg, layout, { tag: 'production' });
    assert.deepEqual(tags(layout), ['1.0.0', 'production']);
    // A new approval of the same version: the tag moves, the other stays.
    const reapproved = await pushToLayout(
      { ...pkg, approval: { by: 'ben@example.com', at: '2026-02-01T00:00:00Z' } },
      layout,
    );
    assert.notEqual(reapproved.digest, first.digest);
    assert.equal(reapproved.uploadedBlobs, 1, 'only the config is new');
    const listed = listLayout(layout);
    assert.deepEqual(listed.map((e) => [e.tag, e.digest]).sort(), [
      ['1.0.0', reapproved.digest],
      ['production', first.digest],
    ]);
    const entry = listed.find((e) => e.tag === '1.0.0')!;
    assert.equal(entry.annotations['dev.mlpipe.approval.by'], 'ben@example.com');
    assert.equal(entry.annotations['org.opencontainers.image.version'], '1.0.0');
    assert.equal(entry.artifactType, ARTIFACT_TYPE_MODEL);
    assert.equal(entry.reference, `oci-layout://${resolve(layout)}:1.0.0@${reapproved.digest}`);
    assertBlobsMatchNames(layout);
    assert.deepEqual(listLayout(join(layout, 'absent')), []);
  });

  it('refuses a model file changed after approval and tags nothing', async () => {
    const work = tempDir('layout-work');
    const layout = tempDir('layout');
    const pkg = makePackage(work);
    const fd = openSync(pkg.files[0]!.file, 'r+');
    writeSync(fd, Buffer.from('tampered'), 0, 8, 10);
    closeSync(fd);
    await assert.rejects(
      pushToLayout(pkg, layout),
      (error: unknown) => error instanceof PushError && /no longer matches its approved digest/.test(error.message),
    );
    assert.ok(!existsSync(join(layout, 'index.json')));
    assert.equal(assertBlobsMatchNames(layout), 0, 'no blob and no temporary file is left');
  });

  it('concurrent pushes of different tags from two processes keep every index entry', async () => {
    const work = tempDir('layout-work');
    const layout = tempDir('layout');
    const pkg = makePackage(work);
    const input = join(work, 'pkg.json');
    writeFileSync(input, JSON.stringify(pkg));
    const script = join(work, 'push-tags.ts');
    const layoutModule = resolve(__dirname, '../../core/src/registry/layout');
    writeFileSync(
      script,
      [
        `const { pushToLayout } = require(${JSON.stringify(layoutModule)});`,
        `const pkg = JSON.parse(require('node:fs').readFileSync(${JSON.stringify(input)}, 'utf8'));`,
        'void (async () => {',
        `  for (let i = 0; i < 25; i++) await pushToLayout(pkg, ${JSON.stringify(layout)}, { tag: process.argv[2] + '-' + i });`,
        '})().catch((error) => { console.error(error); process.exit(1); });',
      ].join('\n'),
    );
    const run = (prefix: string) =>
      new Promise<void>((done, fail) => {
        const child = spawn(process.execPath, ['--import', 'tsx', script, prefix], {
          stdio: ['ignore', 'inherit', 'inherit'],
        });
        child.once('exit', (code) => (code === 0 ? done() : fail(new Error(`${prefix} exited with ${code}`))));
      });
    await Promise.all([run('a'), run('b'), pushToLayout(pkg, layout, { tag: 'main' })]);
    const expected = ['main', ...['a', 'b'].flatMap((p) => Array.from({ length: 25 }, (_, i) => `${p}-${i}`))].sort();
    assert.deepEqual(tags(layout), expected);
    assertBlobsMatchNames(layout);
  });
});
