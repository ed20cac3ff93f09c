import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BUSYBOX_IMAGE, PYTHON_IMAGE, ensureImages } from '../../scripts/sample-image';
import { ensurePodHelper } from '../../scripts/pod-helper';
import { clusterMissing, startCluster, type RunningCluster } from '../support/cluster';
import { enginesMissing, startDockerd, type RunningEngine } from '../support/engines';
import { fileTree, ROOT } from '../support/files';
import { lastRecord, mlpipeAsync, statuses, until } from '../support/mlpipe-cli';
import { s3ServerMissing, startS3Server, type RunningS3 } from '../support/s3-server';

/*
 * Stages as Jobs on a real two-node Kubernetes cluster (kube-apiserver, scheduler, controller
 * manager and two kubelets with containerd, built from the Go modules; test/support/cluster.ts),
 * their data through a real S3 server (SeaweedFS), images from a real dockerd imported into the
 * nodes. Nothing here is mocked.
 */

const missing = enginesMissing() ?? s3ServerMissing() ?? clusterMissing();
if (missing && process.env.CI) throw new Error(`Cluster tests cannot run: ${missing}`);

const BUCKET = 'mlpipe-cache';
const SECRET_TAIL = 'Kq7/+Secret';

describe('stages as Kubernetes Jobs on a real two-node cluster, data through S3', { skip: missing }, () => {
  let engine: RunningEngine;
  let s3: RunningS3;
  let cluster: RunningCluster;
  let home: string;
  const made: string[] = [];
  const env = (extra: NodeJS.ProcessEnv = {}) => ({
    DOCKER_HOST: engine.address,
    HOME: home,
    AWS_ACCESS_KEY_ID: s3.accessKey,
    AWS_SECRET_ACCESS_KEY: s3.secretKey,
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    KUBECONFIG: '',
    ...extra,
  });
  /** `hosts:` and `remotes:` for the test cluster and S3 server. */
  const declarations = (kubeconfig = cluster.kubeconfig, extra = '') =>
    [
      'hosts:',
      '  cluster:',
      '    kubernetes:',
      `      kubeconfig: ${kubeconfig}`,
      `      namespace: ${cluster.namespace}`,
      '      imagePullPolicy: Never',
      `      remoteEndpoint: ${cluster.s3PodEndpoint}`,
      ...(extra ? [extra] : []),
      'remotes:',
      `  team: { url: "s3://${BUCKET}/team", endpoint: "${s3.endpoint}" }`,
    ].join('\n');
  /** A workspace with a pipeline of the given stages (YAML lines under `stages:`), on the cluster. */
  const workspace = (stages: string[], options: { kubeconfig?: string; extra?: string } = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'mlpipe-k8s-'));
    made.push(dir);
    writeFileSync(
      join(dir, 'mlpipe.yaml'),
      [
        'version: 1',
        `defaults: { image: ${BUSYBOX_IMAGE}, host: cluster }`,
        declarations(options.kubeconfig, options.extra),
        'stages:',
        ...stages,
        '',
      ].join('\n'),
    );
    return dir;
  };
  /** The Jobs and pods of this machine's stages left in a namespace. */
  const leftovers = (namespace: string = cluster.namespace) => {
    const listed = cluster.kubectl([
      'get',
      'jobs,pods,secrets,networkpolicies',
      '-n',
      namespace,
      '-l',
      'app.kubernetes.io/managed-by=mlpipe',
      '-o',
      'name',
    ]);
    assert.equal(listed.status, 0, listed.stderr);
    return listed.stdout.trim().split('\n').filter(Boolean);
  };

  before(async () => {
    const helper = ensurePodHelper();
    [engine, s3] = await Promise.all([startDockerd(), startS3Server({ secretKey: `s3cr3t${SECRET_TAIL}` })]);
    await Promise.all([ensureImages(engine.docker, [PYTHON_IMAGE, BUSYBOX_IMAGE]), s3.createBucket(BUCKET)]);
    cluster = await startCluster({
      nodes: 2,
      s3Port: s3.port,
      images: [PYTHON_IMAGE, BUSYBOX_IMAGE],
      docker: engine.address,
      archives: [helper.archive],
    });
    home = mkdtempSync(join(tmpdir(), 'mlpipe-k8s-home-'));
    made.push(home);
  });

  after(async () => {
    await cluster?.stop();
    await Promise.all([engine?.stop(), s3?.stop()]);
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  });

  it('runs the sample pipeline on the cluster with --host cluster: outputs back and verified, the same as a local run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlpipe-k8s-sample-'));
    made.push(dir);
    cpSync(join(ROOT, 'sample-workspace'), dir, { recursive: true, filter: (path) => !path.includes('.mlpipe') });
    const pipeline = join(dir, 'mlpipe.yaml');
    const text = readFileSync(pipeline, 'utf8').replace(/^hosts:\n(?: .*\n)+/m, '');
    writeFileSync(pipeline, text.replace(/^params: params\.yaml$/m, `params: params.yaml\n${declarations()}`));
    const run = await mlpipeAsync(['run', '--host', 'cluster'], dir, env()).done;
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
    const record = lastRecord(dir);
    assert.deepEqual(new Set(Object.values(statuses(record))), new Set(['succeeded']));
    for (const stage of record.stages) assert.match(stage.engine ?? '', /^kubernetes v1\.34\.2 \(context /);
    // The pods' own output came back as the log.
    const log = readFileSync(join(dir, '.mlpipe/runs', record.id, 'logs', 'train.log'), 'utf8');
    assert.match(log, /mlpipe: pod mlpipe-train-[0-9a-f]+-1-[a-z0-9]+ on node /);
    assert.match(log, /mlpipe-pod: fetched \d+ files/);
    const clusterFiles = fileTree(dir);
    assert.ok(clusterFiles['models/model.npz'], 'the model came back');
    assert.ok(clusterFiles['metrics/eval-test.json'], 'the matrix outputs came back');
    // A second run on the cluster skips everything; so does a local run: the same keys.
    const again = await mlpipeAsync(['run', '--host', 'cluster'], dir, env()).done;
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual(new Set(Object.values(statuses(lastRecord(dir)))), new Set(['skipped']));
    const local = await mlpipeAsync(['run'], dir, env()).done;
    assert.equal(local.status, 0, local.stderr);
    assert.deepEqual(new Set(Object.values(statuses(lastRecord(dir)))), new Set(['skipped']));
    // And a local run from scratch writes the very same bytes.
    const fresh = mkdtempSync(join(tmpdir(), 'mlpipe-k8s-local-'));
    made.push(fresh);
    cpSync(join(ROOT, 'sample-workspace'), fresh, { recursive: true, filter: (path) => !path.includes('.mlpipe') });
    const ran = await mlpipeAsync(['run'], fresh, env()).done;
    assert.equal(ran.status, 0, ran.stderr);
    const localFiles = fileTree(fresh);
    for (const path of ['models/model.npz', 'metrics/eval-test.json', 'data/prepared/train.csv'])
      assert.equal(clusterFiles[path], localFiles[path], `${path} is the same on the cluster and locally`);
    assert.deepEqual(leftovers(), [], 'no Job, pod or Secret is left');
  });

  it('runs ready stages in parallel, on both nodes', async () => {
    const stages = [1, 2, 3, 4].flatMap((index) => [
      `  s${index}:`,
      `    cmd: sh -c "sleep 2; echo part ${index} > out/s${index}.txt"`,
      `    outs: [out/s${index}.txt]`,
    ]);
    const dir = workspace(stages);
    mkdirSync(join(dir, 'out'));
    const run = await mlpipeAsync(['run', '--jobs', '4'], dir, env()).done;
    assert.equal(run.status, 0, run.stderr);
    const record = lastRecord(dir);
    assert.deepEqual(new Set(Object.values(statuses(record))), new Set(['succeeded']));
    const nodes = new Set(
      record.stages.map(
        (stage) =>
          /on node (\S+)/.exec(
            readFileSync(join(dir, '.mlpipe/runs', record.id, 'logs', `${stage.name}.log`), 'utf8'),
          )?.[1],
      ),
    );
    assert.deepEqual([...nodes].sort(), [...cluster.nodes].sort(), 'the scheduler used both nodes');
    const starts = record.stages.map((stage) => Date.parse(stage.started!));
    const ends = record.stages.map((stage) => Date.parse(stage.ended!));
    assert.ok(Math.max(...starts) < Math.min(...ends), 'all four ran at the same time');
    assert.equal(readFileSync(join(dir, 'out/s3.txt'), 'utf8'), 'part 3\n');
  });

  it('a failing stage fails with its exit code and its stderr, after its retries, leaving nothing', async () => {
    const dir = workspace(['  broken:', '    cmd: sh -c "echo about to fail >&2; exit 3"', '    retries: 1']);
    const run = await mlpipeAsync(['run'], dir, env()).done;
    assert.equal(run.status, 1);
    const stage = lastRecord(dir).stages[0]!;
    assert.equal(stage.status, 'failed');
    assert.equal(stage.exitCode, 3);
    assert.equal(stage.attempts, 2, 'one retry, as a new Job');
    assert.match(stage.reason ?? '', /exited with code 3/);
    const log = readFileSync(join(dir, '.mlpipe/runs', lastRecord(dir).id, 'logs', 'broken.log'), 'utf8');
    assert.equal(log.match(/^about to fail$/gm)?.length, 2, 'the stderr of both attempts');
    assert.deepEqual(leftovers(), []);
  });

  it('a dep the remote serves tampered: the pod refuses it, the attempt fails at once and the run ends', async () => {
    const dir = workspace(['  reads:', '    cmd: cat data/input.txt', '    deps: [data/input.txt]']);
    mkdirSync(join(dir, 'data'));
    const content = 'the real input\n';
    writeFileSync(join(dir, 'data/input.txt'), content);
    const hex = createHash('sha256').update(content).digest('hex');
    // Other bytes under the dep's name, planted before the run: mlpipe sees the object there and uploads nothing.
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
    });
    await client.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: `team/objects/${hex.slice(0, 2)}/${hex.slice(2)}`,
        Body: 'tampered bytes\n',
      }),
    );
    client.destroy();
    const started = Date.now();
    const run = await mlpipeAsync(['run'], dir, env()).done;
    assert.equal(run.status, 1);
    const stage = lastRecord(dir).stages[0]!;
    assert.match(stage.reason ?? '', /fetching the deps of stage 'reads' in its pod failed/);
    const log = readFileSync(join(dir, '.mlpipe/runs', lastRecord(dir).id, 'logs', 'reads.log'), 'utf8');
    assert.match(log, /mlpipe-pod: .*data\/input\.txt.*sha256/);
    assert.ok(!/X-Amz-Signature/i.test(log + run.stdout + run.stderr), 'no signed URL is printed');
    assert.ok(Date.now() - started < 60_000, 'the run ended, it did not wait on a pod that will never run the stage');
    assert.deepEqual(leftovers(), []);
  });

  it('a timeout stops the stage and removes its Job', async () => {
    const dir = workspace(['  slow:', '    cmd: sleep 120', '    timeout: 4s']);
    const started = Date.now();
    const run = await mlpipeAsync(['run'], dir, env()).done;
    assert.equal(run.status, 1);
    assert.match(lastRecord(dir).stages[0]!.reason ?? '', /timed out after 4 s/);
    assert.ok(Date.now() - started < 60_000, 'stopped at its timeout, not at the end of the sleep');
    assert.deepEqual(leftovers(), []);
  });

  it('cancel deletes the Job and leaves no pod', async () => {
    const dir = workspace(['  long:', '    cmd: sh -c "echo stage-is-running; sleep 300"']);
    const running = mlpipeAsync(['run'], dir, env());
    await until('the stage to run', () => /stage-is-running$/m.test(running.output().stdout) || undefined, 120_000);
    running.child.kill('SIGINT');
    const done = await running.done;
    assert.notEqual(done.status, 0);
    assert.equal(lastRecord(dir).stages[0]!.status, 'cancelled');
    assert.deepEqual(leftovers(), [], 'no Job, pod or Secret is left');
  });

  it('a runner killed mid-run leaves a Job that the next run finds by label and removes', async () => {
    const dir = workspace(['  long:', '    cmd: sh -c "echo stage-is-running; sleep 300"', '    always_run: true']);
    const running = mlpipeAsync(['run'], dir, env());
    await until('the stage to run', () => /stage-is-running$/m.test(running.output().stdout) || undefined, 120_000);
    running.child.kill('SIGKILL');
    await running.done;
    assert.ok(
      leftovers().some((name) => name.startsWith('job.batch/')),
      'the killed runner left its Job',
    );
    writeFileSync(
      join(dir, 'mlpipe.yaml'),
      readFileSync(join(dir, 'mlpipe.yaml'), 'utf8').replace('echo stage-is-running; sleep 300', 'echo quick'),
    );
    const next = await mlpipeAsync(['run'], dir, env()).done;
    assert.equal(next.status, 0, next.stderr);
    assert.deepEqual(leftovers(), [], "the next run removed the killed run's Job and pod");
  });

  it('a stage asking for a GPU on a cluster without any fails at once, saying so', async () => {
    const dir = workspace(['  gpu:', '    cmd: nvidia-smi', '    resources: { gpus: 1 }']);
    const started = Date.now();
    const run = await mlpipeAsync(['run'], dir, env()).done;
    assert.equal(run.status, 1);
    const reason = lastRecord(dir).stages[0]!.reason ?? '';
    assert.match(
      reason,
      /Unschedulable: 0\/2 nodes of host 'cluster' have nvidia\.com\/gpu, and stage 'gpu' asks for 1/,
    );
    assert.ok(Date.now() - started < 30_000, `failed fast (${Date.now() - started} ms)`);
    assert.deepEqual(leftovers(), []);
  });

  it('a namespace whose ResourceQuota refuses the pod: the quota message, not a silent wait', async () => {
    const quota = 'mlpipe-quota';
    assert.equal(cluster.kubectl(['create', 'namespace', quota]).status, 0);
    const created = cluster.kubectl(['create', 'quota', 'tiny', '-n', quota, '--hard=pods=0']);
    assert.equal(created.status, 0, created.stderr);
    const dir = workspace(['  any:', '    cmd: echo hi'], { extra: '' });
    writeFileSync(
      join(dir, 'mlpipe.yaml'),
      readFileSync(join(dir, 'mlpipe.yaml'), 'utf8').replace(`namespace: ${cluster.namespace}`, `namespace: ${quota}`),
    );
    const run = await mlpipeAsync(['run'], dir, env()).done;
    assert.equal(run.status, 1);
    assert.match(lastRecord(dir).stages[0]!.reason ?? '', /refused to create the pod .*exceeded quota/);
    assert.deepEqual(leftovers(quota), []);
  });

  it('an image the nodes do not have, with pulls off: ErrImageNeverPull, at once', async () => {
    const dir = workspace(['  missing:', '    image: localhost/not-imported:1', '    cmd: echo hi']);
    // The digest comes from this machine's engine: give it the image there only.
    await engine.docker.getImage(BUSYBOX_IMAGE).tag({ repo: 'localhost/not-imported', tag: '1' });
    const run = await mlpipeAsync(['run'], dir, env()).done;
    assert.equal(run.status, 1);
    assert.match(lastRecord(dir).stages[0]!.reason ?? '', /cannot start: ErrImageNeverPull/);
    assert.deepEqual(leftovers(), []);
  });

  it('wrong credentials: a clear error naming the fix, never the token', async () => {
    const dir = workspace(['  any:', '    cmd: echo hi'], { kubeconfig: cluster.wrongKubeconfig });
    const token = /token: (\S+)/.exec(readFileSync(cluster.wrongKubeconfig, 'utf8'))![1]!;
    const run = await mlpipeAsync(['run'], dir, env()).done;
    assert.equal(run.status, 1);
    const reason = lastRecord(dir).stages[0]!.reason ?? '';
    assert.match(reason, /HTTP 401/);
    assert.match(reason, /refused the credentials/);
    const log = readFileSync(join(dir, '.mlpipe/runs', lastRecord(dir).id, 'logs', 'any.log'), 'utf8');
    for (const text of [run.stdout, run.stderr, reason, log])
      assert.ok(!text.includes(token), 'the token is never echoed');
  });
});
