/**
 * A local Kubernetes cluster and S3 server for people, to run pipelines with `--host cluster`:
 *
 *   node --import tsx scripts/cluster.ts up      # npm run cluster:up
 *   node --import tsx scripts/cluster.ts down    # npm run cluster:down
 *
 * `up` builds Kubernetes once (scripts/cluster/build.sh, 12-15 minutes on 2 cores), starts a
 * SeaweedFS S3 server on 127.0.0.1:8333 (another free port when 8333 is taken) with the bucket
 * `mlpipe-cache`, loads the sample images (scripts/sample-image.ts) into the local Docker engine,
 * and starts a 2-node cluster (scripts/cluster/up.sh: prefix mlk0, addresses 10.99.0.0/16, API on
 * 127.0.0.1:6443 when free) with those images and mlpipe's pod helper imported into its nodes. Pods
 * reach the S3 server at http://10.99.255.1:8333. It writes the kubeconfig to
 * ~/.kube/mlpipe-local.kubeconfig and the S3 keys to the `mlpipe-local` profile of
 * ~/.aws/credentials. Everything keeps running after this command ends, until `down`, which is
 * idempotent. State lives in ~/.cache/mlpipe/cluster (MLPIPE_CACHE_DIR moves it); the S3 server's
 * data and keys are kept across `down` and `up` (remove ~/.cache/mlpipe/cluster/s3 to start afresh).
 * Needs root, like the tests that start clusters.
 */
// mlpipe pins the AWS SDK's version: its notice that later versions need Node 22 is not the user's to act on.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import Docker from 'dockerode';
import {
  cacheRoot,
  clusterDown,
  clusterMissing,
  clusterUp,
  ensureKubernetes,
  kubectlBinary,
  PREFIX_IN_USE,
  removeClusterState,
  saveDockerImages,
} from '../test/support/cluster';
import { ensureWeed, PORT_FLAGS, status, weedMiniArgs, type Ports } from '../test/support/s3-server';
import { ensurePodHelper } from './pod-helper';
import { BUSYBOX_IMAGE, ensureImages, PYTHON_IMAGE } from './sample-image';
import { freePort, portOrFree } from './vscode-web';

const PREFIX = 'mlk0';
const NET = 99;
const NODES = 2;
const BUCKET = 'mlpipe-cache';
const PROFILE = 'mlpipe-local';
const S3_PORT = 8333;
const API_PORT = 6443;
const REGION = 'us-east-1';

const home = join(cacheRoot(), 'cluster');
const run = join(home, 'run');
const s3Dir = join(home, 's3');
const kubeconfigCopy = join(homedir(), '.kube', 'mlpipe-local.kubeconfig');
const awsCredentials = join(homedir(), '.aws', 'credentials');

function log(message: string): void {
  console.log(`[cluster] ${message}`);
}

// ---------------------------------------------------------------- S3 server (detached weed mini)

interface S3State {
  accessKey: string;
  secretKey: string;
  ports?: Ports;
  pid?: number;
}

const stateFile = join(s3Dir, 'state.json');

function readState(): S3State | undefined {
  return existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as S3State) : undefined;
}

function writeState(state: S3State): void {
  mkdirSync(s3Dir, { recursive: true, mode: 0o700 });
  writeFileSync(`${stateFile}.tmp`, JSON.stringify(state, null, 2), { mode: 0o600 });
  renameSync(`${stateFile}.tmp`, stateFile);
}

/** Whether `pid` is the weed this script started (its command line names our data folder). */
function ourWeed(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .includes(`-dir=${join(s3Dir, 'data')}`);
  } catch {
    return false;
  }
}

/** Ready as startS3Server judges it: anonymous requests refused, and volumes assigned. */
async function s3Ready(ports: Ports): Promise<boolean> {
  return (
    (await status(`http://127.0.0.1:${ports['s3.port']}/`)) === 403 &&
    (await status(`http://127.0.0.1:${ports['master.port']}/dir/lookup?volumeId=4294967295`)) === 404
  );
}

async function portFree(port: number): Promise<boolean> {
  return (await portOrFree(port)) === port;
}

