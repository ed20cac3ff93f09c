import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { acquireFileLock } from '../../core/src/runs/file-lock';
import { freePort } from '../../scripts/vscode-web';

/**
 * A real Kubernetes cluster for tests: unmodified etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler and one containerd + kubelet per node, each node in a network namespace of its own
 * (scripts/cluster/up.sh and down.sh). The binaries are built once from the Go module proxy
 * (scripts/cluster/build.sh, 12 to 15 minutes on 2 cores) and cached in
 * `~/.cache/mlpipe/kubernetes-v1.34.2` (MLPIPE_CACHE_DIR moves it); a cluster then starts in about
 * 5 to 10 seconds. The API is served on the host's 127.0.0.1 with a certificate of the cluster's own
 * CA, which the kubeconfig carries: TLS is verified. Each test cluster has its own prefix, addresses
 * and API port, so several run beside each other and beside a person's (`npm run cluster:up`);
 * stop() stops it, so does a hook when the process exits, and the next startCluster stops the
 * clusters of test processes that were killed outright. See shared/recipes/kubernetes.md.
 */
export const KUBERNETES_VERSION = 'v1.34.2';

const ROOT = resolve(__dirname, '..', '..');
const UP = join(ROOT, 'scripts', 'cluster', 'up.sh');
const DOWN = join(ROOT, 'scripts', 'cluster', 'down.sh');
const BUILD = join(ROOT, 'scripts', 'cluster', 'build.sh');

const INSTALL =
  'apt-get install -y containerd runc containernetworking-plugins socat gcc libc6-dev openssl iproute2 util-linux (or run .ci/run)';

/** ~/.cache/mlpipe, or MLPIPE_CACHE_DIR. */
export function cacheRoot(): string {
  return resolve(process.env.MLPIPE_CACHE_DIR ?? join(homedir(), '.cache', 'mlpipe'));
}

/** Where the cluster's binaries are (or will be) cached. */
export function kubernetesBin(): string {
  return join(cacheRoot(), `kubernetes-${KUBERNETES_VERSION}`);
}

function built(bin: string): boolean {
  return ['kubelet', 'kubectl', 'etcd'].every((name) => existsSync(join(bin, name)));
}

/** kubectl, built from the same module as the cluster (scripts/cluster/build.sh). */
export function kubectlBinary(): string {
  return join(kubernetesBin(), 'kubectl');
}

