import { createHash } from 'node:crypto';
import { closeSync, createReadStream, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import Docker from 'dockerode';
import { type UserError } from '../../errors';
import { podStaging, type PodStaging, type RemoteBackend } from '../../remote/backend';
import { type RemoteCache } from '../../remote/sync';
import { machineId } from '../../runs/machine';
import { Boundary } from '../../util/boundary';
import { extractInto, listFiles } from '../archive';
import { dockerFor, localAddress } from '../engine';
import { HostError, type AttemptSpec, type Executor, type StageExecution } from '../executor';
import { type PlannedStage } from '../plan';
import { kube, type K8s } from './client-node';
import { clusterError, connectCluster, deadline, notFound, printable, type Cluster } from './cluster';
import {
  FETCH_CONTAINER,
  jobManifest,
  jobName,
  KUBE_LABELS,
  labelsFor,
  networkPolicyManifest,
  secretManifest,
  STAGE_CONTAINER,
  UPLOAD_FAILED,
  workspaceLabel,
} from './job';
import { type KubernetesHost } from './spec';
import { PodWatch } from './watch';

/** Container waiting reasons that will not resolve by waiting: the attempt fails with the cluster's message. */
const HOPELESS = new Set([
  'ErrImageNeverPull',
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
]);
/** The most an output's archive may be (less what the disk must keep free), and the pod's report. */
const MAX_OUTPUT_BYTES = 1024 ** 4;
const KEEP_FREE_BYTES = 256 * 1024 * 1024;
const MAX_REPORT_BYTES = 64 * 1024 * 1024;
/** How long cancel and cleanup wait for a Job's pods to be gone. */
const GONE_WITHIN_MS = 60_000;
/** How long one API call may take before the attempt says the server does not answer. */
const API_MS = 30_000;
/** Distinct notes said per attempt (a server that keeps changing its message is not echoed forever). */
const MAX_NOTES = 50;

interface PodReport {
  version: 1;
  exitCode: number;
  outputs: { path: string; present: boolean; files: Record<string, string> }[];
}

/** The pod's report, if it is one: a hostile stage writes what it likes there. */
function parseReport(text: string): PodReport | undefined {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  const report = data as Partial<PodReport> | null;
  if (!report || report.version !== 1 || !Array.isArray(report.outputs)) return undefined;
  const outputs: PodReport['outputs'] = [];
  for (const entry of report.outputs as unknown[]) {
    const output = entry as Partial<PodReport['outputs'][number]> | null;
    if (!output || typeof output.path !== 'string' || typeof output.present !== 'boolean') return undefined;
    const files = new Map<string, string>();
    if (output.files !== undefined) {
      if (!output.files || typeof output.files !== 'object') return undefined;
      for (const [name, sum] of Object.entries(output.files)) {
        if (typeof sum !== 'string') return undefined;
        files.set(name, sum);
      }
    }
    outputs.push({ path: output.path, present: output.present, files: Object.fromEntries(files) });
  }
  return { version: 1, exitCode: Number(report.exitCode), outputs };
}

/**
 * Stages as Kubernetes Jobs: one Job of one pod per attempt, scheduled by the cluster (admitted by
 * Kueue when the host names a queue). Deps and outputs move through the pipeline's S3 remote by
 * signed URLs (job.ts, pod-helper/); logs stream from the API; cancel deletes the Job and waits
 * until its pod is gone. See docs/kubernetes.md and ADR 0015.
 */
export class KubernetesExecutor implements Executor {
  readonly sharesFiles = false;
  private readonly machine = machineId();
  readonly watch: PodWatch;
  /** Image digests, entrypoints and repository digests, as the local engine knows them, per image. */
  private readonly images = new Map<string, Promise<{ digest?: string; entrypoint: string[]; pinned?: string }>>();
  private gpuNodes: Promise<{ withGpus: number; total: number } | undefined> | undefined;
  private liveRuns: ReadonlySet<string> = new Set();
  private stagingCleaned = false;

  private constructor(
    readonly host: string,
    readonly spec: KubernetesHost,
    readonly cluster: Cluster,
    readonly workspace: string,
  ) {
    this.watch = new PodWatch(cluster.config, cluster.core, cluster.namespace, this.machine);
  }

  static async connect(name: string, spec: KubernetesHost, workspace: string): Promise<KubernetesExecutor> {
    return new KubernetesExecutor(name, spec, await connectCluster(name, spec, workspace), workspace);
  }

  get version(): string {
    return this.cluster.shown;
  }

  /** This workspace's runs on this machine, in the remote's staging area (another clone's are its own). */
  get stagingPrefix(): string {
    return `${this.machine}-${workspaceLabel(this.workspace)}-`;
  }

  unsupported(stage: PlannedStage): UserError | undefined {
    if (stage.resources.gpus === 'all')
      return new HostError(
        `stage '${stage.name}' asks for all GPUs; on host '${this.host}' (a cluster) ask for a number (resources.gpus: 1)`,
      );
    if (stage.network === 'host')
      return new HostError(
        `stage '${stage.name}' uses network: host, which a cluster's pods do not get; use network: bridge on host '${this.host}'`,
      );
    return undefined;
  }

  /**
   * The image's digest for the cache key, as this machine's engine has it (the same key a local
   * run computes, so local and cluster runs share the cache), or the digest the reference pins.
   */
  async resolveImage(image: string): Promise<string> {
    const known = await this.inspect(image);
    if (known.digest) return known.digest;
    throw new HostError(
      `image ${image}: mlpipe keys a stage's cache by its image's digest, and neither this machine's engine has the image nor does the reference pin one; pull it here (docker pull ${image}) or pin it (${image}@sha256:...)`,
    );
  }

  async imageDigest(image: string): Promise<string | undefined> {
    return (await this.inspect(image)).digest;
  }

  /** The image as the pod should pull it: by the digest this machine's engine got it under, so the key names what runs. */
  async podImage(image: string): Promise<string> {
    return (await this.inspect(image)).pinned ?? image;
  }

  entrypoint(image: string): Promise<string[]> {
    return this.inspect(image).then((known) => known.entrypoint);
  }

  private inspect(image: string): Promise<{ digest?: string; entrypoint: string[]; pinned?: string }> {
    let known = this.images.get(image);
    if (!known) {
      known = (async () => {
        const pinned = /@(sha256:[0-9a-f]{64})$/.exec(image)?.[1];
        try {
          const docker: Docker = dockerFor(
            { name: 'local', address: localAddress(), sharesFiles: true },
            this.workspace,
          );
          const info = await deadline(docker.getImage(image).inspect(), API_MS, `inspecting image ${image}`);
          const entrypoint = info.Config?.Entrypoint;
          const repository = image.replace(/@sha256:[0-9a-f]{64}$/, '').replace(/:[^/:]+$/, '');
          const repoDigest = (info.RepoDigests ?? []).find((digest) => digest.startsWith(`${repository}@sha256:`));
          return {
            digest: pinned ?? info.Id,
            entrypoint: Array.isArray(entrypoint) ? entrypoint : typeof entrypoint === 'string' ? [entrypoint] : [],
            ...(pinned ? {} : repoDigest ? { pinned: repoDigest } : {}),
          };
        } catch {
          return { ...(pinned ? { digest: pinned } : {}), entrypoint: [] };
        }
      })();
      this.images.set(image, known);
    }
    return known;
  }

  /** Removes Jobs, Secrets and network policies this machine's killed runs of this workspace left (found by label). */
  async removeOrphans(liveRuns: ReadonlySet<string>): Promise<void> {
    this.liveRuns = liveRuns;
    const { batch, core, networking, namespace } = this.cluster;
    const selector = `${KUBE_LABELS.workspace}=${workspaceLabel(this.workspace)},${KUBE_LABELS.machine}=${this.machine}`;
    const dead = (labels: Record<string, string> | undefined) =>
      labels?.[KUBE_LABELS.machine] === this.machine &&
      labels?.[KUBE_LABELS.workspace] === workspaceLabel(this.workspace) &&
      !liveRuns.has(labels[KUBE_LABELS.run] ?? '');
    const names = async (list: Promise<{ items?: { metadata?: K8s.V1ObjectMeta }[] }>) =>
      ((await deadline(list, API_MS, 'listing what killed runs left').catch(() => undefined))?.items ?? [])
        .filter((item) => dead(item.metadata?.labels) && item.metadata?.name)
        .map((item) => item.metadata!.name!);
    const jobs = await names(batch.listNamespacedJob({ namespace, labelSelector: selector }));
    await Promise.all(jobs.map((name) => deleteJob(this.cluster, name)));
    for (const name of await names(core.listNamespacedSecret({ namespace, labelSelector: selector })))
      await deadline(core.deleteNamespacedSecret({ name, namespace }), API_MS, 'deleting').catch(() => undefined);
    for (const name of await names(networking.listNamespacedNetworkPolicy({ namespace, labelSelector: selector })))
      await deadline(networking.deleteNamespacedNetworkPolicy({ name, namespace }), API_MS, 'deleting').catch(
        () => undefined,
      );
    await Promise.all(jobs.map((name) => podsGone(this.cluster, name, GONE_WITHIN_MS)));
  }

  /** The remote's staging, refused with the fix when the pipeline's remote cannot serve pods. */
  async staging(remote: RemoteCache | undefined): Promise<RemoteBackend & PodStaging> {
    if (!remote)
      throw new HostError(
        `host '${this.host}' is a cluster: its pods get deps and send outputs through the pipeline's S3 remote; declare one under remotes: (docs/kubernetes.md)`,
      );
    const backend = await remote.backend();
    const staging = podStaging(backend);
    if (!staging)
      throw new HostError(
        `host '${this.host}' is a cluster: its pods move data through an S3 remote, and remote '${backend.spec.name}' is ${backend.spec.kind}; make an s3:// remote the default (remote: NAME) for cluster runs`,
      );
    if (!this.stagingCleaned) {
      this.stagingCleaned = true;
      // What killed runs of this workspace on this machine left in the staging area (a run holds
      // the workspace's lock, so no other live run of it can be writing there).
      const runs = await staging.listStagingRuns().catch(() => []);
      for (const run of runs.filter((name) => name.startsWith(this.stagingPrefix)))
        if (!this.liveRuns.has(run.slice(this.stagingPrefix.length)))
          await staging.deleteStaging(run).catch(() => undefined);
    }
    return staging;
  }

  create(attempt: AttemptSpec): Promise<StageExecution> {
    return Promise.resolve(new KubernetesExecution(this, attempt));
  }

  /** Whether the API server still answers; a stage's own failure is not the cluster's. */
  async lost(): Promise<UserError | undefined> {
    const where = `host '${this.host}' (${this.cluster.shown})`;
    try {
      await deadline(
        this.cluster.batch.listNamespacedJob({ namespace: this.cluster.namespace, limit: 1 }),
        10_000,
        where,
      );
      return undefined;
    } catch (error) {
      return new HostError(
        `lost the cluster of ${where} while the stage ran (${clusterError(where, 'asking', error, this.cluster.secrets).message}); rerun when it is back`,
      );
    }
  }

  /** How many nodes could give a GPU at all, of how many; undefined when the credentials may not list nodes. */
  gpuNodeCount(): Promise<{ withGpus: number; total: number } | undefined> {
    this.gpuNodes ??= deadline(this.cluster.core.listNode(), API_MS, 'listing nodes')
      .then((nodes) => ({
        withGpus: (nodes?.items ?? []).filter((node) => Number(node.status?.allocatable?.['nvidia.com/gpu'] ?? 0) > 0)
          .length,
        total: (nodes?.items ?? []).length,
      }))
      .catch(() => undefined);
    return this.gpuNodes;
  }
}

function deleteJob(cluster: Cluster, name: string): Promise<unknown> {
  return deadline(
    cluster.batch.deleteNamespacedJob({
      name,
      namespace: cluster.namespace,
      propagationPolicy: 'Foreground',
      gracePeriodSeconds: 0,
    }),
    API_MS,
    `deleting Job ${name}`,
  ).catch((error: unknown) => (notFound(error) ? undefined : Promise.reject(error)));
}

/** Waits until no pod of the Job is left (deleting them outright after the Job's own deletion); false if some remain. */
async function podsGone(cluster: Cluster, job: string, withinMs: number): Promise<boolean> {
  const deadlineAt = Date.now() + withinMs;
  let pushed = false;
  for (;;) {
    const pods = await deadline(
      cluster.core.listNamespacedPod({ namespace: cluster.namespace, labelSelector: `job-name=${job}` }),
      10_000,
      'listing pods',
    ).catch(() => undefined);
    if (pods && (pods.items ?? []).length === 0) return true;
    if (Date.now() > deadlineAt) return false;
    if (pods && !pushed) {
      pushed = true;
      await Promise.all(
        (pods.items ?? [])
          .filter((pod) => pod.metadata?.name)
          .map((pod) =>
            deadline(
              cluster.core.deleteNamespacedPod({
                name: pod.metadata!.name!,
                namespace: cluster.namespace,
                gracePeriodSeconds: 0,
              }),
              10_000,
              'deleting a pod',
            ).catch(() => undefined),
          ),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** A timer promise that never keeps the process alive and is cleared when its race is over. */
function pause(ms: number): { promise: Promise<void>; clear(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  return { promise, clear: () => clearTimeout(timer) };
}

/** One attempt: its Secret, its Job, its pod's logs and exit, its outputs back through the remote. */
class KubernetesExecution implements StageExecution {
  private readonly name: string;
  private readonly labels: Record<string, string>;
  private readonly prefix: string;
  private staging: (RemoteBackend & PodStaging) | undefined;
  private killed = false;
  /** Set once the attempt is over (waited for, or being removed): every loop and stream of it stops. */
  private finished = false;
  private createdAt = 0;
  private startAttempted = false;
  private policy = false;
  private logsDone: Promise<void> | undefined;
  private readonly seen = new Set<string>();
  private onLine: (line: string, stream: 'stdout' | 'stderr') => void = () => undefined;
  private released = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly executor: KubernetesExecutor,
    private readonly spec: AttemptSpec,
  ) {
    const { stage, runId } = spec;
    this.name = jobName(executor.workspace, runId, stage.name, spec.attempt ?? 1);
    this.labels = labelsFor(executor.workspace, machineId(), runId, stage.name);
    this.prefix = `${executor.stagingPrefix}${runId}/${this.name}`;
    executor.watch.acquire();
  }

  private get cluster(): Cluster {
    return this.executor.cluster;
  }

  private get where(): string {
    return `host '${this.executor.host}'`;
  }

  /** A call to the API within the deadline, its failure as a HostError that names the step. */
  private async api<T>(step: string, call: Promise<T>): Promise<T> {
    try {
      return await deadline(call, API_MS, `${this.where}: ${step}`);
    } catch (error) {
      throw clusterError(this.where, step, error, this.cluster.secrets);
    }
  }

  /** Deps up to the remote by digest (what it lacks), signed URLs in a manifest, the manifest's URL in a Secret. */
  async prepareInputs(): Promise<void> {
    const staging = await this.executor.staging(this.spec.remote);
    this.staging = staging;
    const boundary = new Boundary(this.executor.workspace);
    const files = this.spec.inputs
      .flatMap((path) => listFiles(boundary, boundary.root, path))
      .filter((file) => !file.dir);
    const hashed: { path: string; full: string; digest: string; size: number; mode: number }[] = [];
    for (const file of files) {
      const { fd, stat } = boundary.openRead(file.full);
      const hash = createHash('sha256');
      await new Promise<void>((resolve, reject) =>
        createReadStream('', { fd, autoClose: true })
          .on('data', (chunk) => hash.update(chunk))
          .on('end', resolve)
          .on('error', reject),
      );
      hashed.push({
        path: file.name,
        full: file.full,
        digest: `sha256:${hash.digest('hex')}`,
        size: stat.size,
        mode: stat.mode & 0o777,
      });
    }
    const present = await staging.present([...new Set(hashed.map((file) => file.digest))], this.abort.signal);
    const uploaded = new Set<string>();
    for (const file of hashed) {
      if (present.has(file.digest) || uploaded.has(file.digest)) continue;
      uploaded.add(file.digest);
      await staging.upload({ digest: file.digest, size: file.size }, file.full, () => undefined, this.abort.signal);
    }
    const endpoint = this.executor.spec.remoteEndpoint;
    const stage = this.spec.stage;
    // Valid while the attempt may run: its timeout and two hours, or the longest S3 allows (seven days).
    const seconds = stage.timeoutMs ? Math.ceil(stage.timeoutMs / 1000) + 7200 : 7 * 24 * 3600;
    const sign = (method: 'GET' | 'PUT', target: { object: string } | { staging: string }) =>
      staging.presign(method, target, seconds, endpoint);
    const manifest = {
      version: 1,
      workspace: '/workspace',
      dirs: [...new Set(stage.outputs.map((output) => dirname(output.path)).filter((dir) => dir !== '.'))],
      inputs: await Promise.all(
        hashed.map(async (file) => ({
          path: file.path,
          url: await sign('GET', { object: file.digest }),
          sha256: file.digest.slice('sha256:'.length),
          size: file.size,
          mode: file.mode,
        })),
      ),
      outputs: await Promise.all(
        stage.outputs.map(async (output, index) => ({
          path: output.path,
          url: await sign('PUT', { staging: `${this.prefix}/out-${index}.tar` }),
        })),
      ),
      report: await sign('PUT', { staging: `${this.prefix}/report.json` }),
    };
    await staging.writeStaging(
      `${this.prefix}/manifest.json`,
      Buffer.from(JSON.stringify(manifest)),
      this.abort.signal,
    );
    const url = await sign('GET', { staging: `${this.prefix}/manifest.json` });
    const { core, networking, namespace } = this.cluster;
    await this.api(
      `creating the Secret ${this.name}`,
      core.createNamespacedSecret({
        namespace,
        body: secretManifest({ name: this.name, namespace, labels: this.labels }, url),
      }),
    );
    if (stage.network === 'none') {
      // What `network: none` can be on a cluster: egress only to DNS and the remote the pod's data goes through.
      try {
        await deadline(
          networking.createNamespacedNetworkPolicy({
            namespace,
            body: networkPolicyManifest(
              { name: this.name, namespace, labels: this.labels },
              endpoint ?? staging.spec.endpoint,
            ),
          }),
          API_MS,
          'creating a NetworkPolicy',
        );
        this.policy = true;
      } catch (error) {
        this.pending.push(
          `network: none is not enforced for this stage: the NetworkPolicy limiting its egress could not be made (${clusterError(this.where, 'creating a NetworkPolicy', error, this.cluster.secrets).message})`,
        );
      }
    }
  }

  /** Notes made before the log is followed. */
  private readonly pending: string[] = [];

  async start(): Promise<void> {
    const stage = this.spec.stage;
    const [entrypoint, image] = await Promise.all([
      this.executor.entrypoint(stage.image),
      this.executor.podImage(stage.image),
    ]);
    if (this.killed) return;
    const body = jobManifest({
      name: this.name,
      namespace: this.cluster.namespace,
      host: this.executor.spec,
      hostName: this.executor.host,
      stage,
      argv: [...entrypoint, ...stage.command.argv],
      image,
      env: {
        HOME: '/tmp',
        MLPIPE_STAGE: stage.name,
        MLPIPE_RUN: this.spec.runId,
        MLPIPE_OUTPUTS: stage.outputs.map((output) => output.path).join('\n'),
        ...stage.env,
        ...stage.command.env,
      },
      labels: this.labels,
    });
    this.startAttempted = true;
    this.createdAt = Date.now();
    await this.api(
      `creating the Job ${this.name}`,
      this.cluster.batch.createNamespacedJob({ namespace: this.cluster.namespace, body }),
    );
  }

  async followLogs(onLine: (line: string, stream: 'stdout' | 'stderr') => void): Promise<void> {
    this.onLine = onLine;
    for (const text of this.pending.splice(0)) this.note(text);
    this.logsDone = this.follow().catch((error: unknown) => {
      if (!this.killed && !this.finished)
        this.note(
          `the log stream broke: ${clusterError(this.where, 'following the log', error, this.cluster.secrets).message}`,
        );
    });
  }

  /** Says once (cleaned of control characters, bounded) what the cluster says while the pod waits. */
  private note(text: string): void {
    const clean = printable(text, 600);
    if (this.seen.has(clean) || this.seen.size >= MAX_NOTES) return;
    this.seen.add(clean);
    this.onLine(`mlpipe: ${clean}`, 'stderr');
  }

  /** The init container's then the stage container's log, each from when it starts until it ends. */
  private async follow(): Promise<void> {
    for (const container of [FETCH_CONTAINER, STAGE_CONTAINER]) {
      const pod = await this.until((current) => {
        const status = containerStatus(current, container);
        return Boolean(status?.state?.running || status?.state?.terminated);
      }, false);
      const podName = pod?.metadata?.name;
      if (!podName || this.killed || this.finished) return;
      await this.stream(podName, container);
    }
  }

  private async stream(pod: string, container: string): Promise<void> {
    if (this.abort.signal.aborted) return;
    const sink = new PassThrough();
    // Written after a cancel ended it: nothing to tell anyone.
    sink.on('error', () => undefined);
    const lines = createInterface({ input: sink, crlfDelay: Infinity });
    const ended = new Promise<void>((resolve) => lines.on('close', resolve));
    let first = container === STAGE_CONTAINER;
    lines.on('line', (line) => {
      if (first) {
        first = false;
        // Pod start latency, as the user feels it: from the Job's creation to the stage's first word.
        this.note(`first log line ${((Date.now() - this.createdAt) / 1000).toFixed(1)} s after the Job was created`);
      }
      this.onLine(line, 'stdout');
    });
    let controller: AbortController | undefined;
    // The end of the attempt ends the stream here: an aborted request does not always end what it was piping into.
    const stop = () => {
      controller?.abort();
      sink.end();
    };
    this.abort.signal.addEventListener('abort', stop);
    try {
      const request = new (kube().Log)(this.cluster.config).log(this.cluster.namespace, pod, container, sink, {
        follow: true,
      });
      // A request that never answers is left behind when the attempt ends.
      controller = await Promise.race([request, ended.then(() => undefined)]);
      if (!controller) {
        void request.then((late) => late.abort()).catch(() => undefined);
        return;
      }
      await ended;
    } finally {
      this.abort.signal.removeEventListener('abort', stop);
      sink.end();
    }
  }

  /**
   * Waits for the pod to meet `ready`, saying what the cluster says meanwhile, and failing at once
   * on what waiting will not mend (an image that cannot be had, a quota that refuses the pod, GPUs
   * no node has); `explain` off for the log follower, which only waits. Undefined when the
   * attempt was killed or is over.
   */
  private async until(ready: (pod: K8s.V1Pod) => boolean, explain = true): Promise<K8s.V1Pod | undefined> {
    let checks = 0;
    for (;;) {
      if (this.killed || this.finished) return undefined;
      const pod = this.executor.watch.pod(this.name);
      if (pod?.spec?.nodeName) this.note(`pod ${pod.metadata?.name ?? '?'} on node ${pod.spec.nodeName}`);
      if (pod && ready(pod)) return pod;
      if (explain && pod) await this.explainPod(pod);
      else if (explain && ++checks % 4 === 1) await this.explainJob();
      await this.executor.watch.changed(pod ? 2000 : 500);
    }
  }

  private async explainPod(pod: K8s.V1Pod): Promise<void> {
    const stage = this.spec.stage;
    const scheduled = pod.status?.conditions?.find((condition) => condition.type === 'PodScheduled');
    if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
      const message = printable(scheduled.message ?? '');
      if (stage.resources.gpus && /nvidia\.com\/gpu/.test(message)) {
        const nodes = await this.executor.gpuNodeCount();
        if (nodes?.withGpus === 0)
          throw new HostError(
            `Unschedulable: 0/${nodes.total} nodes of ${this.where} have nvidia.com/gpu, and stage '${stage.name}' asks for ${stage.resources.gpus} (the scheduler: ${message}); run it on a cluster or node pool with GPUs`,
          );
      }
      this.note(`pending: Unschedulable: ${message}`);
    }
    for (const status of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
      const waiting = status.state?.waiting;
      if (!waiting?.reason || waiting.reason === 'PodInitializing' || waiting.reason === 'ContainerCreating') continue;
      const said = printable(`${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`);
      if (HOPELESS.has(waiting.reason))
        throw new HostError(
          `${this.where}: the pod of stage '${stage.name}' cannot start: ${said} (image ${printable(status.image ?? '?', 200)})${waiting.reason === 'ErrImageNeverPull' ? '; the nodes do not have the image and may not pull it: import it into the nodes or allow pulls (imagePullPolicy)' : ''}`,
        );
      this.note(`pending: ${said}`);
    }
  }

  /** Before a pod exists: Kueue's suspension, or the Job controller's refusal (a quota) from the Job's events. */
  private async explainJob(): Promise<void> {
    const { batch, core, namespace } = this.cluster;
    const job = await deadline(
      batch.readNamespacedJob({ name: this.name, namespace }),
      API_MS,
      'reading the Job',
    ).catch(() => undefined);
    if (job?.spec?.suspend) this.note(`waiting for Kueue to admit the Job (queue ${this.executor.spec.queue ?? '?'})`);
    const failed = job?.status?.conditions?.find(
      (condition) => condition.type === 'Failed' && condition.status === 'True',
    );
    if (failed)
      throw new HostError(
        `${this.where}: the Job of stage '${this.spec.stage.name}' failed before its pod ran: ${printable(`${failed.reason ?? ''}: ${failed.message ?? ''}`)}`,
      );
    const events = await deadline(
      core.listNamespacedEvent({
        namespace,
        fieldSelector: `involvedObject.kind=Job,involvedObject.name=${this.name}`,
      }),
      API_MS,
      'listing events',
    ).catch(() => undefined);
    const refused = (events?.items ?? []).filter((event) => event?.reason === 'FailedCreate').at(-1);
    if (!refused) return;
    const message = printable(refused.message ?? 'FailedCreate');
    // A quota or a policy refuses every try alike; a webhook that timed out may let the next one through.
    if (/exceeded quota|forbidden/i.test(message))
      throw new HostError(
        `${this.where}: the cluster refused to create the pod of stage '${this.spec.stage.name}': ${message}`,
      );
    this.note(`pending: FailedCreate: ${message}`);
  }

  async wait(): Promise<number> {
    const pod = await this.until((current) => {
      const init = containerStatus(current, FETCH_CONTAINER)?.state?.terminated;
      return (
        Boolean(containerStatus(current, STAGE_CONTAINER)?.state?.terminated) ||
        (init !== undefined && init.exitCode !== 0) ||
        current.status?.phase === 'Failed'
      );
    });
    // The last lines: the log stream ends when the container does (bounded, then stopped).
    const drain = pause(pod ? 5000 : 2000);
    await Promise.race([this.logsDone, drain.promise]);
    drain.clear();
    this.finish();
    if (!pod) return 137;
    const stage = containerStatus(pod, STAGE_CONTAINER)?.state?.terminated;
    if (!stage) {
      const init = containerStatus(pod, FETCH_CONTAINER)?.state?.terminated;
      if (init && init.exitCode !== 0)
        throw new HostError(
          `${this.where}: fetching the deps of stage '${this.spec.stage.name}' in its pod failed (exit ${init.exitCode}); the log above says why`,
        );
      throw new HostError(
        `${this.where}: the pod of stage '${this.spec.stage.name}' failed: ${printable(`${pod.status?.reason ?? 'Failed'}${pod.status?.message ? `: ${pod.status.message}` : ''}`)}`,
      );
    }
    if (stage.exitCode === UPLOAD_FAILED && !(await this.report()))
      throw new HostError(
        `${this.where}: stage '${this.spec.stage.name}' succeeded, but its pod could not upload the outputs to remote '${this.staging?.spec.name}'; the log above says why`,
      );
    return stage.exitCode;
  }

  /** Ends the attempt's loops and streams (its Job is removed by `remove`). */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.abort.abort();
    this.executor.watch.poke();
  }

  private async report(): Promise<PodReport | undefined> {
    const chunks: Buffer[] = [];
    const found = await this.staging!.readStaging(`${this.prefix}/report.json`, MAX_REPORT_BYTES, {
      write: (chunk) => chunks.push(chunk),
      restart: () => (chunks.length = 0),
    });
    return found ? parseReport(Buffer.concat(chunks).toString('utf8')) : undefined;
  }

  /** Each output's archive from the staging area into the workspace, its files' sums checked against the pod's. */
  async collectOutputs(): Promise<{ warning?: string }> {
    const report = await this.report();
    if (!report)
      throw new HostError(
        `${this.where}: stage '${this.spec.stage.name}' succeeded, but its pod left no report of its outputs on remote '${this.staging?.spec.name}'`,
      );
    const boundary = new Boundary(this.executor.workspace);
    // On the workspace's disk (where the outputs go), not a memory-backed /tmp.
    const scratch = join(this.executor.workspace, '.mlpipe', 'tmp');
    boundary.makeDirs(scratch);
    const temp = mkdtempSync(join(scratch, 'pod-'));
    try {
      for (const [index, output] of this.spec.stage.outputs.entries()) {
        const reported = report.outputs.find((entry) => entry.path === output.path);
        if (!reported?.present) continue;
        const file = join(temp, `out-${index}.tar`);
        const free = (() => {
          const stats = statfsSync(temp);
          return stats.bavail * stats.bsize;
        })();
        const room = Math.max(0, Math.min(MAX_OUTPUT_BYTES, free - KEEP_FREE_BYTES));
        const fd = openSync(file, 'wx', 0o600);
        let failure: Error | undefined;
        let found: boolean;
        try {
          // Written as it arrives, synchronously: the disk sets the pace, and a full disk is an error, not a crash.
          found = await this.staging!.readStaging(`${this.prefix}/out-${index}.tar`, room, {
            write: (chunk) => {
              if (failure) return;
              try {
                writeSync(fd, chunk);
              } catch (error) {
                failure = error as Error;
              }
            },
            restart: () => undefined,
          });
        } finally {
          closeSync(fd);
        }
        if (failure)
          throw new HostError(
            `${this.where}: could not keep output ${output.path} of stage '${this.spec.stage.name}' while it came back: ${failure.message}`,
          );
        if (!found)
          throw new HostError(
            `${this.where}: the pod reported output ${output.path} of stage '${this.spec.stage.name}', but remote '${this.staging!.spec.name}' does not hold its archive`,
          );
        const sums = await extractInto(createReadStream(file), join(this.executor.workspace, output.path), boundary);
        rmSync(file, { force: true });
        const claimed = new Map(Object.entries(reported.files));
        const names = new Set([...Object.keys(sums), ...claimed.keys()]);
        for (const name of names)
          if (sums[name] !== claimed.get(name))
            throw new HostError(
              `${this.where}: output ${output.path}${name ? `/${printable(name, 200)}` : ''} of stage '${this.spec.stage.name}' came back different from what its pod wrote; rerun the stage`,
            );
      }
    } finally {
      rmSync(temp, { recursive: true, force: true });
    }
    return {};
  }

  kill(): void {
    if (this.killed) return;
    this.killed = true;
    this.abort.abort();
    this.executor.watch.poke();
    if (this.startAttempted) void deleteJob(this.cluster, this.name).catch(() => undefined);
  }

  /** The Job (waiting until its pod is gone), its Secret, network policy and staging files, each on its own. Never throws. */
  async remove(): Promise<void> {
    this.finish();
    const { core, networking, namespace } = this.cluster;
    const quietly = async (step: () => Promise<unknown>) => {
      try {
        await step();
      } catch {
        // Whatever is left is removed by label on the next run (removeOrphans), or expires (the Job's TTL).
      }
    };
    try {
      // Also when the create failed: the server may have made the Job before the answer was lost.
      if (this.startAttempted) {
        await quietly(() => deleteJob(this.cluster, this.name));
        await quietly(() => podsGone(this.cluster, this.name, GONE_WITHIN_MS));
      }
      await quietly(() => deadline(core.deleteNamespacedSecret({ name: this.name, namespace }), API_MS, 'deleting'));
      if (this.policy)
        await quietly(() =>
          deadline(networking.deleteNamespacedNetworkPolicy({ name: this.name, namespace }), API_MS, 'deleting'),
        );
      if (this.staging) await quietly(() => this.staging!.deleteStaging(this.prefix));
    } finally {
      if (!this.released) {
        this.released = true;
        this.executor.watch.release();
      }
    }
  }
}

function containerStatus(pod: K8s.V1Pod, name: string): K8s.V1ContainerStatus | undefined {
  return [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])].find(
    (status) => status?.name === name,
  );
}
