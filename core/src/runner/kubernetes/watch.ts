import { kube, type K8s } from './client-node';
import { deadline } from './cluster';
import { KUBE_LABELS } from './job';

/**
 * The pods of this machine's stages in one namespace, kept current by one watch (restarted with a
 * fresh list when the server ends it), so that every attempt learns of its pod's changes at once
 * without asking the API server in a loop. `changed` also wakes every two seconds, so that a watch
 * that silently stalls costs latency, never a hang.
 */
export class PodWatch {
  private readonly pods = new Map<string, K8s.V1Pod>();
  private waiters: (() => void)[] = [];
  private controller: AbortController | undefined;
  private closed = false;
  private users = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Bumped by every release: a watch that a start awaiting the server opens for an older generation is closed at once. */
  private generation = 0;

  constructor(
    private readonly config: K8s.KubeConfig,
    private readonly core: K8s.CoreV1Api,
    private readonly namespace: string,
    private readonly machine: string,
  ) {}

  /** The pod of a Job (the latest one, if the Job made more than one). */
  pod(job: string): K8s.V1Pod | undefined {
    return this.pods.get(job);
  }

  /** Resolves at the next change of any watched pod, or after `ms`. */
  changed(ms = 2000): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(done);
    });
  }

  /** Counts a user; the watch runs while anyone uses it. */
  acquire(): void {
    this.users++;
    if (this.users === 1) {
      this.closed = false;
      void this.start();
    }
  }

  release(): void {
    this.users = Math.max(0, this.users - 1);
    if (this.users > 0) return;
    this.closed = true;
    this.generation++;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.controller?.abort();
    this.controller = undefined;
  }

  /** Asks the API now (a list), for when a change may have been missed. */
  async refresh(): Promise<void> {
    const selector = `${KUBE_LABELS.machine}=${this.machine}`;
    const list = await deadline(
      this.core.listNamespacedPod({ namespace: this.namespace, labelSelector: selector }),
      30_000,
      'listing pods',
    );
    for (const pod of list?.items ?? []) this.store(pod);
    this.poke();
  }

  private store(pod: K8s.V1Pod): void {
    const job = pod.metadata?.labels?.['job-name'] ?? pod.metadata?.labels?.['batch.kubernetes.io/job-name'];
    if (!job) return;
    const known = this.pods.get(job);
    // A Job with backoffLimit 0 has one pod; a newer one (created later) wins if it ever had two.
    if (known && known.metadata?.uid !== pod.metadata?.uid) {
      const a = known.metadata?.creationTimestamp ? new Date(known.metadata.creationTimestamp).getTime() : 0;
      const b = pod.metadata?.creationTimestamp ? new Date(pod.metadata.creationTimestamp).getTime() : 0;
      if (b < a) return;
    }
    this.pods.set(job, pod);
  }

  /** Wakes every `changed` now (a cancel). */
  poke(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }

  private async start(): Promise<void> {
    if (this.closed) return;
    const generation = this.generation;
    const current = () => !this.closed && generation === this.generation;
    const restart = () => {
      if (!current()) return;
      this.restartTimer = setTimeout(() => void this.start(), 500);
      this.restartTimer.unref();
    };
    try {
      await this.refresh();
      if (!current()) return;
      const watch = new (kube().Watch)(this.config);
      const controller = await watch.watch(
        `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/pods`,
        { labelSelector: `${KUBE_LABELS.machine}=${this.machine}`, allowWatchBookmarks: false },
        (type, object: K8s.V1Pod) => {
          if (type === 'DELETED') {
            const job =
              object.metadata?.labels?.['job-name'] ?? object.metadata?.labels?.['batch.kubernetes.io/job-name'];
            if (job && this.pods.get(job)?.metadata?.uid === object.metadata?.uid) this.pods.delete(job);
          } else if (type === 'ADDED' || type === 'MODIFIED') this.store(object);
          this.poke();
        },
        () => restart(),
      );
      if (current()) this.controller = controller;
      else controller.abort();
    } catch {
      restart();
    }
  }
}