/** Starts weed mini in its own session (it outlives this process), unless it runs already. */
async function startS3(): Promise<{ state: S3State; ports: Ports }> {
  const weed = ensureWeed();
  const state: S3State = readState() ?? { accessKey: 'mlpipelocal', secretKey: randomBytes(20).toString('hex') };
  if (state.ports && ourWeed(state.pid) && (await s3Ready(state.ports))) {
    log(`S3 server already running on http://127.0.0.1:${state.ports['s3.port']}`);
    return { state, ports: state.ports };
  }
  await stopS3();
  // The ports of the last start when still free (the master knows its volume server by them);
  // S3 on 8333 when free.
  let ports = state.ports;
  if (ports && !(await Promise.all(PORT_FLAGS.map((flag) => portFree(ports![flag])))).every(Boolean)) ports = undefined;
  if (!ports) {
    const picked = {} as Ports;
    const used = new Set<number>();
    for (const flag of PORT_FLAGS) {
      let port = flag === 's3.port' ? await portOrFree(S3_PORT) : await freePort();
      while (used.has(port) || (flag !== 's3.port' && port === S3_PORT)) port = await freePort();
      used.add(port);
      picked[flag] = port;
    }
    ports = picked;
  }
  const data = join(s3Dir, 'data');
  mkdirSync(data, { recursive: true });
  const config = join(s3Dir, 's3.json');
  writeFileSync(
    config,
    JSON.stringify({
      identities: [
        {
          name: 'mlpipe-local',
          credentials: [{ accessKey: state.accessKey, secretKey: state.secretKey }],
          actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'],
        },
      ],
    }),
    { mode: 0o600 },
  );
  const logFile = join(s3Dir, 'server.log');
  const fd = openSync(logFile, 'a');
  let pid: number | undefined;
  try {
    const child = spawn(weed, weedMiniArgs(data, s3Dir, ports, config), {
      cwd: s3Dir,
      // Its own session: no terminal hangup or Ctrl-C of this command reaches it.
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { PATH: process.env.PATH, HOME: s3Dir, LANG: 'C.UTF-8' },
    });
    child.unref();
    pid = child.pid;
  } finally {
    closeSync(fd);
  }
  writeState({ ...state, ports, pid });
  // After a restart with data the master holds assignments for three heartbeats (about 15 s).
  const deadline = Date.now() + 90_000;
  while (!(await s3Ready(ports))) {
    if (!ourWeed(pid))
      throw new Error(`the S3 server exited:\n${readFileSync(logFile, 'utf8').slice(-3000)}\n(log: ${logFile})`);
    if (Date.now() > deadline) throw new Error(`the S3 server was not ready within 90 s (log: ${logFile})`);
    await new Promise((done) => setTimeout(done, 200));
  }
  log(`S3 server on http://127.0.0.1:${ports['s3.port']} (pid ${pid}, data in ${data})`);
  return { state: { ...state, ports, pid }, ports };
}

async function stopS3(): Promise<void> {
  const state = readState();
  if (!state?.pid) return;
  if (ourWeed(state.pid)) {
    process.kill(state.pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (ourWeed(state.pid) && Date.now() < deadline) await new Promise((done) => setTimeout(done, 100));
    if (ourWeed(state.pid)) process.kill(state.pid, 'SIGKILL');
    log(`stopped the S3 server (pid ${state.pid})`);
  }
  // weed mini leaves the Unix sockets of its gRPC services in /tmp, named by port.
  if (state.ports)
    for (const service of ['master', 'volume', 'filer', 's3', 'admin'] as const)
      rmSync(`/tmp/seaweedfs-${service}-grpc-${state.ports[`${service}.port.grpc`]}.sock`, { force: true });
  writeState({ ...state, pid: undefined });
}

async function createBucket(state: S3State, port: number): Promise<void> {
  const client = new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    region: REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: state.accessKey, secretAccessKey: state.secretKey },
  });
  try {
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    log(`created bucket ${BUCKET}`);
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
  } finally {
    client.destroy();
  }
}

// ---------------------------------------------------------------- credentials files

