import { createHash } from 'node:crypto';
import { type K8s } from './client-node';
import { CONTAINER_WORKSPACE } from '../container';
import { HostError } from '../executor';
import { type PlannedStage } from '../plan';
import { DEFAULT_HELPER_IMAGE, type KubernetesHost } from './spec';

/*
 * What mlpipe sends a cluster for one attempt of a stage: a Secret holding one signed URL (where
 * the pod reads its manifest of deps and outputs) and a batch/v1 Job of one pod. The pod's init
 * container (mlpipe's helper image) fetches the deps by digest into an emptyDir at /workspace and
 * copies the helper binary beside them; the stage's container runs the command under that binary,
 * which uploads the declared outputs afterwards (docs/adr/0015-kubernetes-executor.md).
 */

/** Labels on every Job, pod and Secret mlpipe creates, so that they can always be found and removed. */
export const KUBE_LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  workspace: 'mlpipe.dev/workspace',
  machine: 'mlpipe.dev/machine',
  run: 'mlpipe.dev/run',
  stage: 'mlpipe.dev/stage',
} as const;

/** Kueue's label naming the LocalQueue a Job goes to. */
export const KUEUE_QUEUE_LABEL = 'kueue.x-k8s.io/queue-name';

/** The stage's container (the init container is `fetch`). */
export const STAGE_CONTAINER = 'stage';
export const FETCH_CONTAINER = 'fetch';
/** Where the helper binary and its manifest live in the pod, and where the Secret is mounted. */
const HELPER_DIR = '/mlpipe/bin';
const SECRET_DIR = '/mlpipe/secret';
/** The helper's exit code when the command succeeded but its outputs could not be uploaded. */
export const UPLOAD_FAILED = 121;

/** A workspace's label value: its path is neither short nor label-safe, its hash is both. */
export function workspaceLabel(workspace: string): string {
  return createHash('sha256').update(workspace).digest('hex').slice(0, 16);
}

/** Text made fit for a Kubernetes name or label value: lowercase letters, digits and '-', at most `max` characters. */
export function slug(text: string, max: number): string {
  const clean = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, max)
    .replace(/-+$/, '');
  return clean || 'x';
}

/** One attempt's Job (and Secret) name: unique per workspace, run, stage instance and attempt; at most 63 characters. */
export function jobName(workspace: string, runId: string, stage: string, attempt: number): string {
  const hash = createHash('sha256').update(`${workspace}\0${runId}\0${stage}\0${attempt}`).digest('hex').slice(0, 10);
  return `mlpipe-${slug(stage, 36)}-${hash}-${attempt}`;
}

export interface JobInput {
  name: string;
  namespace: string;
  host: KubernetesHost;
  hostName: string;
  stage: PlannedStage;
  /** The command as run: the image's entrypoint (as the local engine knows it) and the stage's argv. */
  argv: string[];
  /** The image as the pod pulls it: pinned by digest where the local engine knows the repository's digest. */
  image?: string;
  env: Record<string, string>;
  labels: Record<string, string>;
}

export function labelsFor(workspace: string, machine: string, runId: string, stage: string): Record<string, string> {
  return {
    [KUBE_LABELS.managedBy]: 'mlpipe',
    [KUBE_LABELS.workspace]: workspaceLabel(workspace),
    [KUBE_LABELS.machine]: machine.slice(0, 63),
    [KUBE_LABELS.run]: runId,
    [KUBE_LABELS.stage]: slug(stage, 63),
  };
}

/** Bytes as a Kubernetes quantity (exact, in bytes). */
function quantity(bytes: number): string {
  return String(Math.ceil(bytes));
}

/** The Secret of one attempt: the signed URL of its manifest, which is never in the Job, its labels or a log. */
export function secretManifest(
  input: Pick<JobInput, 'name' | 'namespace' | 'labels'>,
  manifestUrl: string,
): K8s.V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: input.name, namespace: input.namespace, labels: input.labels },
    type: 'Opaque',
    stringData: { 'manifest-url': manifestUrl },
  };
}