function installed(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

/**
 * Why a cluster cannot start here, or undefined. Tests fail with this in CI and skip outside it.
 * Go is needed only while the binaries are not cached.
 */
export function clusterMissing(): string | undefined {
  if (process.platform !== 'linux') return 'the local Kubernetes cluster runs on Linux only';
  for (const tool of ['containerd', 'runc', 'ctr', 'socat', 'gcc', 'openssl', 'ip', 'nsenter', 'setsid']) {
    if (!installed(tool)) return `${tool} is not installed: ${INSTALL}`;
  }
  for (const plugin of ['bridge', 'host-local', 'loopback'])
    if (!existsSync(`/usr/lib/cni/${plugin}`)) return `the CNI plugin /usr/lib/cni/${plugin} is missing: ${INSTALL}`;
  if (!built(kubernetesBin()) && !installed('go'))
    return `Go is not installed (Kubernetes ${KUBERNETES_VERSION} is built from the Go module proxy on first use): install Go 1.24 or later from https://go.dev/dl`;
  if (process.getuid?.() !== 0)
    return 'the local Kubernetes cluster needs root (network namespaces, cgroups, containerd)';
  return undefined;
}

/**
 * The folder with kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, etcd and
 * pause.c, built by scripts/cluster/build.sh on first use (12 to 15 minutes on 2 cores; its log is
 * `<folder>.build.log`). A lock keeps two test processes from building at once.
 */
export function ensureKubernetes(): string {
  const bin = kubernetesBin();
  if (built(bin)) return bin;
  mkdirSync(dirname(bin), { recursive: true });
  const release = acquireFileLock(`${bin}.lock`, 40 * 60_000, 45 * 60_000);
  try {
    if (built(bin)) return bin;
    const log = `${bin}.build.log`;
    console.error(`[cluster] building Kubernetes ${KUBERNETES_VERSION} into ${bin} (12-15 minutes, once); log: ${log}`);
    const fd = openSync(log, 'w');
    let result;
    try {
      result = spawnSync('bash', [BUILD, bin], { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    if (result.status !== 0 || !built(bin))
      throw new Error(
        `building Kubernetes failed (exit ${result.status ?? result.signal ?? result.error?.message}):\n${readFileSync(log, 'utf8').slice(-3000)}`,
      );
    return bin;
  } finally {
    release();
  }
}

/** What up.sh takes (see scripts/cluster/up.sh). */
export interface ClusterSettings {
  /** State folder: an absolute path of at most 80 characters without spaces. */
  run: string;
  prefix: string;
  /** The cluster's addresses are 10.NET.0.0/16. */
  net: number;
  apiPort: number;
  nodes: number;
  /** Host loopback port pods reach at http://10.NET.255.1:PORT. */
  s3Port?: number;
  /** Image archives imported into every node. */
  archives?: string[];
  /** Binaries; ensureKubernetes() when absent. */
  bin?: string;
}

/** Exit status of up.sh when another cluster uses the PREFIX. */
export const PREFIX_IN_USE = 75;

interface Ran {
  status: number;
  output: string;
}

/** Runs a script with its output in a file (its daemons must not hold a pipe of ours open). */
function runScript(script: string, env: NodeJS.ProcessEnv, logFile: string): Promise<Ran> {
  return new Promise((done, reject) => {
    const fd = openSync(logFile, 'w');
    const child = spawn('bash', [script], { env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      done({ status: code ?? (signal ? 128 : 1), output: existsSync(logFile) ? readFileSync(logFile, 'utf8') : '' }),
    );
  });
}

function scriptEnv(settings: Partial<ClusterSettings> & { run: string }): NodeJS.ProcessEnv {
  return {
    ...process.env,
    RUN: settings.run,
    BIN: settings.bin ?? kubernetesBin(),
    NODES: String(settings.nodes ?? 2),
    PREFIX: settings.prefix ?? '',
    NET: String(settings.net ?? ''),
    API_PORT: String(settings.apiPort ?? ''),
    S3_PORT: settings.s3Port === undefined ? '' : String(settings.s3Port),
    IMAGES: (settings.archives ?? []).join(' '),
    KUBECACHEDIR: join(settings.run, 'kubectl-cache'),
  };
}

/**
 * Starts a cluster with scripts/cluster/up.sh (about 5 to 10 s once the binaries are built). Its
 * output goes to RUN/up.log. Resolves to up.sh's exit status: 0, PREFIX_IN_USE, or a failure
 * (then run clusterDown: up.sh leaves what it started).
 */
export async function clusterUp(settings: ClusterSettings): Promise<Ran> {
  mkdirSync(settings.run, { recursive: true });
  return runScript(UP, scriptEnv(settings), join(settings.run, 'up.log'));
}

/** Stops what up.sh started from `run` (scripts/cluster/down.sh); idempotent. */
export async function clusterDown(run: string): Promise<Ran> {
  if (!existsSync(run)) return { status: 0, output: '' };
  return runScript(DOWN, { ...process.env, RUN: run, PREFIX: '' }, join(run, 'down.log'));
}

/** clusterDown, synchronously (for a process 'exit' hook). */
export function clusterDownSync(run: string): Ran {
  if (!existsSync(run)) return { status: 0, output: '' };
  const result = spawnSync('bash', [DOWN], { env: { ...process.env, RUN: run, PREFIX: '' }, encoding: 'utf8' });
  return { status: result.status ?? 1, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

/** Whether something is mounted under the folder (never remove a folder through a mount). */
function mountedUnder(dir: string): boolean {
  const prefix = `${resolve(dir)}/`;
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .some((line) => (line.split(' ')[1] ?? '').startsWith(prefix));
}

/** Removes a stopped cluster's state folder; refuses while anything is mounted under it. */
export function removeClusterState(run: string): void {
  if (!existsSync(run)) return;
  if (mountedUnder(run)) throw new Error(`not removing ${run}: something is still mounted under it`);
  rmSync(run, { recursive: true, force: true, maxRetries: 3 });
}

/**
 * Writes `docker save REF` for each image (from the engine DOCKER_HOST names, `docker` overriding
 * it) to a file in `dir`; returns the files.
 */
export async function saveDockerImages(refs: string[], dir: string, docker?: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const env = { ...process.env, ...(docker ? { DOCKER_HOST: docker } : {}) };
  const files: string[] = [];
  for (const [index, ref] of refs.entries()) {
    const file = join(dir, `image-${index}.tar`);
    const result = await new Promise<{ status: number; stderr: string }>((done, reject) => {
      const child = spawn('docker', ['save', '-o', file, ref], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.once('error', reject);
      child.once('exit', (code) => done({ status: code ?? 1, stderr }));
    });
    if (result.status !== 0)
      throw new Error(
        `docker save ${ref} failed (engine ${env.DOCKER_HOST ?? 'unix:///var/run/docker.sock'}): ${result.stderr.trim()}`,
      );
    files.push(file);
  }
  return files;
}

/** Imports image archives into every node's containerd (k8s.io namespace, where the kubelet looks). */
export async function importArchives(run: string, nodes: number, archives: string[]): Promise<void> {
  for (let node = 1; node <= nodes; node++) {
    for (const archive of archives) {
      const socket = join(run, `n${node}`, 'containerd.sock');
      const result = await new Promise<{ status: number; output: string }>((done, reject) => {
        const child = spawn('ctr', ['--address', socket, '-n', 'k8s.io', 'images', 'import', archive], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let output = '';
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
        child.once('error', reject);
        child.once('exit', (code) => done({ status: code ?? 1, output }));
      });
      if (result.status !== 0)
        throw new Error(`ctr images import ${archive} into node ${node} failed: ${result.output.trim().slice(-2000)}`);
    }
  }
}

export interface ClusterOptions {
  /** Nodes (default 2), named `<prefix>-n1`, `<prefix>-n2`, ... */
  nodes?: number;
  /** A host loopback port (an S3 server's) that pods reach at s3PodEndpoint. */
  s3Port?: number;
  /** Docker image references saved from a Docker engine and imported into every node. */
  images?: string[];
  /** DOCKER_HOST of the engine `images` are saved from; default: DOCKER_HOST, else the local one. */
  docker?: string;
  /** Image archives (OCI or `docker save`) imported into every node. */
  archives?: string[];
}

export interface KubectlResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface RunningCluster {
  /** RUN/admin.kubeconfig: https://127.0.0.1:apiPort, the cluster's CA, a bearer token. */
  kubeconfig: string;
  /** The same with a wrong token (the API answers 401). */
  wrongKubeconfig: string;
  context: 'mlpipe-local';
  /** The namespace made for tests (the kubeconfig's own namespace is `default`). */
  namespace: 'ml';
  /** Node names, `<prefix>-n1` ... */
  nodes: string[];
  apiPort: number;
  /** https://127.0.0.1:apiPort */
  server: string;
  /** The admin bearer token. */
  token: string;
  /** The cluster CA's certificate (PEM). */
  ca: string;
  /** http://10.NET.255.1:s3Port: the host's 127.0.0.1:s3Port as pods on every node reach it. */
  s3PodEndpoint?: string;
  /** Network namespace / cgroup prefix and second octet of its addresses. */
  prefix: string;
  net: number;
  /** State folder (removed by stop()). */
  run: string;
  /** kubectl with the admin kubeconfig (synchronous). */
  kubectl(args: string[], input?: string): KubectlResult;
  /**
   * Imports images into every node: absolute paths are image archives, anything else a Docker
   * image reference saved from the engine `options.docker` (default as in startCluster).
   */
  importImages(images: string[], options?: { docker?: string }): Promise<void>;
  /** The end of a daemon's log (etcd, kube-apiserver, kubelet-n1, containerd-n1, ...). */
  log(name: string, chars?: number): string;
  /** Stops everything it started (down.sh) and removes its state folder; idempotent. */
  stop(): Promise<void>;
}

/** Test clusters' state folders are tmpdir()/mlpipe-cluster-XXXXXX, each with the owner's PID and start time. */
const RUN_PREFIX = 'mlpipe-cluster-';
const OWNER = 'owner';

/** A process's start time (clock ticks since boot), or undefined when it does not exist. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/**
 * Stops the clusters of test processes that died without their exit hook (SIGKILL, a timeout's
 * kill -9): folders whose owner process is gone. One whose owner is alive, or whose owner file
 * is not written yet, is left alone.
 */
export async function reapOrphans(): Promise<void> {
  let entries: string[];
  try {
    entries = readdirSync(tmpdir()).filter((entry) => entry.startsWith(RUN_PREFIX));
  } catch {
    return;
  }
  for (const entry of entries) {
    const run = join(tmpdir(), entry);
    let owner: string;
    try {
      owner = readFileSync(join(run, OWNER), 'utf8');
    } catch {
      continue;
    }
    const [pid, started] = owner.trim().split(' ');
    if (!pid || !started || startTime(Number(pid)) === started) continue;
    try {
      renameSync(join(run, OWNER), join(run, `reaping-${process.pid}`)); // one reaper per folder
    } catch {
      continue;
    }
    const down = await clusterDown(run);
    if (down.status === 0) removeClusterState(run);
    else console.error(`[cluster] could not stop the orphaned cluster in ${run}:\n${down.output.slice(-2000)}`);
  }
}

/** Second octets tried for test clusters; `npm run cluster:up` uses 99. */
const TEST_NETS = [90, 91, 92, 93, 94, 95, 96, 97];

function namespacesInUse(): string[] {
  const result = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return (result.stdout ?? '').split('\n').map((line) => line.split(' ')[0] ?? '');
}

/**
 * Starts a cluster for a test on its own prefix, addresses and API port, so that it runs beside
 * another test's and a person's (`npm run cluster:up`). Everything is stopped by stop(), and by
 * a hook when the process exits (or dies of SIGINT, SIGTERM or SIGHUP) before that.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<RunningCluster> {
  const missing = clusterMissing();
  if (missing) throw new Error(missing);
  const bin = ensureKubernetes();
  const nodes = options.nodes ?? 2;
  await reapOrphans();
  const run = mkdtempSync(join(tmpdir(), RUN_PREFIX));
  writeFileSync(join(run, OWNER), `${process.pid} ${startTime(process.pid)}`);
  let saved: string[] = [];
  const scratch = join(run, 'saved-images');

  // Registered before up.sh runs: a process that dies half way through leaves nothing either.
  let stopped = false;
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    unhook();
    const down = clusterDownSync(run);
    if (down.status === 0) removeClusterState(run);
    else console.error(`[cluster] stopping the cluster in ${run} failed (RUN=${run} ${DOWN}):\n${down.output}`);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    stopSync();
    // Nobody else handles it: die of it, as without this hook.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const unhook = () => {
    process.removeListener('exit', stopSync);
    for (const signal of signals) process.removeListener(signal, onSignal);
  };
  process.once('exit', stopSync);
  for (const signal of signals) process.once(signal, onSignal);

  // Stops it; the exit hook stays until that succeeded.
  const shutdown = async (): Promise<void> => {
    if (stopped) return;
    const down = await clusterDown(run);
    if (down.status !== 0) throw new Error(`stopping the cluster in ${run} failed:\n${down.output.slice(-4000)}`);
    stopped = true;
    unhook();
    removeClusterState(run);
  };
  const fail = async (error: unknown): Promise<never> => {
    await shutdown().catch((stopError: unknown) => console.error(`[cluster] ${String(stopError)}`));
    throw error;
  };

  let prefix = '';
  let net = 0;
  let apiPort = 0;
  try {
    saved = await saveDockerImages(options.images ?? [], scratch, options.docker);
    let portRetries = 2;
    for (const candidate of TEST_NETS) {
      const name = `mlk${candidate}`;
      if (namespacesInUse().some((ns) => ns.startsWith(`${name}-`))) continue;
      const port = await freePort();
      const up = await clusterUp({
        run,
        bin,
        prefix: name,
        net: candidate,
        apiPort: port,
        nodes,
        s3Port: options.s3Port,
        archives: [...(options.archives ?? []), ...saved],
      });
      if (up.status === PREFIX_IN_USE) continue; // another test claimed it between the check and up.sh
      // Another process took the free port before up.sh listened on it: again, on another port.
      if (up.status !== 0 && portRetries-- > 0 && /could not listen on 127\.0\.0\.1/.test(up.output)) {
        const down = await clusterDown(run);
        if (down.status !== 0)
          throw new Error(`stopping a failed start in ${run} failed:\n${down.output.slice(-4000)}`);
        continue;
      }
      if (up.status !== 0)
        throw new Error(`starting the cluster failed (up.sh exit ${up.status}):\n${up.output.slice(-4000)}`);
      [prefix, net, apiPort] = [name, candidate, port];
      break;
    }
    if (!prefix)
      throw new Error(
        `no free cluster prefix: network namespaces mlk${TEST_NETS[0]}-* to mlk${TEST_NETS.at(-1)}-* all exist (ip netns list)`,
      );
  } catch (error) {
    return fail(error);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }

  const kubeconfig = join(run, 'admin.kubeconfig');
  const token = /token: (\S+)/.exec(readFileSync(kubeconfig, 'utf8'))?.[1] ?? '';
  const kubectl = (args: string[], input?: string): KubectlResult => {
    const result = spawnSync(kubectlBinary(), ['--kubeconfig', kubeconfig, ...args], {
      input,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, KUBECACHEDIR: join(run, 'kubectl-cache') },
    });
    return {
      status: result.status ?? 1,
      stdout: result.stdout ?? '',
      stderr: `${result.stderr ?? ''}${result.error ? result.error.message : ''}`,
    };
  };
  return {
    kubeconfig,
    wrongKubeconfig: join(run, 'wrong.kubeconfig'),
    context: 'mlpipe-local',
    namespace: 'ml',
    nodes: Array.from({ length: nodes }, (_, index) => `${prefix}-n${index + 1}`),
    apiPort,
    server: `https://127.0.0.1:${apiPort}`,
    token,
    ca: readFileSync(join(run, 'pki', 'ca.crt'), 'utf8'),
    ...(options.s3Port !== undefined ? { s3PodEndpoint: `http://10.${net}.255.1:${options.s3Port}` } : {}),
    prefix,
    net,
    run,
    kubectl,
    importImages: async (images, importOptions = {}) => {
      const archives = images.filter((image) => isAbsolute(image));
      const refs = images.filter((image) => !isAbsolute(image));
      const dir = mkdtempSync(join(run, 'saved-images-'));
      try {
        archives.push(...(await saveDockerImages(refs, dir, importOptions.docker ?? options.docker)));
        await importArchives(run, nodes, archives);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    log: (name, chars = 3000) => {
      const file = join(run, 'logs', `${name}.log`);
      return existsSync(file) ? readFileSync(file, 'utf8').slice(-chars) : '';
    },
    stop: shutdown,
  };
}
