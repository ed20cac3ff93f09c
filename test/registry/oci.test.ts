import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dockerCredentials } from '../../core/src/registry/credentials';
import {
  ARTIFACT_TYPE_MODEL,
  buildArtifact,
  hashFile,
  MEDIA_TYPE_DOC_RAW,
  MEDIA_TYPE_MANIFEST,
  MEDIA_TYPE_MODEL_CONFIG,
  MEDIA_TYPE_WEIGHT_RAW,
} from '../../core/src/registry/modelpack';
import { parseChallenge, parseOciTarget, pushToOci } from '../../core/src/registry/oci';
import { PushError, type ModelPackage } from '../../core/src/registry/types';
import {
  makePackage,
  pushInChild,
  registryGet,
  registryMissing,
  startRegistry,
  type RunningRegistry,
} from '../support/registry';

const missing = registryMissing();
if (missing && process.env.CI) throw new Error(`registry tests cannot run: ${missing}`);

/** Size of the bounded-memory push here; `npm run bench:push` pushes 1 GB. */
const BIG_MB = Number(process.env.MLPIPE_TEST_BIG_MB ?? 1024);
const ACCEPT = { Accept: MEDIA_TYPE_MANIFEST };
const sha = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `mlpipe-${prefix}-`));
}

async function rejects(promise: Promise<unknown>): Promise<PushError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PushError, `expected a PushError, got ${String(error)}`);
    return error;
  }
  assert.fail('the push succeeded');
}

/** Pulls the manifest and every blob by digest and compares them with the package's files. */
async function assertPulledBack(
  registry: RunningRegistry,
  repository: string,
  tag: string,
  pkg: ModelPackage,
  digest: string,
  auth?: string,
): Promise<void> {
  const headers: Record<string, string> = { ...ACCEPT, ...(auth ? { Authorization: auth } : {}) };
  const options = { headers, ...(registry.caFile ? { caFile: registry.caFile } : {}) };
  const manifest = await registryGet(`${registry.url}/v2/${repository}/manifests/${tag}`, options);
  assert.equal(manifest.status, 200, manifest.body.toString());
  assert.equal(manifest.headers['docker-content-digest'], digest);
  assert.equal(sha(manifest.body), digest);
  const parsed = JSON.parse(manifest.body.toString()) as {
    layers: { digest: string; mediaType: string; annotations: Record<string, string> }[];
    config: { digest: string; mediaType: string };
  };
  assert.equal(parsed.layers.length, pkg.files.length);
  for (const layer of parsed.layers) {
    const file = pkg.files.find((f) => f.name === layer.annotations['org.opencontainers.image.title']);
    assert.ok(file, `layer ${layer.digest} names a package file`);
    const blob = await registryGet(`${registry.url}/v2/${repository}/blobs/${layer.digest}`, options);
    assert.equal(blob.status, 200);
    assert.ok(blob.body.equals(readFileSync(file.file)), `${file.name} pulled back byte for byte`);
    assert.equal(sha(blob.body), layer.digest);
  }
  const config = await registryGet(`${registry.url}/v2/${repository}/blobs/${parsed.config.digest}`, options);
  assert.equal(config.status, 200);
  assert.equal(sha(config.body), parsed.config.digest);
  assert.ok(config.body.equals((await buildArtifact(pkg)).config));
}

