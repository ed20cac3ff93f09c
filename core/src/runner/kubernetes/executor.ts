import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import { kube, type K8s } from './client-node';
import Docker from 'dockerode';
import { type UserError } from '../../errors';
import { podStaging, type PodStaging, type RemoteBackend } from '../../remote/backend';
import { type RemoteCache } from '../../remote/sync';
import { machineId } from '../../runs/machine';
import { Boundary } from '../../util/boundary';
import { extractInto, listFiles } from '../archive';
import { dockerFor, localAddress } from '../engine';
import { HostError, reason, type AttemptSpec, type Executor, type StageExecution } from '../executor';
import { type PlannedStage } from '../plan';
import { clusterError, connectCluster, notFound, type Cluster } from './cluster';
import {
  FETCH_CONTAINER,
  jobManifest,
  jobName,
  KUBE_LABELS,
  labelsFor,
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
/** The most an output's archive or the pod's report may be (a report is a few KB per output file). */
const MAX_OUTPUT_BYTES = 1024 ** 4;
const MAX_REPORT_BYTES = 64 * 1024 * 1024;
/** How long cancel and cleanup wait for a Job's pods to be gone. */
const GONE_WITHIN_MS = 60_000;

interface PodReport {
  version: 1;
  exitCode: number;
  outputs: { path: string; present: boolean; files?: Record<string, string> }[];
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
  /** Image digests and entrypoints, as the local engine knows them, per image. */
  private readonly images = new Map<string, Promise<{ digest?: string; entrypoint: string[] }>>();
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

  private get where(): string {
    return `host '${this.host}' (${this.cluster.shown})`;
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
   * The cluster pulls the image itself when the stage runs.
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

  private inspect(image: string): Promise<{ digest?: string; entrypoint: string[] }> {
    let known = this.images.get(image);
    if (!known) {
      known = (async () => {
        const pinned = /@(sha256:[0-9a-f]{64})$/.exec(image)?.[1];
        try {
          const docker: Docker = dockerFor(
            { name: 'local', address: localAddress(), sharesFiles: true },
            this.workspace,
          );
          const info = await docker.getImage(image).inspect();
          const entrypoint = info.Config?.Entrypoint;
          return {
            digest: pinned ?? info.Id,
            entrypoint: Array.isArray(entrypoint) ? entrypoint : typeof entrypoint === 'string' ? [entrypoint] : [],
          };
        } catch {
          return { ...(pinned ? { digest: pinned } : {}), entrypoint: [] };
        }
      })();
      this.images.set(image, known);
    }
    return known;
  }

  /** Removes Jobs and Secrets this machine's killed runs of this workspace left (found by label). */
  async removeOrphans(liveRuns: ReadonlySet<string>): Promise<void> {
    this.liveRuns = liveRuns;
    const { batch, core, namespace } = this.cluster;
    const selector = `${KUBE_LABELS.workspace}=${workspaceLabel(this.workspace)},${KUBE_LABELS.machine}=${this.machine}`;
    const dead = (labels: Record<string, string> | undefined) =>
      labels?.[KUBE_LABELS.machine] === this.machine &&
      labels?.[KUBE_LABELS.workspace] === workspaceLabel(this.workspace) &&
      !liveRuns.has(labels[KUBE_LABELS.run] ?? '');
    const jobs = await batch.listNamespacedJob({ namespace, labelSelector: selector }).catch(() => undefined);
    const secrets = await core.listNamespacedSecret({ namespace, labelSelector: selector }).catch(() => undefined);
    const removed = (jobs?.items ?? []).filter((job) => dead(job.metadata?.labels)).map((job) => job.metadata!.name!);
    await Promise.all(removed.map((name) => deleteJob(this.cluster, name)));
    await Promise.all(
      (secrets?.items ?? [])
        .filter((secret) => dead(secret.metadata?.labels))
        .map((secret) =>
          core.deleteNamespacedSecret({ name: secret.metadata!.name!, namespace }).catch(() => undefined),
        ),
    );
    await Promise.all(removed.map((name) => podsGone(this.cluster, name, GONE_WITHIN_MS)));
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
      // What killed runs of this machine left in the staging area.
      const runs = await staging.listStagingRuns().catch(() => []);
      for (const run of runs.filter((name) => name.startsWith(`${this.machine}-`)))
        if (!this.liveRuns.has(run.slice(this.machine.length + 1)))
          await staging.deleteStaging(run).catch(() => undefined);
    }
    return staging;
  }

  create(attempt: AttemptSpec): Promise<StageExecution> {
    return Promise.resolve(new KubernetesExecution(this, attempt));
  }

  /** Whether the API server still answers; a stage's own failure is not the cluster's. */
  async lost(): Promise<UserError | undefined> {
    try {
      await this.cluster.batch.listNamespacedJob({ namespace: this.cluster.namespace, limit: 1 });
      return undefined;
    } catch (error) {
      return new HostError(
        `lost the cluster of ${this.where} while the stage ran (${reason(clusterError(this.where, 'asking', error, this.cluster.config))}); rerun when it is back`,
      );
    }
  }

  /** How many nodes could give a GPU at all, of how many; undefined when the credentials may not list nodes. */
  gpuNodeCount(): Promise<{ withGpus: number; total: number } | undefined> {
    this.gpuNodes ??= this.cluster.core
      .listNode()
      .then((nodes) => ({
        withGpus: nodes.items.filter((node) => Number(node.status?.allocatable?.['nvidia.com/gpu'] ?? 0) > 0).length,
        total: nodes.items.length,
      }))
      .catch(() => undefined);
    return this.gpuNodes;
  }

  entrypoint(image: string): Promise<string[]> {
    return this.inspect(image).then((known) => known.entrypoint);
  }
}

function deleteJob(cluster: Cluster, name: string): Promise<unknown> {
  return cluster.batch
    .deleteNamespacedJob({
      name,
      namespace: cluster.namespace,
      propagationPolicy: 'Foreground',
      gracePeriodSeconds: 0,
    })
    .catch((error: unknown) => (notFound(error) ? undefined : Promise.reject(error)));
}

/** Waits until no pod of the Job is left (deleting them outright after the Job's own deletion); false if some remain. */
async function podsGone(cluster: Cluster, job: string, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  let pushed = false;
  for (;;) {
    const pods = await cluster.core
      .listNamespacedPod({ namespace: cluster.namespace, labelSelector: `job-name=${job}` })
      .catch(() => undefined);
    if (pods && pods.items.length === 0) return true;
    if (Date.now() > deadline) return false;
    if (pods && !pushed) {
      pushed = true;
      await Promise.all(
        pods.items.map((pod) =>
          cluster.core
            .deleteNamespacedPod({ name: pod.metadata!.name!, namespace: cluster.namespace, gracePeriodSeconds: 0 })
            .catch(() => undefined),
        ),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** One attempt: its Secret, its Job, its pod's logs and exit, its outputs back through the remote. */
class KubernetesExecution implements StageExecution {
  private readonly name: string;
  private readonly labels: Record<string, string>;
  private readonly prefix: string;
  private staging: (RemoteBackend & PodStaging) | undefined;
  private killed = false;
  private createdAt = 0;
  private created = false;
  private logsDone: Promise<void> | undefined;
  private readonly seen = new Set<string>();
  private onLine: (line: string, stream: 'stdout' | 'stderr') => void = () => undefined;
  private readonly watching: boolean;
  private readonly abort = new AbortController();

  constructor(
    private readonly executor: KubernetesExecutor,
    private readonly spec: AttemptSpec,
  ) {
    const { stage, runId } = spec;
    this.name = jobName(executor.workspace, runId, stage.name, spec.attempt ?? 1);
    this.labels = labelsFor(executor.workspace, machineId(), runId, stage.name);
    this.prefix = `${machineId()}-${runId}/${this.name}`;
    executor.watch.acquire();
    this.watching = true;
  }

  private get cluster(): Cluster {
    return this.executor.cluster;
  }

  private get where(): string {
    return `host '${this.executor.host}'`;
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
    try {
      await this.cluster.core.createNamespacedSecret({
        namespace: this.cluster.namespace,
        body: secretManifest({ name: this.name, namespace: this.cluster.namespace, labels: this.labels }, url),
      });
    } catch (error) {
      throw clusterError(this.where, `creating the Secret ${this.name}`, error, this.cluster.config);
    }
  }

  async start(): Promise<void> {
    if (this.killed) return;
    const stage = this.spec.stage;
    const entrypoint = await this.executor.entrypoint(stage.image);
    const body = jobManifest({
      name: this.name,
      namespace: this.cluster.namespace,
      host: this.executor.spec,
      hostName: this.executor.host,
      stage,
      argv: [...entrypoint, ...stage.command.argv],
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
    try {
      await this.cluster.batch.createNamespacedJob({ namespace: this.cluster.namespace, body });
      this.created = true;
      this.createdAt = Date.now();
    } catch (error) {
      throw clusterError(this.where, `creating the Job ${this.name}`, error, this.cluster.config);
    }
  }

  async followLogs(onLine: (line: string, stream: 'stdout' | 'stderr') => void): Promise<void> {
    this.onLine = onLine;
    this.logsDone = this.follow().catch((error: unknown) => {
      if (!this.killed) onLine(`mlpipe: the log stream broke: ${reason(error)}`, 'stderr');
    });
  }

  /** Says once what the cluster says while the pod waits. */
  private note(text: string): void {
    if (this.seen.has(text)) return;
    this.seen.add(text);
    this.onLine(`mlpipe: ${text}`, 'stderr');
  }

  /** The init container's then the stage container's log, each from when it starts until it ends. */
  private async follow(): Promise<void> {
    for (const container of [FETCH_CONTAINER, STAGE_CONTAINER]) {
      const pod = await this.until((current) => {
        const status = containerStatus(current, container);
        return Boolean(status?.state?.running || status?.state?.terminated);
      });
      if (!pod || this.killed) return;
      await this.stream(pod.metadata!.name!, container);
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
    // A cancel ends the stream here: an aborted request does not always end what it was piping into.
    const stop = () => {
      controller?.abort();
      sink.end();
    };
    this.abort.signal.addEventListener('abort', stop);
    try {
      controller = await new (kube().Log)(this.cluster.config).log(this.cluster.namespace, pod, container, sink, {
        follow: true,
      });
      await ended;
    } finally {
      this.abort.signal.removeEventListener('abort', stop);
      sink.end();
    }
  }

  /**
   * Waits for the pod to meet `ready`, saying what the cluster says meanwhile, and failing at once
   * on what waiting will not mend (an image that cannot be had, a quota that refuses the pod, GPUs
   * no node has). Undefined when the attempt was killed.
   */
  private async until(ready: (pod: K8s.V1Pod) => boolean): Promise<K8s.V1Pod | undefined> {
    let checks = 0;
    for (;;) {
      if (this.killed) return undefined;
      const pod = this.executor.watch.pod(this.name);
      if (pod?.spec?.nodeName) this.note(`pod ${pod.metadata?.name} on node ${pod.spec.nodeName}`);
      if (pod && ready(pod)) return pod;
      if (pod) await this.explainPod(pod);
      else if (++checks % 4 === 1) await this.explainJob();
      await this.executor.watch.changed(pod ? 2000 : 500);
    }
  }

  private async explainPod(pod: K8s.V1Pod): Promise<void> {
    const stage = this.spec.stage;
    const scheduled = pod.status?.conditions?.find((condition) => condition.type === 'PodScheduled');
    if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
      const message = scheduled.message ?? '';
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
      if (HOPELESS.has(waiting.reason))
        throw new HostError(
          `${this.where}: the pod of stage '${stage.name}' cannot start: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''} (image ${status.image})${waiting.reason === 'ErrImageNeverPull' ? '; the nodes do not have the image and may not pull it: import it into the nodes or allow pulls (imagePullPolicy)' : ''}`,
        );
      this.note(`pending: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`);
    }
  }

  /** Before a pod exists: Kueue's suspension, or the Job controller's refusal (a quota) from the Job's events. */
  private async explainJob(): Promise<void> {
    const { batch, core, namespace } = this.cluster;
    const job = await batch.readNamespacedJob({ name: this.name, namespace }).catch(() => undefined);
    if (job?.spec?.suspend) this.note(`waiting for Kueue to admit the Job (queue ${this.executor.spec.queue ?? '?'})`);
    const failed = job?.status?.conditions?.find(
      (condition) => condition.type === 'Failed' && condition.status === 'True',
    );
    if (failed)
      throw new HostError(
        `${this.where}: the Job of stage '${this.spec.stage.name}' failed before its pod ran: ${failed.reason}: ${failed.message ?? ''}`,
      );
    const events = await core
      .listNamespacedEvent({ namespace, fieldSelector: `involvedObject.kind=Job,involvedObject.name=${this.name}` })
      .catch(() => undefined);
    const refused = events?.items.filter((event) => event.reason === 'FailedCreate').at(-1);
    if (refused)
      throw new HostError(
        `${this.where}: the cluster refused to create the pod of stage '${this.spec.stage.name}': ${refused.message ?? 'FailedCreate'}`,
      );
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
    if (!pod) {
      await Promise.race([this.logsDone, new Promise((resolve) => setTimeout(resolve, 2000))]);
      return 137;
    }
    // The last lines: the log stream ends when the container does.
    await Promise.race([this.logsDone, new Promise((resolve) => setTimeout(resolve, 5000))]);
    const stage = containerStatus(pod, STAGE_CONTAINER)?.state?.terminated;
    if (!stage) {
      const init = containerStatus(pod, FETCH_CONTAINER)?.state?.terminated;
      if (init && init.exitCode !== 0)
        throw new HostError(
          `${this.where}: fetching the deps of stage '${this.spec.stage.name}' in its pod failed (exit ${init.exitCode}); the log above says why`,
        );
      throw new HostError(
        `${this.where}: the pod of stage '${this.spec.stage.name}' failed: ${pod.status?.reason ?? 'Failed'}${pod.status?.message ? `: ${pod.status.message}` : ''}`,
      );
    }
    if (stage.exitCode === UPLOAD_FAILED && !(await this.report()))
      throw new HostError(
        `${this.where}: stage '${this.spec.stage.name}' succeeded, but its pod could not upload the outputs to remote '${this.staging?.spec.name}'; the log above says why`,
      );
    return stage.exitCode;
  }

  private async report(): Promise<PodReport | undefined> {
    const chunks: Buffer[] = [];
    const found = await this.staging!.readStaging(
      `${this.prefix}/report.json`,
      MAX_REPORT_BYTES,
      { write: (chunk) => chunks.push(chunk), restart: () => (chunks.length = 0) },
      this.abort.signal,
    );
    if (!found) return undefined;
    try {
      const report = JSON.parse(Buffer.concat(chunks).toString('utf8')) as PodReport;
      if (report.version !== 1 || !Array.isArray(report.outputs)) return undefined;
      return report;
    } catch {
      return undefined;
    }
  }

  /** Each output's archive from the staging area into the workspace, its files' sums checked against the pod's. */
  async collectOutputs(): Promise<{ warning?: string }> {
    const report = await this.report();
    if (!report)
      throw new HostError(
        `${this.where}: stage '${this.spec.stage.name}' succeeded, but its pod left no report of its outputs on remote '${this.staging?.spec.name}'`,
      );
    const boundary = new Boundary(this.executor.workspace);
    const temp = mkdtempSync(join(tmpdir(), 'mlpipe-pod-'));
    try {
      for (const [index, output] of this.spec.stage.outputs.entries()) {
        const reported = report.outputs.find((entry) => entry.path === output.path);
        if (!reported?.present) continue;
        const file = join(temp, `out-${index}.tar`);
        const out = createWriteStream(file);
        let written = 0;
        const found = await this.staging!.readStaging(
          `${this.prefix}/out-${index}.tar`,
          MAX_OUTPUT_BYTES,
          {
            write: (chunk) => {
              written += chunk.length;
              out.write(chunk);
            },
            restart: () => undefined,
          },
          this.abort.signal,
        );
        await new Promise<void>((resolve, reject) => out.end(() => resolve()).on('error', reject));
        if (!found)
          throw new HostError(
            `${this.where}: the pod reported output ${output.path} of stage '${this.spec.stage.name}', but remote '${this.staging!.spec.name}' does not hold its archive`,
          );
        const sums = await extractInto(createReadStream(file), join(this.executor.workspace, output.path), boundary);
        const claimed = reported.files ?? {};
        const names = new Set([...Object.keys(sums), ...Object.keys(claimed)]);
        for (const name of names)
          if (sums[name] !== claimed[name])
            throw new HostError(
              `${this.where}: output ${output.path}${name ? `/${name}` : ''} of stage '${this.spec.stage.name}' came back different from what its pod wrote (${written} bytes received); rerun the stage`,
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
    if (this.created) void deleteJob(this.cluster, this.name).catch(() => undefined);
  }

  /** The Job (waiting until its pod is gone), its Secret and its staging files. Never throws. */
  async remove(): Promise<void> {
    const { core, namespace } = this.cluster;
    try {
      if (this.created) {
        await deleteJob(this.cluster, this.name).catch(() => undefined);
        await podsGone(this.cluster, this.name, GONE_WITHIN_MS);
      }
      await core.deleteNamespacedSecret({ name: this.name, namespace }).catch(() => undefined);
      await this.staging?.deleteStaging(this.prefix).catch(() => undefined);
    } finally {
      if (this.watching) this.executor.watch.release();
    }
  }
}

function containerStatus(pod: K8s.V1Pod, name: string): K8s.V1ContainerStatus | undefined {
  return [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])].find(
    (status) => status.name === name,
  );
}
