import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { buildArtifact } from '../../core/src/registry/modelpack';
import { pushToOci, RegistryPushError } from '../../core/src/registry/oci';
import { MlpipeDir } from '../../core/src/runs/records';
import { ContentStore } from '../../core/src/runs/content-cache';
import { MlflowClient, MlflowError, trackingUriProblem } from '../../core/src/tracking/mlflow';
import { redactText, redactUri } from '../../core/src/tracking/transfer';
import { makeDecoy, type Decoy } from '../support/decoy';
import { tempWorkspace } from '../support/files';
import { mlpipe, mlpipeAsync } from '../support/mlpipe-cli';
import { makePackage, registryGet, registryMissing, startRegistry, type RunningRegistry } from '../support/registry';
import { fakeRecord } from '../support/store-fixtures';

/*
 * Registries and tracking servers that stall, lie, drop or redirect. Each hostile server here is a
 * small real HTTP (or TCP) server written in this file, on loopback; where a real registry is
 * needed behind it (what got stored, what got tagged), it is CNCF Distribution, and the hostile
 * part is a proxy in front of it. No timing is asserted: a hang fails by the test's own timeout,
 * and every assertion is on the error a person would read.
 */

const missing = registryMissing();
if (missing && process.env.CI) throw new Error(`registry tests cannot run: ${missing}`);

const HANG = { timeout: 120_000 };
const FAST = { stallMs: 500, retries: 1 };

function listen(server: Server | NetServer): Promise<number> {
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done((server.address() as AddressInfo).port)));
}

/** Closes a server and every connection it still holds. */
function closeAll(server: Server | NetServer, sockets: Set<Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  return new Promise((done) => server.close(() => done()));
}

function tracked<T extends Server | NetServer>(server: T): { server: T; sockets: Set<Socket> } {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return { server, sockets };
}

async function pushError(promise: Promise<unknown>): Promise<RegistryPushError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RegistryPushError, `expected a RegistryPushError, got ${inspect(error)}`);
    return error;
  }
  return assert.fail('the push succeeded');
}

async function mlflowError(promise: Promise<unknown>): Promise<MlflowError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof MlflowError, `expected an MlflowError, got ${inspect(error)}`);
    return error;
  }
  return assert.fail('the request succeeded');
}

/**
 * A proxy in front of a real registry that misbehaves on the requests `hostile` picks: it stops
 * reading the request body after `after` bytes ('stall-body'), or answers with headers and a few
 * bytes and then nothing ('stall-answer'), or drops the connection mid-answer ('drop-answer').
 */
function hostileProxy(
  upstream: string,
  hostile: (request: IncomingMessage) => 'stall-body' | 'stall-answer' | 'drop-answer' | undefined,
) {
  const target = new URL(upstream);
  return tracked(
    createServer((request, response) => {
      const mode = hostile(request);
      if (mode === 'stall-body') {
        let seen = 0;
        request.on('data', (chunk: Buffer) => {
          seen += chunk.length;
          if (seen > 256 * 1024) request.pause();
        });
        return;
      }
      if (mode === 'stall-answer' || mode === 'drop-answer') {
        request.resume();
        request.on('end', () => {
          response.writeHead(201, { 'content-length': '64', 'docker-content-digest': 'sha256:0' });
          response.write('{"partial"');
          if (mode === 'drop-answer') setImmediate(() => response.socket?.end());
        });
        return;
      }
      const forward = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: request.method,
          path: request.url,
          headers: request.headers,
        },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      forward.on('error', () => response.destroy());
      request.pipe(forward);
    }),
  );
}