async function manifestStatus(
  registry: RunningRegistry,
  repository: string,
  tag: string,
  auth?: string,
): Promise<number> {
  const response = await registryGet(`${registry.url}/v2/${repository}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { ...ACCEPT, ...(auth ? { Authorization: auth } : {}) },
    ...(registry.caFile ? { caFile: registry.caFile } : {}),
  });
  return response.status;
}

describe('OCI targets', () => {
  it('parses oci:// and oci+http:// targets', () => {
    assert.deepEqual(parseOciTarget('oci://registry.example.com/team/churn:1.2.0'), {
      text: 'oci://registry.example.com/team/churn:1.2.0',
      scheme: 'https',
      host: 'registry.example.com',
      hostname: 'registry.example.com',
      port: 443,
      repository: 'team/churn',
      tag: '1.2.0',
    });
    const local = parseOciTarget('oci+http://127.0.0.1:5000/models/churn');
    assert.equal(local.scheme, 'http');
    assert.equal(local.host, '127.0.0.1:5000');
    assert.equal(local.port, 5000);
    assert.equal(local.tag, undefined);
    assert.equal(parseOciTarget('oci+http://[::1]:5000/a').hostname, '::1');
    assert.equal(parseOciTarget('oci://host:5000/a/b/c').repository, 'a/b/c');
  });

  it('refuses plain HTTP to another machine, bad names and digests', () => {
    assert.throws(
      () => parseOciTarget('oci+http://registry.example.com/team/churn'),
      /plain HTTP is only allowed to a registry on this machine/,
    );
    assert.throws(() => parseOciTarget('oci://host/Team/Churn'), /not a valid repository name/);
    assert.throws(() => parseOciTarget('oci://host/team/churn:-bad'), /not a valid tag/);
    assert.throws(() => parseOciTarget('oci://host/team/churn@sha256:00'), /not a digest/);
    assert.throws(() => parseOciTarget('https://host/team'), /not an OCI target/);
    assert.throws(() => parseOciTarget('oci://user:pw@host/team'), /no credentials in the target/);
  });

  it('parses WWW-Authenticate challenges', () => {
    assert.deepEqual(
      parseChallenge(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/churn:pull,push"',
      ),
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.example.com/token',
          service: 'registry.example.com',
          scope: 'repository:team/churn:pull,push',
        },
      },
    );
    assert.equal(parseChallenge('Basic realm="mlpipe-test"')?.scheme, 'basic');
  });
});

describe('ModelPack artifacts', () => {
  it('builds a deterministic manifest and a config valid for the ModelPack schema', async () => {
    const dir = tempDir('modelpack');
    try {
      const pkg = makePackage(dir);
      const first = await buildArtifact(pkg);
      const second = await buildArtifact({
        ...pkg,
        files: [...pkg.files].reverse(),
        annotations: Object.fromEntries(Object.entries(pkg.annotations).reverse()),
      });
      assert.ok(first.manifest.equals(second.manifest));
      assert.ok(first.config.equals(second.config));
      const manifest = JSON.parse(first.manifest.toString()) as Record<string, unknown> & {
        layers: { mediaType: string; annotations: Record<string, string> }[];
        annotations: Record<string, string>;
      };
      assert.equal(manifest.schemaVersion, 2);
      assert.equal(manifest.mediaType, MEDIA_TYPE_MANIFEST);
      assert.equal(manifest.artifactType, ARTIFACT_TYPE_MODEL);
      assert.equal((manifest.config as { mediaType: string }).mediaType, MEDIA_TYPE_MODEL_CONFIG);
      assert.deepEqual(
        manifest.layers.map((l) => [l.mediaType, l.annotations['org.opencontainers.image.title']]),
        [
          [MEDIA_TYPE_WEIGHT_RAW, 'model.npz'],
          [MEDIA_TYPE_DOC_RAW, 'modelcard.yaml'],
          [MEDIA_TYPE_DOC_RAW, 'metrics/eval-test.json'],
        ],
      );
      assert.equal(manifest.annotations['org.opencontainers.image.created'], '2026-01-03T10:00:00.000Z');
      assert.equal(manifest.annotations['org.opencontainers.image.version'], '1.0.0');
      assert.equal(manifest.annotations['dev.mlpipe.run'], pkg.run);
      assert.equal(manifest.annotations['dev.mlpipe.approval.by'], 'ana@example.com');
      assert.equal(manifest.annotations['dev.mlpipe.artifact.digest'], pkg.artifactDigest);
      assert.deepEqual(JSON.parse(manifest.annotations['dev.mlpipe.metrics']!), pkg.metrics);
      const config = JSON.parse(first.config.toString()) as {
        descriptor: Record<string, unknown>;
        modelfs: { type: string; diffIds: string[] };
        config: object;
      };
      // schema/config-schema.json of modelpack/model-spec: these three, nothing else.
      assert.deepEqual(Object.keys(config).sort(), ['config', 'descriptor', 'modelfs']);
      assert.deepEqual(config.descriptor, {
        createdAt: '2026-01-03T10:00:00.000Z',
        name: 'churn-classifier',
        revision: 'abc123',
        sourceURL: 'https://example.com/churn.git',
        version: '1.0.0',
      });
      assert.equal(config.modelfs.type, 'layers');
      assert.equal(config.modelfs.diffIds[0], pkg.artifactDigest);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Docker credentials', () => {
  const dir = tempDir('docker-config');
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (config: object) => {
    const path = join(dir, 'config.json');
    writeFileSync(path, JSON.stringify(config));
    return path;
  };

  it('reads auths entries (auth and identitytoken)', () => {
    const configPath = write({
      auths: {
        'https://registry.example.com:5000/v1/': { auth: Buffer.from('ana:s3cr:et').toString('base64') },
        'other.example.com': { identitytoken: 'refresh-me' },
      },
    });
    assert.deepEqual(dockerCredentials('registry.example.com:5000', { configPath }), {
      username: 'ana',
      password: 's3cr:et',
    });
    assert.deepEqual(dockerCredentials('other.example.com', { configPath }), { token: 'refresh-me' });
    assert.equal(dockerCredentials('unknown.example.com', { configPath }), undefined);
    assert.equal(dockerCredentials('x', { configPath: join(dir, 'absent.json') }), undefined);
  });

  it('asks credential helpers and says when one is missing', () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    const helper = join(bin, 'docker-credential-mlpipetest');
    writeFileSync(
      helper,
      '#!/bin/sh\nread server\nif [ "$server" = "helped.example.com" ]; then echo \'{"ServerURL":"helped.example.com","Username":"bob","Secret":"pw-from-helper"}\'; else echo "credentials not found in native keychain"; exit 1; fi\n',
    );
    chmodSync(helper, 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path ?? ''}`;
    try {
      const configPath = write({
        credHelpers: { 'helped.example.com': 'mlpipetest', 'broken.example.com': 'notinstalled' },
        credsStore: 'mlpipetest',
      });
      assert.deepEqual(dockerCredentials('helped.example.com', { configPath }), {
        username: 'bob',
        password: 'pw-from-helper',
      });
      assert.equal(dockerCredentials('elsewhere.example.com', { configPath }), undefined);
      assert.throws(
        () => dockerCredentials('broken.example.com', { configPath }),
        /docker-credential-notinstalled is not installed/,
      );
    } finally {
      process.env.PATH = path;
    }
  });
});