/** Replaces (or appends) one profile's section of an INI file, keeping everything else. */
function writeProfile(file: string, profile: string, values: Record<string, string>): void {
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n') : [];
  const kept: string[] = [];
  let inside = false;
  for (const line of lines) {
    const header = /^\s*\[([^\]]+)\]\s*$/.exec(line);
    if (header) inside = header[1]!.trim() === profile;
    if (!inside) kept.push(line);
  }
  while (kept.length > 0 && kept.at(-1)!.trim() === '') kept.pop();
  const section = [`[${profile}]`, ...Object.entries(values).map(([key, value]) => `${key} = ${value}`)];
  const text = `${[...kept, ...(kept.length ? [''] : []), ...section].join('\n')}\n`;
  writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  chmodSync(file, 0o600);
}

// ---------------------------------------------------------------- up / down

function apiAnswers(): boolean {
  const kubeconfig = join(run, 'admin.kubeconfig');
  if (!existsSync(kubeconfig)) return false;
  const result = spawnSync(kubectlBinary(), ['--kubeconfig', kubeconfig, 'get', '--raw=/readyz'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  return result.status === 0 && result.stdout.trim() === 'ok';
}

function clusterRecorded(): boolean {
  const pids = join(run, 'pids');
  return existsSync(pids) && readFileSync(pids, 'utf8').trim() !== '';
}

async function dockerEngine(): Promise<Docker> {
  const docker = process.env.DOCKER_HOST ? new Docker() : new Docker({ socketPath: '/var/run/docker.sock' });
  try {
    await docker.ping();
    return docker;
  } catch (error) {
    throw new Error(
      `no Docker engine answers at ${process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock'} (${(error as Error).message}); the sample images are built into it and copied to the nodes. Start one (\`dockerd >/var/log/dockerd.log 2>&1 &\`, or \`service docker start\`; apt-get install -y docker.io) or point DOCKER_HOST at one, then run this again.`,
    );
  }
}

function usage(s3Port: number, apiPort: number): void {
  const podEndpoint = `http://10.${NET}.255.1:${s3Port}`;
  console.log(`
The local cluster is up: nodes ${PREFIX}-n1 and ${PREFIX}-n2, API https://127.0.0.1:${apiPort} (TLS verified).
  export KUBECONFIG=${kubeconfigCopy}
  kubectl get nodes                      # context mlpipe-local; namespaces default and ml
  cd sample-workspace && npx mlpipe run --host cluster
S3 (bucket ${BUCKET}, keys in the '${PROFILE}' profile of ${awsCredentials}):
  from this machine: http://127.0.0.1:${s3Port}
  from pods:         ${podEndpoint}${s3Port !== S3_PORT ? `\n  (port ${S3_PORT} was taken: declare these endpoints instead of the sample's)` : ''}
Stop it all with: npm run cluster:down`);
}

async function up(): Promise<void> {
  const missing = clusterMissing();
  if (missing) throw new Error(missing);
  const docker = await dockerEngine();
  ensureKubernetes();
  const { state, ports } = await startS3();
  const s3Port = ports['s3.port'];
  await createBucket(state, s3Port);
  writeProfile(awsCredentials, PROFILE, {
    aws_access_key_id: state.accessKey,
    aws_secret_access_key: state.secretKey,
    region: REGION,
  });

  if (clusterRecorded()) {
    const envFile = join(run, 'cluster.env');
    const env = existsSync(envFile) ? readFileSync(envFile, 'utf8') : '';
    const recorded = Number(/^S3_PORT=(\d+)$/m.exec(env)?.[1]);
    if (apiAnswers() && recorded === s3Port) {
      const apiPort = Number(/^API_PORT=(\d+)$/m.exec(env)?.[1]);
      copyKubeconfig();
      writeSampleRemote(s3Port);
      log('the cluster is running already');
      usage(s3Port, apiPort);
      return;
    }
    log('restarting the cluster (it does not answer, or the S3 port changed)');
    await stopCluster();
  }

  log(`sample images into the Docker engine: ${PYTHON_IMAGE}, ${BUSYBOX_IMAGE}`);
  await ensureImages(docker, [PYTHON_IMAGE, BUSYBOX_IMAGE]);
  const helper = ensurePodHelper();
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const scratch = mkdtempSync(join(home, 'images-'));
  try {
    const archives = [...(await saveDockerImages([PYTHON_IMAGE, BUSYBOX_IMAGE], scratch)), helper.archive];
    removeClusterState(run);
    const apiPort = await portOrFree(API_PORT);
    log(`starting ${NODES} nodes (${PREFIX}, 10.${NET}.0.0/16, API port ${apiPort}); log: ${join(run, 'up.log')}`);
    const started = Date.now();
    const result = await clusterUp({ run, prefix: PREFIX, net: NET, apiPort, nodes: NODES, s3Port, archives });
    if (result.status === PREFIX_IN_USE)
      throw new Error(
        `the network namespace ${PREFIX}-cp exists, but not from ${run}: a cluster started elsewhere (or whose state was removed) holds prefix ${PREFIX}. Remove it with: ip netns del ${PREFIX}-cp`,
      );
    if (result.status !== 0) {
      await clusterDown(run);
      throw new Error(`starting the cluster failed:\n${result.output.slice(-4000)}`);
    }
    log(`cluster up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    copyKubeconfig();
    writeSampleRemote(s3Port);
    usage(s3Port, apiPort);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The sample workspace's remote for the cluster: its user file (.mlpipe/config.yaml, git-ignored), marked as ours. */
const sampleConfig = join(__dirname, '..', 'sample-workspace', '.mlpipe', 'config.yaml');
const SAMPLE_MARK = '# written by npm run cluster:up; removed by npm run cluster:down';

function writeSampleRemote(s3Port: number): void {
  if (existsSync(sampleConfig) && !readFileSync(sampleConfig, 'utf8').startsWith(SAMPLE_MARK)) {
    log(
      `${sampleConfig} is yours: add the remote 'team' (s3://${BUCKET}/churn, endpoint http://127.0.0.1:${s3Port}, profile ${PROFILE}) to it yourself`,
    );
    return;
  }
  mkdirSync(join(sampleConfig, '..'), { recursive: true });
  writeFileSync(
    `${sampleConfig}.tmp`,
    [
      SAMPLE_MARK,
      "# The team cache the local cluster's pods move data through (sample-workspace/mlpipe.yaml, host cluster).",
      'remotes:',
      '  team:',
      `    url: s3://${BUCKET}/churn`,
      `    endpoint: http://127.0.0.1:${s3Port}`,
      `    profile: ${PROFILE}`,
      '',
    ].join('\n'),
  );
  renameSync(`${sampleConfig}.tmp`, sampleConfig);
}

function removeSampleRemote(): void {
  if (existsSync(sampleConfig) && readFileSync(sampleConfig, 'utf8').startsWith(SAMPLE_MARK)) rmSync(sampleConfig);
}

function copyKubeconfig(): void {
  mkdirSync(join(kubeconfigCopy, '..'), { recursive: true, mode: 0o700 });
  copyFileSync(join(run, 'admin.kubeconfig'), `${kubeconfigCopy}.tmp`);
  chmodSync(`${kubeconfigCopy}.tmp`, 0o600);
  renameSync(`${kubeconfigCopy}.tmp`, kubeconfigCopy);
}

async function stopCluster(): Promise<void> {
  const result = await clusterDown(run);
  process.stdout.write(result.output);
  if (result.status !== 0) throw new Error(`stopping the cluster failed; run \`npm run cluster:down\` again`);
  removeClusterState(run);
}

async function down(): Promise<void> {
  await stopCluster();
  await stopS3();
  rmSync(kubeconfigCopy, { force: true });
  removeSampleRemote();
  log(`down (the S3 data and keys stay in ${s3Dir})`);
}

const command = process.argv[2];
const action = command === 'up' ? up : command === 'down' ? down : undefined;
if (!action) {
  console.error('usage: node --import tsx scripts/cluster.ts up|down');
  process.exit(2);
}
action().catch((error: unknown) => {
  console.error(`[cluster] ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
