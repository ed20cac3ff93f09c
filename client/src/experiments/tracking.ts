import * as vscode from 'vscode';
import { experimentName, listRunsIn, serverExperiments, type TrackedRunRow } from '../../../core/src/tracking/mlflow';
import { TrackingOutbox, type FlushResult, type TrackingStatus } from '../../../core/src/tracking/outbox';
import { describeFlush, sendRuns, trackingTarget, type TrackingTarget } from '../../../core/src/tracking/sync';
import { redactText } from '../../../core/src/tracking/transfer';
// Runs whose artifacts the server keeps in S3 are written with the remote cache's S3 client (ADR 0018).
import '../../../core/src/remote/mlflow-s3';
import { Cmd } from '../commands/ids';
import { type Ctx } from '../ctx';
import { messageOf } from '../errors';
import { type WorkspaceExperiments } from './source';

/**
 * Logging runs to MLflow from VS Code: each run this window finishes (and each tag change) is
 * queued in the workspace and sent; a server that is down keeps runs queued and they are retried
 * with backoff (every minute at most) until they go. The Experiments view shows the state and
 * lists the runs the server has. A run the server took only in part (no artifact proxy) or not at
 * all is said in a notification too, once per kind of failure, and never called logged.
 */
export class TrackingSync implements vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChange = this.emitter.event;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly disposables: vscode.Disposable[] = [this.emitter];
  /** Failures already shown in a notification this session (without run ids), so a server that is down does not notify at every run. */
  private readonly notified = new Set<string>();

  private readonly log: vscode.LogOutputChannel;

  constructor(
    private readonly ctx: Ctx,
    private readonly source: WorkspaceExperiments,
  ) {
    this.log = ctx.log;
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (event.affectsConfiguration('mlpipe.tracking.uri')) {
          this.emitter.fire();
          void this.retry();
        }
      }),
    );
  }

  /** The configured server, or why the configured one cannot be used. */
  target(): { target?: TrackingTarget; problem?: string } {
    // A workspace's own settings could point the tracking server elsewhere and collect the
    // user's MLflow credentials: nothing is sent from an untrusted workspace.
    if (!this.ctx.trust.trusted) return {};
    return trackingTarget(this.ctx.settings().tracking.uri || undefined);
  }

  get uri(): string | undefined {
    return this.target().target?.uri;
  }

  status(): TrackingStatus & { queued: number } {
    let queued = 0;
    let latest: TrackingStatus = { pending: 0 };
    for (const root of this.source.roots()) {
      const status = new TrackingOutbox(root).status();
      queued += status.pending;
      if (
        (status.lastError?.at ?? '') > (latest.lastError?.at ?? '') ||
        (status.lastSuccess?.at ?? '') > (latest.lastSuccess?.at ?? '')
      )
        latest = status;
    }
    return { ...latest, queued };
  }

  /** Queues runs of a `.mlpipe` folder and sends what is queued there. */
  async send(root: string, ids: string[]): Promise<void> {
    const { target, problem } = this.target();
    if (problem) this.log.warn(problem);
    if (!target) return;
    try {
      const result = await sendRuns(root, target, ids, { force: false });
      this.report(result, target.uri);
    } catch (error) {
      this.log.error(redactText(`MLflow: ${messageOf(error)}`));
    }
    this.emitter.fire();
    this.schedule();
  }

  /** Sends whatever waits in every store (at start, on a setting change, on the retry timer). */
  async retry(force = false): Promise<void> {
    const { target } = this.target();
    if (!target) return;
    for (const root of this.source.roots()) {
      if (new TrackingOutbox(root).pending().length === 0) continue;
      const result = await sendRuns(root, target, [], { force }).catch((error: unknown) => {
        this.log.error(redactText(`MLflow: ${messageOf(error)}`));
        return undefined;
      });
      if (result && (result.sent.length > 0 || result.failed.length > 0)) this.report(result, target.uri);
    }
    this.emitter.fire();
    this.schedule();
  }

  /** Logs what a flush did, and shows a partial or failed send where the user looks. */
  private report(result: FlushResult, uri: string): void {
    const line = describeFlush(result, uri);
    if (result.failed.length === 0) {
      this.log.info(line);
      if (result.sent.length > 0) this.notified.clear();
      return;
    }
    this.log.warn(line);
    const failure = result.failed.find((one) => one.partial) ?? result.failed[0]!;
    const kind = failure.error
      .replace(/\b\d{8}-\d{6}-\d{3}-[0-9a-f]{4}\b/g, 'RUN')
      .replace(/\(MLflow run [0-9a-f]+\)/g, '');
    if (this.notified.has(kind)) return;
    this.notified.add(kind);
    const runs = result.failed.length === 1 ? `run ${failure.runId}` : `${result.failed.length} runs`;
    const text = failure.partial
      ? `MLPipe: ${runs} went to MLflow only in part (PARTIAL): ${failure.error}. It stays queued in .mlpipe/tracking/outbox and is sent again.`
      : `MLPipe: could not log ${runs} to MLflow: ${failure.error}. ${result.failed.length === 1 ? 'It stays' : 'They stay'} queued and ${result.failed.length === 1 ? 'is' : 'are'} sent again.`;
    void vscode.window.showWarningMessage(text, 'Sync Now', 'Show Output').then((choice) => {
      if (choice === 'Sync Now') void vscode.commands.executeCommand(Cmd.syncRuns);
      else if (choice === 'Show Output') this.log.show();
    });
  }

  private schedule(): void {
    const waiting = this.status().queued > 0;
    if (waiting && !this.timer) this.timer = setInterval(() => void this.retry(), 60_000);
    if (!waiting && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /**
   * The runs the server holds, newest first, per experiment: the workspace's pipelines first, then
   * every other experiment of the server (runs MLflow's own clients logged), up to 30 experiments.
   */
  async remoteRuns(): Promise<{ experiment: string; own: boolean; rows: TrackedRunRow[] }[]> {
    const { target } = this.target();
    if (!target) return [];
    const names = [
      ...new Set(
        this.source
          .storedRuns()
          .map(({ run }) => experimentName({ name: run.summary.name, pipeline: run.summary.pipeline })),
      ),
    ];
    const experiments = await serverExperiments(target.client, names);
    return Promise.all(
      experiments.map(async (experiment) => ({
        experiment: experiment.name,
        own: experiment.own,
        rows: await listRunsIn(target.client, [experiment.experimentId], { maxResults: 200 }),
      })),
    );
  }

  dispose(): void {
    if (this.timer) clearInterval(this.timer);
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }
}