describe('hostile registries: stalls, drops, floods and redirects end in a clear error', { skip: missing }, () => {
  let registry: RunningRegistry;
  let dir: string;
  let decoy: Decoy;
  before(async () => {
    registry = await startRegistry();
    dir = mkdtempSync(join(tmpdir(), 'mlpipe-transfers-'));
    decoy = makeDecoy();
  });
  after(async () => {
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
    decoy?.cleanup();
  });

  it(
    'a registry that takes the connection and never answers: a stall error naming the registry and the step, not pushed',
    HANG,
    async () => {
      // A TCP server that accepts and then says nothing, ever.
      const { server, sockets } = tracked(createNetServer(() => undefined));
      const port = await listen(server);
      try {
        const pkg = makePackage(join(dir, 'silent'));
        const error = await pushError(
          pushToOci(pkg, `oci+http://127.0.0.1:${port}/team/churn`, {
            limits: FAST,
            credentials: { username: 'ana', password: decoy.secret },
          }),
        );
        assert.equal(error.code, 'STALLED');
        assert.equal(error.registry, `127.0.0.1:${port}`);
        assert.match(
          error.message,
          new RegExp(
            `127\\.0\\.0\\.1:${port}/team/churn: checking \\S+ \\(sha256:[0-9a-f]{64}\\) failed: 127\\.0\\.0\\.1:${port} stalled: nothing moved for 0\\.5 s while waiting for the answer`,
          ),
        );
        assert.match(error.message, /MLPIPE_STALL_TIMEOUT/);
        assert.match(error.message, /NOT PUSHED: .*team\/churn:1\.0\.0: 0 of \d+ blobs are in the registry/);
        assert.deepEqual(error.partial, {
          blobsStored: 0,
          blobsTotal: (await buildArtifact(pkg)).blobs.length,
          manifestPut: false,
        });
        assert.ok(!inspect(error).includes(decoy.secret));
      } finally {
        await closeAll(server, sockets);
      }
    },
  );

  it(
    'mlpipe push to a registry that never answers: exit 1 with NOT PUSHED, bounded by MLPIPE_STALL_TIMEOUT, nothing in the push log',
    HANG,
    async () => {
      const { server, sockets } = tracked(createNetServer(() => undefined));
      const port = await listen(server);
      const workspace = approvedWorkspace();
      try {
        const result = await mlpipeAsync(['push', '--to', `oci+http://127.0.0.1:${port}/team/churn`], workspace.dir, {
          MLPIPE_STALL_TIMEOUT: '1',
          DOCKER_CONFIG: join(workspace.dir, 'no-docker-config'),
        }).done;
        assert.equal(result.status, 1, result.stderr);
        assert.match(
          result.stderr,
          new RegExp(
            `oci\\+http://127\\.0\\.0\\.1:${port}/team/churn: checking .* failed: 127\\.0\\.0\\.1:${port} stalled: nothing moved for 1 s while waiting for the answer`,
          ),
        );
        assert.match(
          result.stderr,
          /NOT PUSHED: 127\.0\.0\.1:\d+\/team\/churn:1\.0\.0: 0 of \d+ blobs are in the registry/,
        );
        assert.match(result.stderr, /trying again \(2 of 3\)/, 'the idempotent HEAD was tried again, and said so');
        assert.doesNotMatch(result.stdout, /pushed/);
        assert.ok(
          !existsSync(join(workspace.dir, '.mlpipe', 'pushes.jsonl')),
          'a push that failed is not in the push log',
        );
      } finally {
        workspace.cleanup();
        await closeAll(server, sockets);
      }
    },
  );

  it(
    'a registry that stops reading an upload mid-body: tried again, then NOT PUSHED with how far it got; the real registry holds no tag and no model blob',
    HANG,
    async () => {
      const { server, sockets } = hostileProxy(registry.url, (request) =>
        (request.method === 'PATCH' || request.method === 'PUT') &&
        Number(request.headers['content-length']) > 1024 * 1024
          ? 'stall-body'
          : undefined,
      );
      const port = await listen(server);
      try {
        const pkg = makePackage(join(dir, 'midbody'), { modelBytes: 24 * 1024 * 1024 });
        const messages: string[] = [];
        const error = await pushError(
          pushToOci(pkg, `oci+http://127.0.0.1:${port}/team/midbody`, {
            limits: FAST,
            onProgress: (event) => void ('message' in event && messages.push(event.message)),
          }),
        );
        assert.equal(error.code, 'STALLED');
        assert.match(
          error.message,
          /upload of model\.npz .*failed: .* stalled: nothing moved for 0\.5 s while sending the request after \d+ of 25165824 bytes/,
        );
        assert.ok(
          messages.some((message) => /uploading model\.npz again \(2 of 2\)/.test(message)),
          messages.join('\n'),
        );
        const total = (await buildArtifact(pkg)).blobs.length;
        assert.ok(
          error.partial && error.partial.blobsStored < total && !error.partial.manifestPut,
          inspect(error.partial),
        );
        assert.match(
          error.message,
          new RegExp(
            `NOT PUSHED: 127\\.0\\.0\\.1:${port}/team/midbody:1\\.0\\.0: ${error.partial.blobsStored} of ${total} blobs are in the registry and no manifest names them, so 1\\.0\\.0 was not pushed`,
          ),
        );
        assert.equal(
          (await registryGet(`${registry.url}/v2/team/midbody/manifests/1.0.0`, { method: 'HEAD' })).status,
          404,
        );
        assert.equal(
          (await registryGet(`${registry.url}/v2/team/midbody/blobs/${pkg.artifactDigest}`, { method: 'HEAD' })).status,
          404,
        );
      } finally {
        await closeAll(server, sockets);
      }
    },
  );

  for (const mode of ['stall-answer', 'drop-answer'] as const) {
    it(
      `a registry that ${mode === 'stall-answer' ? 'stops' : 'drops the connection'} in the middle of its answer to the manifest: every blob stored, the tag NOT PUSHED`,
      HANG,
      async () => {
        const { server, sockets } = hostileProxy(registry.url, (request) =>
          request.method === 'PUT' && request.url?.includes('/manifests/') ? mode : undefined,
        );
        const port = await listen(server);
        try {
          const pkg = makePackage(join(dir, mode));
          const repository = `team/${mode}`;
          const error = await pushError(pushToOci(pkg, `oci+http://127.0.0.1:${port}/${repository}`, { limits: FAST }));
          assert.equal(error.code, mode === 'stall-answer' ? 'STALLED' : 'TRUNCATED');
          assert.match(
            error.message,
            mode === 'stall-answer'
              ? /putting the manifest failed: .*stalled: nothing moved for 0\.5 s while receiving the answer after 10 bytes/
              : /putting the manifest failed: the connection to 127\.0\.0\.1:\d+ was lost: the connection (closed|broke) after \d+ bytes of the answer/,
          );
          const total = (await buildArtifact(pkg)).blobs.length;
          assert.deepEqual(error.partial, { blobsStored: total, blobsTotal: total, manifestPut: false });
          assert.match(error.message, /NOT PUSHED/);
          assert.equal(
            (await registryGet(`${registry.url}/v2/${repository}/manifests/1.0.0`, { method: 'HEAD' })).status,
            404,
          );
        } finally {
          await closeAll(server, sockets);
        }
      },
    );
  }

  it('an endless answer (a token realm that never stops sending) is refused at the cap', HANG, async () => {
    let realmPort = 0;
    const realm = tracked(
      createServer((_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        const block = Buffer.alloc(256 * 1024, 0x20);
        const pump = () => {
          while (!response.destroyed && response.write(block));
          if (!response.destroyed) response.once('drain', pump);
        };
        response.write('{"token":"');
        pump();
      }),
    );
    realmPort = await listen(realm.server);
    const hostile = tracked(
      createServer((request, response) => {
        request.resume();
        response.writeHead(401, {
          'www-authenticate': `Bearer realm="http://127.0.0.1:${realmPort}/token",service="hostile",scope="repository:team/flood:pull,push"`,
        });
        response.end();
      }),
    );
    const port = await listen(hostile.server);
    try {
      const error = await pushError(
        pushToOci(makePackage(join(dir, 'flood')), `oci+http://127.0.0.1:${port}/team/flood`, { limits: FAST }),
      );
      assert.equal(error.code, 'TOO_LARGE');
      assert.match(
        error.message,
        /\(token from 127\.0\.0\.1:\d+\) failed: 127\.0\.0\.1:\d+ answered with too much: the answer is larger than 4194304 bytes/,
      );
      assert.match(error.message, /NOT PUSHED/);
    } finally {
      await closeAll(hostile.server, hostile.sockets);
      await closeAll(realm.server, realm.sockets);
    }
  });

  it(
    'redirects: a read follows to another host without the credentials, a write is not followed, and no password is shown',
    HANG,
    async () => {
      const seen: { method: string; authorization?: string }[] = [];
      const other = tracked(
        createServer((request, response) => {
          seen.push({
            method: request.method ?? '',
            ...(request.headers.authorization ? { authorization: request.headers.authorization } : {}),
          });
          request.resume();
          response.writeHead(404);
          response.end();
        }),
      );
      const otherPort = await listen(other.server);
      const authorized: string[] = [];
      const hostile = tracked(
        createServer((request, response) => {
          request.resume();
          if (!request.headers.authorization) {
            response.writeHead(401, { 'www-authenticate': 'Basic realm="hostile"' });
            response.end();
            return;
          }
          authorized.push(request.headers.authorization);
          // Reads and writes alike are sent elsewhere.
          response.writeHead(307, { location: `http://127.0.0.1:${otherPort}/elsewhere${request.url}` });
          response.end();
        }),
      );
      const port = await listen(hostile.server);
      try {
        const error = await pushError(
          pushToOci(makePackage(join(dir, 'redirect')), `oci+http://127.0.0.1:${port}/team/redirect`, {
            limits: FAST,
            credentials: { username: 'ana', password: decoy.secret },
          }),
        );
        assert.ok(authorized.length > 0, 'the registry got the credentials it asked for');
        assert.ok(
          seen.some((request) => request.method === 'HEAD'),
          'the read went to the other host',
        );
        assert.deepEqual(
          seen.filter((request) => request.authorization),
          [],
          'no credentials went to another host',
        );
        assert.ok(
          !seen.some((request) => request.method === 'POST' || request.method === 'PUT'),
          'no write went to the other host',
        );
        assert.equal(error.status, 307);
        assert.match(
          error.message,
          /starting the upload of \S+ failed: HTTP 307: the registry redirected this write to http:\/\/127\.0\.0\.1:\d+\/elsewhere\/v2\/team\/redirect\/blobs\/uploads\/; mlpipe follows redirects only for reads/,
        );
        assert.ok(!inspect(error).includes(decoy.secret));
      } finally {
        await closeAll(hostile.server, hostile.sockets);
        await closeAll(other.server, other.sockets);
      }
    },
  );

  it('an HTTPS registry that redirects to plain HTTP is refused before anything is sent there', HANG, async () => {
    const certs = join(dir, 'tls');
    const made = spawnSync(
      'sh',
      [
        '-c',
        `mkdir -p ${certs} && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout ${certs}/key.pem -out ${certs}/cert.pem`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(made.status, 0, made.stderr);
    const reached: string[] = [];
    const plain = tracked(
      createServer((request, response) => {
        reached.push(`${request.method} ${request.url}`);
        response.end();
      }),
    );
    const plainPort = await listen(plain.server);
    const https = tracked(
      createHttpsServer(
        { key: readFileSync(join(certs, 'key.pem')), cert: readFileSync(join(certs, 'cert.pem')) },
        (request, response) => {
          request.resume();
          response.writeHead(301, { location: `http://127.0.0.1:${plainPort}${request.url}` });
          response.end();
        },
      ),
    );
    const port = await listen(https.server);
    try {
      const error = await pushError(
        pushToOci(makePackage(join(dir, 'downgrade')), `oci://127.0.0.1:${port}/team/downgrade`, {
          limits: FAST,
          caFile: join(certs, 'cert.pem'),
        }),
      );
      assert.equal(error.code, 'REDIRECT');
      assert.match(
        error.message,
        /it redirected from HTTPS to plain HTTP \(http:\/\/127\.0\.0\.1:\d+\); refusing to downgrade/,
      );
      assert.deepEqual(reached, []);
    } finally {
      await closeAll(https.server, https.sockets);
      await closeAll(plain.server, plain.sockets);
    }
  });
});

/** A workspace whose model card approves a run's cached model, for `mlpipe push`. */
function approvedWorkspace(): { dir: string; cleanup: () => void } {
  const model = Buffer.from('weights of an approved model');
  const digest = `sha256:${createHash('sha256').update(model).digest('hex')}`;
  const id = '20260501-100000-000-aaa0';
  const key = `sha256:${'0'.repeat(64)}`;
  const workspace = tempWorkspace({
    'mlpipe.yaml':
      'version: 1\nname: churn\nstages: {}\nmodel:\n  card: modelcard.yaml\n  artifact: models/model.bin\n',
    'modelcard.yaml': `model: { name: churn, version: 1.0.0 }\napproval:\n  status: approved\n  by: Ada\n  at: 2026-05-01T10:00:00Z\n  run: ${id}\n  artifact_digest: ${digest}\n`,
  });
  mkdirSync(join(workspace.dir, 'models'), { recursive: true });
  writeFileSync(join(workspace.dir, 'models/model.bin'), model);
  const cache = new ContentStore(join(workspace.dir, '.mlpipe', 'cache'));
  cache.put(join(workspace.dir, 'models/model.bin'), { kind: 'file', hash: digest, size: model.length });
  const record = fakeRecord(id, workspace.dir, { key });
  record.stages[0]!.outputs = { 'models/model.bin': digest };
  new MlpipeDir(join(workspace.dir, '.mlpipe')).writeRecord(record);
  cache.saveEntry({
    version: 1,
    key,
    stage: 'train',
    run: id,
    created: '',
    outputs: { 'models/model.bin': { kind: 'file', hash: digest, size: model.length } },
  });
  return workspace;
}

/** A workspace with one run, for `mlpipe runs sync`. */
function workspaceWithRun(): { dir: string; cleanup: () => void; id: string } {
  const workspace = tempWorkspace({
    'mlpipe.yaml': 'version: 1\nname: churn\nstages: {}\n',
    'metrics.json': '{"auc": 0.8}\n',
  });
  const id = '20260501-080000-000-abcd';
  new MlpipeDir(join(workspace.dir, '.mlpipe')).writeRecord(
    fakeRecord(id, workspace.dir, { metrics: { 'metrics.json': { auc: 0.8 } } }),
  );
  return { ...workspace, id };
}

/** Every file under .mlpipe/tracking, as one text. */
function trackingFiles(workspace: string): string {
  const root = join(workspace, '.mlpipe', 'tracking');
  if (!existsSync(root)) return '';
  const texts: string[] = [];
  const walk = (folder: string) => {
    for (const name of readdirSync(folder, { withFileTypes: true })) {
      if (name.isDirectory()) walk(join(folder, name.name));
      else texts.push(readFileSync(join(folder, name.name), 'utf8'));
    }
  };
  walk(root);
  return texts.join('\n');
}

describe('hostile MLflow servers: stalls, floods and redirects end in a clear error; no secret is ever shown', () => {
  let decoy: Decoy;
  before(() => {
    decoy = makeDecoy();
  });
  after(() => decoy?.cleanup());

  it(
    'mlpipe runs sync against a server that never answers: a clear timeout naming the server, the run stays queued',
    HANG,
    async () => {
      const { server, sockets } = tracked(createNetServer(() => undefined));
      const port = await listen(server);
      const workspace = workspaceWithRun();
      try {
        // Not spawnSync: the hostile server lives in this process and must keep running meanwhile.
        const result = await mlpipeAsync(['runs', 'sync', '--all'], workspace.dir, {
          MLFLOW_TRACKING_URI: `http://127.0.0.1:${port}`,
          MLPIPE_STALL_TIMEOUT: '1',
        }).done;
        assert.equal(result.status, 1, result.stderr);
        assert.match(
          result.stderr,
          new RegExp(
            `could not log run ${workspace.id}: MLflow at http://127\\.0\\.0\\.1:${port} did not answer GET experiments/get-by-name in time: nothing moved for 1 s while waiting for the answer`,
          ),
        );
        assert.match(result.stderr, /1 run queued in \.mlpipe\/tracking\/outbox/);
        assert.ok(existsSync(join(workspace.dir, '.mlpipe', 'tracking', 'outbox', `${workspace.id}.json`)));
      } finally {
        workspace.cleanup();
        await closeAll(server, sockets);
      }
    },
  );

  it('a server that stops in the middle of its answer: the same, while receiving the answer', HANG, async () => {
    const { server, sockets } = tracked(
      createServer((request, response) => {
        request.resume();
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
        response.write('{"experiment": {');
      }),
    );
    const port = await listen(server);
    try {
      const error = await mlflowError(
        new MlflowClient(`http://127.0.0.1:${port}`, { env: {}, limits: FAST }).getExperimentByName('x'),
      );
      assert.equal(error.kind, 'timeout');
      assert.equal(error.affectsAllRuns, true);
      assert.match(
        error.message,
        /did not answer GET experiments\/get-by-name in time: nothing moved for 0\.5 s while receiving the answer after 16 bytes/,
      );
    } finally {
      await closeAll(server, sockets);
    }
  });

  it('a JSON answer over 16 MiB is refused, not read', HANG, async () => {
    let written = 0;
    const { server, sockets } = tracked(
      createServer((request, response) => {
        request.resume();
        response.writeHead(200, { 'content-type': 'application/json' });
        const block = Buffer.alloc(1024 * 1024, 0x20);
        const pump = () => {
          while (!response.destroyed && written < 64 * 1024 * 1024 && response.write(block)) written += block.length;
          if (!response.destroyed && written < 64 * 1024 * 1024) response.once('drain', pump);
          else response.end();
        };
        response.write('{"runs": [');
        pump();
      }),
    );
    const port = await listen(server);
    try {
      const error = await mlflowError(
        new MlflowClient(`http://127.0.0.1:${port}`, { env: {}, limits: FAST }).searchRuns({ experimentIds: ['1'] }),
      );
      assert.equal(error.kind, 'protocol');
      assert.match(error.message, /answered POST runs\/search with too much: the answer is larger than 16777216 bytes/);
      assert.ok(written < 64 * 1024 * 1024, 'the client stopped reading');
    } finally {
      await closeAll(server, sockets);
    }
  });

  it(
    'redirects: to the same host they are followed with the credentials; to another host or from HTTPS to HTTP they are not, and the token never leaves',
    HANG,
    async () => {
      const token = `tok-${decoy.secret}`;
      const elsewhere: (string | undefined)[] = [];
      const other = tracked(
        createServer((request, response) => {
          elsewhere.push(request.headers.authorization);
          response.end('{}');
        }),
      );
      const otherPort = await listen(other.server);
      const here: (string | undefined)[] = [];
      const main = tracked(
        createServer((request, response) => {
          here.push(request.headers.authorization);
          request.resume();
          if (request.url?.startsWith('/moved/')) {
            response.writeHead(200, { 'content-type': 'application/json' });
            response.end(JSON.stringify({ experiment: { experiment_id: '7', name: 'x', lifecycle_stage: 'active' } }));
          } else if (request.url?.includes('get-by-name')) {
            response.writeHead(302, { location: `/moved${request.url}` });
            response.end();
          } else {
            response.writeHead(307, { location: `http://127.0.0.1:${otherPort}${request.url}` });
            response.end();
          }
        }),
      );
      const port = await listen(main.server);
      try {
        const client = new MlflowClient(`http://127.0.0.1:${port}`, {
          env: { MLFLOW_TRACKING_TOKEN: token },
          limits: FAST,
        });
        assert.equal((await client.getExperimentByName('x'))?.experimentId, '7');
        assert.deepEqual(here, [`Bearer ${token}`, `Bearer ${token}`], 'the same-host redirect kept the credentials');
        const error = await mlflowError(client.searchRuns({ experimentIds: ['7'] }));
        assert.equal(error.status, 307);
        assert.match(
          error.message,
          /answered HTTP 307; it redirected to http:\/\/127\.0\.0\.1:\d+\/api\/2\.0\/mlflow\/runs\/search, which mlpipe follows only to the same host/,
        );
        assert.deepEqual(elsewhere, [], 'nothing went to the other host');
        assert.ok(!inspect(error).includes(token));
      } finally {
        await closeAll(main.server, main.sockets);
        await closeAll(other.server, other.sockets);
      }
    },
  );

  it(
    "TLS is verified over the client's own transport: an untrusted certificate and a plain-HTTP server are told apart",
    HANG,
    async () => {
      const certs = mkdtempSync(join(tmpdir(), 'mlpipe-mlflow-tls-'));
      const made = spawnSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-days',
          '2',
          '-subj',
          '/CN=127.0.0.1',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
          '-keyout',
          join(certs, 'key.pem'),
          '-out',
          join(certs, 'cert.pem'),
        ],
        { encoding: 'utf8' },
      );
      assert.equal(made.status, 0, made.stderr);
      const secure = tracked(
        createHttpsServer(
          { key: readFileSync(join(certs, 'key.pem')), cert: readFileSync(join(certs, 'cert.pem')) },
          (_request, response) => response.end('{}'),
        ),
      );
      const plain = tracked(createServer((_request, response) => response.end('{}')));
      const [securePort, plainPort] = [await listen(secure.server), await listen(plain.server)];
      try {
        const untrusted = await mlflowError(
          new MlflowClient(`https://127.0.0.1:${securePort}`, {
            env: { MLFLOW_TRACKING_TOKEN: decoy.secret },
            limits: FAST,
          }).getRun('x'),
        );
        assert.equal(untrusted.kind, 'tls');
        assert.match(
          untrusted.message,
          /could not verify the TLS certificate of https:\/\/127\.0\.0\.1:\d+ \(DEPTH_ZERO_SELF_SIGNED_CERT\).*NODE_EXTRA_CA_CERTS/,
        );
        const notTls = await mlflowError(
          new MlflowClient(`https://127.0.0.1:${plainPort}`, { env: {}, limits: FAST }).getRun('x'),
        );
        assert.equal(notTls.kind, 'tls');
        assert.match(notTls.message, /if it speaks plain HTTP, use http:\/\//);
        assert.ok(!inspect(untrusted).includes(decoy.secret));
      } finally {
        await closeAll(secure.server, secure.sockets);
        await closeAll(plain.server, plain.sockets);
        rmSync(certs, { recursive: true, force: true });
      }
    },
  );

  it('one redaction for every URI: passwords with /, %2F, @ and : never shown, the host still is', () => {
    const secret = decoy.secret;
    for (const [uri, shown] of [
      [`http://ana:${secret}/x@mlflow.example:5000`, 'http://***@mlflow.example:5000'],
      [`http://ana:pa/ss@mlflow.example:5000/prefix`, 'http://***@mlflow.example:5000/prefix'],
      [`https://ana:${encodeURIComponent(`${secret}/p@ss:w`)}@mlflow.example`, 'https://***@mlflow.example'],
      [`http://ana:${secret}@x@mlflow.example:5000`, 'http://***@mlflow.example:5000'],
      [`http://ana:${secret}?#@mlflow.example`, 'http://***@mlflow.example'],
      [
        `oci://ana:${secret}@registry.example/team/churn@sha256:${'a'.repeat(64)}`,
        `oci://***@registry.example/team/churn@sha256:${'a'.repeat(64)}`,
      ],
      [
        `https://s3.example/bucket/model?X-Amz-Signature=${secret}&x=1`,
        'https://s3.example/bucket/model?X-Amz-Signature=***&x=1',
      ],
      ['http://mlflow.example:5000', 'http://mlflow.example:5000'],
    ]) {
      assert.equal(redactUri(uri), shown);
      assert.ok(!redactText(`failed at ${uri}: Authorization: Bearer ${secret}x`, []).includes(secret));
    }
  });

  it('a tracking URI whose password holds / is refused and never printed, by the CLI and in every message', () => {
    const workspace = workspaceWithRun();
    try {
      for (const uri of [
        `http://ana:${decoy.secret}/x@127.0.0.1:5000`,
        `http://ana:1234/${decoy.secret}@127.0.0.1:5000`,
      ]) {
        const problem = trackingUriProblem(undefined, { MLFLOW_TRACKING_URI: uri }) ?? '';
        assert.match(
          problem,
          /percent-encoded \(%2F, %3F, %23, %40\).*MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD/,
        );
        assert.ok(!problem.includes(decoy.secret));
        assert.throws(
          () => new MlflowClient(uri, { env: {} }),
          (error: unknown) =>
            error instanceof MlflowError &&
            !inspect(error).includes(decoy.secret) &&
            /http:\/\/\*\*\*@127\.0\.0\.1:5000/.test(error.message),
        );
        const result = mlpipe(['runs', 'sync', '--all'], workspace.dir, { MLFLOW_TRACKING_URI: uri });
        assert.equal(result.status, 2, result.stderr);
        assert.match(result.stderr, /http:\/\/\*\*\*@127\.0\.0\.1:5000/);
        assert.ok(!`${result.stdout}${result.stderr}`.includes(decoy.secret), result.stderr);
      }
    } finally {
      workspace.cleanup();
    }
  });

  it(
    'a server that echoes the credentials of a %2F/@/: password back: nothing shown, logged or written to the outbox holds them',
    HANG,
    async () => {
      const password = `${decoy.secret}/p@ss:w`;
      const { server, sockets } = tracked(
        createServer((request, response) => {
          request.resume();
          const basic = Buffer.from(
            String(request.headers.authorization ?? '').replace(/^Basic /, ''),
            'base64',
          ).toString();
          response.writeHead(401, { 'content-type': 'application/json' });
          response.end(
            JSON.stringify({
              error_code: 'UNAUTHENTICATED',
              message: `bad ${request.headers.authorization} (${basic}) for http://${encodeURIComponent('ana')}:${encodeURIComponent(password)}@127.0.0.1/`,
            }),
          );
        }),
      );
      const port = await listen(server);
      const workspace = workspaceWithRun();
      try {
        const uri = `http://ana:${encodeURIComponent(password)}@127.0.0.1:${port}`;
        const result = await mlpipeAsync(['runs', 'sync', '--all'], workspace.dir, { MLFLOW_TRACKING_URI: uri }).done;
        assert.equal(result.status, 1, result.stderr);
        assert.match(result.stderr, /HTTP 401 UNAUTHENTICATED: bad Basic \*\*\*/);
        const everything = `${result.stdout}${result.stderr}${trackingFiles(workspace.dir)}`;
        assert.match(trackingFiles(workspace.dir), /UNAUTHENTICATED/, 'the error is kept in the outbox');
        for (const form of [
          decoy.secret,
          encodeURIComponent(password),
          Buffer.from(`ana:${password}`).toString('base64'),
        ])
          assert.ok(!everything.includes(form), `${form} appears in:\n${everything}`);
      } finally {
        workspace.cleanup();
        await closeAll(server, sockets);
      }
    },
  );
});