/** The Job of one attempt; throws a HostError for what a cluster cannot give the stage. */
export function jobManifest(input: JobInput): K8s.V1Job {
  const { host, stage } = input;
  const resources = stage.resources;
  if (resources.gpus === 'all')
    throw new HostError(
      `stage '${stage.name}' asks for all GPUs; on host '${input.hostName}' (a cluster) ask for a number of GPUs (resources.gpus: 1)`,
    );
  if (stage.network === 'host')
    throw new HostError(
      `stage '${stage.name}' uses network: host, which a cluster's pods do not get; use network: bridge for host '${input.hostName}'`,
    );
  const limits: Record<string, string> = {};
  const requests: Record<string, string> = {};
  if (resources.cpus) limits.cpu = requests.cpu = `${Math.round(resources.cpus * 1000)}m`;
  if (resources.memoryBytes) limits.memory = requests.memory = quantity(resources.memoryBytes);
  if (resources.gpus) limits['nvidia.com/gpu'] = String(resources.gpus);
  const nodeSelector = {
    ...host.nodeSelector,
    ...(resources.gpus && host.gpuType ? { 'nvidia.com/gpu.product': host.gpuType } : {}),
  };
  const pull = host.imagePullPolicy ?? 'IfNotPresent';
  const workdir = stage.workdir ? `${CONTAINER_WORKSPACE}/${stage.workdir}` : CONTAINER_WORKSPACE;
  const mounts = [
    { name: 'workspace', mountPath: CONTAINER_WORKSPACE },
    { name: 'mlpipe-bin', mountPath: HELPER_DIR },
  ];
  const hardened = { allowPrivilegeEscalation: false };
  const labels = { ...input.labels, ...(host.queue ? { [KUEUE_QUEUE_LABEL]: host.queue } : {}) };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: input.name,
      namespace: input.namespace,
      labels,
      annotations: { 'mlpipe.dev/stage-name': stage.name },
    },
    spec: {
      // One attempt per Job: the runner retries (a new Job, with fresh URLs), so every attempt is in the record and the log.
      backoffLimit: 0,
      ...(stage.timeoutMs ? { activeDeadlineSeconds: Math.ceil(stage.timeoutMs / 1000) + 60 } : {}),
      // A Job a killed runner left behind goes away on its own too (the next run removes it sooner).
      ttlSecondsAfterFinished: 3600,
      ...(host.queue ? { suspend: true } : {}),
      template: {
        metadata: { labels: input.labels, annotations: { 'mlpipe.dev/stage-name': stage.name } },
        spec: {
          restartPolicy: 'Never',
          enableServiceLinks: false,
          automountServiceAccountToken: Boolean(host.serviceAccount),
          ...(host.serviceAccount ? { serviceAccountName: host.serviceAccount } : {}),
          ...(Object.keys(nodeSelector).length > 0 ? { nodeSelector } : {}),
          ...(host.tolerations ? { tolerations: host.tolerations } : {}),
          ...(host.imagePullSecrets ? { imagePullSecrets: host.imagePullSecrets.map((name) => ({ name })) } : {}),
          ...(host.priorityClass ? { priorityClassName: host.priorityClass } : {}),
          // The container runtime's default seccomp profile, as Docker applies its own (Kubernetes' default is none).
          securityContext: {
            seccompProfile: { type: 'RuntimeDefault' },
            ...(host.runAsUser !== undefined ? { runAsUser: host.runAsUser, runAsNonRoot: host.runAsUser !== 0 } : {}),
          },
          volumes: [
            { name: 'workspace', emptyDir: {} },
            { name: 'mlpipe-bin', emptyDir: {} },
            { name: 'mlpipe-secret', secret: { secretName: input.name, defaultMode: 0o444 } },
            ...(resources.shmBytes
              ? [{ name: 'dshm', emptyDir: { medium: 'Memory', sizeLimit: quantity(resources.shmBytes) } }]
              : []),
          ],
          initContainers: [
            {
              name: FETCH_CONTAINER,
              image: host.helperImage ?? DEFAULT_HELPER_IMAGE,
              imagePullPolicy: pull,
              command: ['/mlpipe-pod', 'fetch'],
              volumeMounts: [...mounts, { name: 'mlpipe-secret', mountPath: SECRET_DIR, readOnly: true }],
              securityContext: hardened,
            },
          ],
          containers: [
            {
              name: STAGE_CONTAINER,
              image: input.image ?? stage.image,
              imagePullPolicy: pull,
              command: [`${HELPER_DIR}/mlpipe-pod`, 'run', '--', ...input.argv],
              workingDir: workdir,
              env: Object.entries(input.env).map(([name, value]) => ({ name, value })),
              ...(Object.keys(limits).length > 0 ? { resources: { limits, requests } } : {}),
              volumeMounts: [...mounts, ...(resources.shmBytes ? [{ name: 'dshm', mountPath: '/dev/shm' }] : [])],
              securityContext: hardened,
            },
          ],
        },
      },
    },
  };
}

/**
 * `network: none` on a cluster: egress limited to DNS and the remote's S3 endpoint, which the pod
 * needs for its data (a NetworkPolicy; enforced where the cluster's network plugin implements them).
 */
export function networkPolicyManifest(
  input: Pick<JobInput, 'name' | 'namespace' | 'labels'>,
  endpoint: string | undefined,
): K8s.V1NetworkPolicy {
  let to: K8s.V1NetworkPolicyPeer[] | undefined;
  let port = 443;
  if (endpoint) {
    const url = new URL(endpoint);
    port = Number(url.port || (url.protocol === 'http:' ? 80 : 443));
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) to = [{ ipBlock: { cidr: `${host}/32` } }];
  }
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: input.name, namespace: input.namespace, labels: input.labels },
    spec: {
      podSelector: { matchLabels: { 'batch.kubernetes.io/job-name': input.name } },
      policyTypes: ['Egress'],
      egress: [
        {
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
          ],
        },
        { ...(to ? { to } : {}), ports: [{ protocol: 'TCP', port }] },
      ],
    },
  };
}