describe('pushing to a real OCI registry (CNCF Distribution)', { skip: missing }, () => {
  let registry: RunningRegistry;
  let dir: string;
  let pkg: ModelPackage;
  before(async () => {
    registry = await startRegistry();
    dir = tempDir('oci-push');
    pkg = makePackage(dir);
  });
  after(async () => {
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pushes a ModelPack artifact whose manifest and blobs pull back byte for byte', async () => {
    const events: { file: string; bytes: number; total: number }[] = [];
    const result = await pushToOci(pkg, registry.target('team/churn'), {
      onProgress: (event) => void ('file' in event && events.push(event)),
    });
    assert.equal(result.tag, '1.0.0');
    assert.equal(result.uploadedBlobs, 4);
    assert.equal(result.skippedBlobs, 0);
    assert.equal(result.reference, `${registry.host}/team/churn@${result.digest}`);
    assert.equal(result.digest, (await buildArtifact(pkg)).manifestDigest);
    await assertPulledBack(registry, 'team/churn', '1.0.0', pkg, result.digest);
    const model = events.filter((e) => e.file === 'model.npz');
    assert.equal(model.at(-1)?.bytes, model.at(-1)?.total);
  });

  it('a second push uploads nothing and gives the same manifest digest', async () => {
    const first = await pushToOci(pkg, registry.target('team/churn'));
    const second = await pushToOci(pkg, registry.target('team/churn'));
    assert.equal(second.uploadedBlobs, 0);
    assert.equal(second.skippedBlobs, 4);
    assert.equal(second.bytesUploaded, 0);
    assert.equal(second.digest, first.digest);
  });

  it('uploads large blobs in chunks (PATCH with Content-Range, following Location)', async () => {
    const result = await pushToOci(pkg, registry.target('team/chunked', 'candidate'), {
      chunkSize: 256 * 1024 + 3,
      monolithicLimit: 1,
    });
    assert.equal(result.tag, 'candidate');
    assert.equal(result.uploadedBlobs, 4);
    await assertPulledBack(registry, 'team/chunked', 'candidate', pkg, result.digest);
  });

  it('mounts blobs from another repository instead of uploading them', async () => {
    const result = await pushToOci(pkg, registry.target('team/mounted'), { mountFrom: 'team/churn' });
    // The config, model, card and metrics all exist in team/churn.
    assert.equal(result.uploadedBlobs, 0);
    assert.equal(result.bytesUploaded, 0);
    await assertPulledBack(registry, 'team/mounted', '1.0.0', pkg, result.digest);
  });

  for (const [mode, options] of [
    ['monolithic', {}],
    ['chunked', { chunkSize: 512 * 1024, monolithicLimit: 1 }],
  ] as const) {
    it(`refuses a model file changed after approval (${mode}) and tags nothing`, async () => {
      const own = tempDir('tampered');
      try {
        const tampered = makePackage(own);
        const fd = openSync(tampered.files[0]!.file, 'r+');
        writeSync(fd, Buffer.from('tampered'), 0, 8, 1000);
        closeSync(fd);
        const error = await rejects(pushToOci(tampered, registry.target(`team/tampered-${mode}`), options));
        assert.match(error.message, /no longer matches its approved digest/);
        assert.match(error.message, /nothing was tagged/);
        assert.equal(await manifestStatus(registry, `team/tampered-${mode}`, '1.0.0'), 404);
        const blob = await registryGet(`${registry.url}/v2/team/tampered-${mode}/blobs/${tampered.artifactDigest}`, {
          method: 'HEAD',
        });
        assert.equal(blob.status, 404);
      } finally {
        rmSync(own, { recursive: true, force: true });
      }
    });
  }

  it('a registry killed mid-upload leaves no tag, and a retry after restart succeeds', async () => {
    const own = tempDir('killed');
    try {
      const big = makePackage(own, { modelBytes: 96 * 1024 * 1024 });
      let killed: Promise<void> | undefined;
      const error = await rejects(
        pushToOci(big, registry.target('team/killed'), {
          chunkSize: 4 * 1024 * 1024,
          monolithicLimit: 1,
          onProgress: (event) => {
            if ('file' in event && event.file === 'model.npz' && event.bytes > 24 * 1024 * 1024 && !killed)
              killed = registry.kill();
          },
        }),
      );
      assert.ok(killed, 'the registry was killed during the upload');
      await killed;
      assert.match(error.message, /model\.npz/);
      assert.match(error.message, /connection|connect/);
      await registry.restart();
      assert.equal(
        await manifestStatus(registry, 'team/killed', '1.0.0'),
        404,
        'no manifest points at a partial upload',
      );
      const retry = await pushToOci(big, registry.target('team/killed'), {
        chunkSize: 4 * 1024 * 1024,
        monolithicLimit: 1,
      });
      assert.equal(await manifestStatus(registry, 'team/killed', '1.0.0'), 200);
      const model = await registryGet(`${registry.url}/v2/team/killed/blobs/${big.artifactDigest}`);
      assert.equal(sha(model.body), big.artifactDigest);
      assert.equal(retry.digest, (await buildArtifact(big)).manifestDigest);
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
  });

  it(`pushes a ${BIG_MB} MB artifact with bounded memory (peak RSS of the pushing process < 200 MB)`, async () => {
    const own = tempDir('big');
    try {
      const model = join(own, 'big.bin');
      // Distinct, cheap content: a 1 MiB random block with a counter in each block.
      const block = createHash('sha512').update('seed').digest();
      const chunk = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < chunk.length; i += block.length) block.copy(chunk, i);
      const fd = openSync(model, 'w');
      for (let i = 0; i < BIG_MB; i++) {
        chunk.writeUInt32LE(i, 0);
        writeSync(fd, chunk);
      }
      closeSync(fd);
      const { digest } = await hashFile(model);
      const big = makePackage(own, { modelFile: model, modelDigest: digest });
      // In a fresh process, so the peak resident memory is the push's alone.
      const pushed = await pushInChild(big, registry.target('team/big'));
      console.log(
        `pushed ${BIG_MB} MB in ${pushed.seconds.toFixed(1)} s (${(BIG_MB / pushed.seconds).toFixed(0)} MB/s), peak RSS ${pushed.peakRssMB.toFixed(0)} MB (polled ${pushed.polledPeakMB.toFixed(0)} MB)`,
      );
      assert.equal(pushed.result.uploadedBlobs, 4);
      assert.ok(pushed.peakRssMB < 200, `peak RSS ${pushed.peakRssMB.toFixed(0)} MB`);
      const head = await registryGet(`${registry.url}/v2/team/big/blobs/${digest}`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(Number(head.headers['content-length']), BIG_MB * 1024 * 1024);
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
  });
});

describe('pushing to a registry with htpasswd auth and TLS', { skip: missing }, () => {
  const username = 'alice';
  const password = 'correct-horse-battery-staple';
  const basic = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  let registry: RunningRegistry;
  let dir: string;
  let pkg: ModelPackage;
  before(async () => {
    registry = await startRegistry({ tls: true, auth: { username, password } });
    dir = tempDir('oci-auth');
    pkg = makePackage(dir);
  });
  after(async () => {
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pushes with the right credentials over verified TLS', async () => {
    const result = await pushToOci(pkg, registry.target('secure/churn'), {
      credentials: { username, password },
      caFile: registry.caFile!,
    });
    assert.equal(result.uploadedBlobs, 4);
    await assertPulledBack(registry, 'secure/churn', '1.0.0', pkg, result.digest, basic);
  });

  it('wrong credentials: a 401 that names the user and never the password', async () => {
    const wrong = 'wrong-password-123';
    const error = await rejects(
      pushToOci(pkg, registry.target('secure/wrong'), {
        credentials: { username, password: wrong },
        caFile: registry.caFile!,
      }),
    );
    assert.equal(error.status, 401);
    assert.match(error.message, /401/);
    assert.match(error.message, /refused the credentials for user alice/);
    assert.match(error.message, /~\/\.docker\/config\.json|Set Registry Credentials/);
    assert.ok(!error.message.includes(wrong));
    assert.ok(!error.message.includes(Buffer.from(`${username}:${wrong}`).toString('base64')));
    assert.ok(!(error.stack ?? '').includes(wrong));
    assert.equal(await manifestStatus(registry, 'secure/wrong', '1.0.0', basic), 404);
  });

  it('no credentials: says the registry needs some and how to give them', async () => {
    const error = await rejects(pushToOci(pkg, registry.target('secure/anonymous'), { caFile: registry.caFile! }));
    assert.equal(error.status, 401);
    assert.match(error.message, /needs credentials and none were found for 127\.0\.0\.1:\d+/);
    assert.match(error.message, /docker login/);
  });

  it('TLS is verified: without the CA the push fails with a certificate error', async () => {
    const error = await rejects(
      pushToOci(pkg, registry.target('secure/untrusted'), { credentials: { username, password } }),
    );
    assert.match(error.message, /TLS certificate verification of 127\.0\.0\.1 failed/);
    assert.match(error.message, /caFile/);
    assert.ok(!error.message.includes(password));
  });

  it('plain HTTP against a TLS registry says so', async () => {
    const error = await rejects(
      pushToOci(pkg, `oci+http://${registry.host}/secure/plain`, { credentials: { username, password } }),
    );
    assert.match(error.message, new RegExp(`use oci://${registry.host.replace(/\./g, '\\.')}/secure/plain`));
    assert.ok(!error.message.includes(password));
  });
});

/**
 * Bearer tokens (Docker's token protocol): a proxy in front of a plain registry that asks for a
 * token from its realm, which hands one out for the right Basic credentials.
 */
describe('Bearer token authentication', { skip: missing }, () => {
  let registry: RunningRegistry;
  let proxy: Server;
  let port = 0;
  let dir: string;
  const issued: string[] = [];
  const scopes: string[] = [];
  before(async () => {
    registry = await startRegistry();
    dir = tempDir('oci-bearer');
    proxy = createServer((req, res) => {
      const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
      if (url.pathname === '/token') {
        scopes.push(url.searchParams.getAll('scope').join(' '));
        if (req.headers.authorization !== `Basic ${Buffer.from('bob:token-pw').toString('base64')}`) {
          res
            .writeHead(401, { 'Content-Type': 'application/json' })
            .end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
          return;
        }
        const token = `tok-${issued.length}-${Math.random().toString(36).slice(2)}`;
        issued.push(token);
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token }));
        return;
      }
      const bearer = req.headers.authorization?.replace(/^Bearer /, '');
      if (!bearer || !issued.includes(bearer)) {
        const repo = /^\/v2\/(.+?)\/(blobs|manifests)\//.exec(url.pathname)?.[1] ?? '';
        res.writeHead(401, {
          'WWW-Authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="test-registry",scope="repository:${repo}:pull,push"`,
          'Content-Type': 'application/json',
        });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
        req.resume();
        return;
      }
      const upstream = httpRequest(
        {
          host: '127.0.0.1',
          port: registry.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, authorization: '' },
        },
        (answer: IncomingMessage) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((done) => proxy.listen(0, '127.0.0.1', () => done()));
    port = (proxy.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise<void>((done) => proxy?.close(() => done()));
    proxy?.closeAllConnections();
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gets a token from the realm with Basic credentials, caches it per scope and pushes', async () => {
    const pkg = makePackage(dir);
    const result = await pushToOci(pkg, `oci+http://127.0.0.1:${port}/team/bearer`, {
      credentials: { username: 'bob', password: 'token-pw' },
    });
    assert.equal(result.uploadedBlobs, 4);
    assert.equal(issued.length, 1, 'one token for the one scope');
    assert.deepEqual(scopes, ['repository:team/bearer:pull,push']);
    const error = await rejects(
      pushToOci(pkg, `oci+http://127.0.0.1:${port}/team/bearer2`, {
        credentials: { username: 'bob', password: 'nope-pw' },
      }),
    );
    assert.equal(error.status, 401);
    assert.match(error.message, /refused the credentials for user bob/);
    assert.ok(!error.message.includes('nope-pw'));
  });
});
