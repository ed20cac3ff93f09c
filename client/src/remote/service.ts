import * as vscode from 'vscode';
import { type RemoteConfig } from '../../../core/src/remote/spec';
import { type PushSummary, RemoteCache, type RemoteCacheOptions } from '../../../core/src/remote/sync';
import { cacheStatus, pushRuns, requireRemoteCache } from '../../../core/src/runner/remote-cache';
import { type RunOptions } from '../../../core/src/runner/context';
import { Runner } from '../../../core/src/runner/runner';
import { formatBytes } from '../../../core/src/runner/stage-run';
import { mlpipeRootOf, type RunRecord } from '../../../core/src/runs/records';
import { Cmd } from '../commands/ids';
import { type Ctx } from '../ctx';
import { logTextOf, messageOf } from '../errors';
import { findPipelines } from '../pipelines/find';
import { remoteCredentials } from './credentials';
import { RemoteStates } from './run-states';
import { TransferStatus, withTransfer, type TransferOptions } from './transfers';

/** Stage statuses whose cache entries a push sends (core/src/runner/remote-cache.ts pushes the same). */
const FINISHED = new Set(['succeeded', 'skipped', 'restored']);

/** A run's remote side: what RunOptions.remote gets, and what happens when the run is over. */
export interface RemoteRunSession {
  options: NonNullable<RunOptions['remote']>;
  end(record: RunRecord | undefined): void;
}

/** What the run controller asks of the team cache (client/src/run-controller.ts). */
export interface RunRemote {
  begin(runner: Runner, pipeline: vscode.Uri): Promise<RemoteRunSession>;
}

/** A transfer the user cancelled from its notification. */
export class TransferCancelled extends Error {
  constructor() {
    super('cancelled');
  }
}

/**
 * `mlpipe.remote.pushAfterRun` for a pipeline. Read here, not through Ctx.settings, until core's
 * MlpipeSettings (core/src/settings.ts) carries it.
 */
export function pushSummaryText(summary: PushSummary, runs: number): string {
  return `pushed ${runs === 1 ? '1 run' : `${runs} runs`} to remote '${summary.remote}': ${summary.objectsUploaded} objects (${formatBytes(summary.bytesUploaded)}) uploaded, ${summary.objectsPresent} already there`;
}

/**
 * The team cache remotes from VS Code: the stored credentials, the transfers' status bar, the
 * remote state of each `.mlpipe` folder's runs for the Experiments view, and the push after a run.
 * Nothing here contacts a remote in an untrusted workspace.
 */
export class RemoteService implements RunRemote, vscode.Disposable {
  readonly transfers = new TransferStatus();
  readonly states = new RemoteStates();
  private readonly emitter = new vscode.EventEmitter<void>();
  /** The remote states changed. */
  readonly onDidChange = this.emitter.event;
  private checking: Promise<void> | undefined;

  constructor(private readonly ctx: Ctx) {}

  dispose(): void {
    this.transfers.dispose();
    this.emitter.dispose();
  }

  /** A pipeline's remotes as resolved with the user's overrides; the core's error when it declares none. */
  config(pipeline: vscode.Uri): RemoteConfig {
    return requireRemoteCache(Runner.open(pipeline.fsPath)).config;
  }

  private credentials(config: RemoteConfig) {
    return remoteCredentials(this.ctx.extension.secrets, config, (message) => this.ctx.log.warn(message));
  }

  /** A pipeline's remote cache with the stored credentials; the caller closes it. */
  async open(pipeline: vscode.Uri, options: RemoteCacheOptions = {}): Promise<{ runner: Runner; cache: RemoteCache }> {
    const runner = Runner.open(pipeline.fsPath);
    const { config } = requireRemoteCache(runner);
    return {
      runner,
      cache: new RemoteCache(runner.store, config, { ...options, ...(await this.credentials(config)) }),
    };
  }

  /** Runs a cancellable transfer with its notification and the status bar item. */
  async transfer<T>(title: string, work: (options: TransferOptions) => Promise<T>): Promise<T> {
    let signal: AbortSignal | undefined;
    try {
      return await withTransfer(this.transfers, this.ctx.log, title, (options) => {
        signal = options.signal;
        return work(options);
      });
    } catch (error) {
      throw signal?.aborted ? new TransferCancelled() : error;
    }
  }

  /** A run's fetches from the remote (credentials, status bar), and the push when it ends. */
  async begin(runner: Runner, pipeline: vscode.Uri): Promise<RemoteRunSession> {
    let config: RemoteConfig | undefined;
    try {
      config = runner.openRemote(runner.plan())?.config;
    } catch {
      // The run itself says what is wrong with the pipeline or its remotes.
    }
    const credentials = config ? await this.credentials(config) : {};
    const transfer = this.transfers.begin(`run of ${vscode.workspace.asRelativePath(pipeline)}`);
    return {
      options: {
        ...credentials,
        onProgress: (progress) => void transfer.onProgress(progress),
        onNote: (message) => this.ctx.log.info(`remote: ${message}`),
      },
      end: (record) => {
        transfer.end();
        if (record && config) void this.pushAfterRun(pipeline, runner, config, record);
      },
    };
  }

  /** `mlpipe.remote.pushAfterRun` (or `push: true` in .mlpipe/config.yaml, as for `mlpipe run`): the run to the default remote. */
  private async pushAfterRun(
    pipeline: vscode.Uri,
    runner: Runner,
    config: RemoteConfig,
    record: RunRecord,
  ): Promise<void> {
    if (!this.ctx.trust.trusted || !(this.ctx.settings(pipeline).remote.pushAfterRun || config.push)) return;
    if (!record.stages.some((stage) => stage.key && FINISHED.has(stage.status))) return;
    const credentials = await this.credentials(config);
    try {
      const summary = await this.transfer(
        `MLPipe: pushing run ${record.id} to ${config.defaultName ?? 'the remote'}`,
        async (options) => {
          const cache = new RemoteCache(runner.store, config, { ...options, ...credentials });
          try {
            return await pushRuns(runner, cache, [record]);
          } finally {
            cache.close();
          }
        },
      );
      this.pushed(runner.mlpipe.root, summary.remote, [record.id]);
      this.ctx.log.info(pushSummaryText(summary, 1));
      if (summary.skipped.length > 0)
        void vscode.window.showWarningMessage(
          `MLPipe: run ${record.id} went to remote '${summary.remote}' in part; not pushed: ${summary.skipped.join('; ')}`,
        );
    } catch (error) {
      this.showFailure(`push of run ${record.id}`, error, {
        label: 'Push Again',
        run: () => void vscode.commands.executeCommand(Cmd.pushRuns, record.id),
      });
    }
  }

  /** Runs now on `remote`: the view shows them there without asking it again. */
  pushed(root: string, remote: string, ids: string[]): void {
    if (this.states.markPushed(root, remote, ids)) this.emitter.fire();
  }

  /**
   * Asks each `.mlpipe` folder's default remote which runs it holds: every folder when `force`,
   * else those not asked for a minute. Quietly nothing in an untrusted workspace; a remote that
   * fails is remembered with its message, for the view to show.
   */
  refresh(force: boolean): Promise<void> {
    if (!this.ctx.trust.trusted) return Promise.resolve();
    this.checking ??= this.check(force)
      .catch((error: unknown) => this.ctx.log.error(`remote state: ${logTextOf(error)}`))
      .finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async check(force: boolean): Promise<void> {
    const byRoot = new Map<string, vscode.Uri[]>();
    for (const uri of await findPipelines()) {
      const root = mlpipeRootOf(uri.fsPath);
      byRoot.set(root, [...(byRoot.get(root) ?? []), uri]);
    }
    this.states.retain(byRoot.keys());
    await Promise.all(
      [...byRoot].map(async ([root, pipelines]) => {
        if (!force && !this.states.due(root)) return;
        await this.checkRoot(root, pipelines);
        this.emitter.fire();
      }),
    );
  }

  /** The first of a folder's pipelines that declares a remote speaks for it (they share the folder's runs). */
  private async checkRoot(root: string, pipelines: vscode.Uri[]): Promise<void> {
    try {
      for (const pipeline of pipelines) {
        const runner = Runner.open(pipeline.fsPath);
        const config = runner.openRemote(runner.plan())?.config;
        if (!config) continue;
        const cache = new RemoteCache(runner.store, config, await this.credentials(config));
        try {
          this.states.known(root, await cacheStatus(runner, cache));
        } finally {
          cache.close();
        }
        return;
      }
      this.states.none(root);
    } catch (error) {
      this.ctx.log.warn(`remote state of ${vscode.workspace.asRelativePath(root)}: ${logTextOf(error)}`);
      this.states.failed(root, messageOf(error));
    }
  }

  /**
   * A transfer that failed, in an error message (the core's errors say what to do and hold no
   * secret; a stack goes to the output only), with a way to the credentials when they look wrong.
   */
  showFailure(what: string, error: unknown, retry?: { label: string; run: () => void }): void {
    if (error instanceof TransferCancelled) {
      void vscode.window.showWarningMessage(`MLPipe: ${what} cancelled.`);
      return;
    }
    const message = messageOf(error);
    this.ctx.log.error(`${what}: ${logTextOf(error)}`);
    const credentials = /credential|AWS_ACCESS_KEY_ID|unauthori[sz]ed|HTTP 40[13]|access ?denied|forbidden/i.test(
      message,
    );
    const actions = [
      ...(credentials ? ['Set Remote Credentials'] : []),
      ...(retry ? [retry.label] : []),
      'Show Output',
    ];
    void vscode.window.showErrorMessage(`MLPipe: ${what} failed: ${message}`, ...actions).then((choice) => {
      if (choice === 'Set Remote Credentials') void vscode.commands.executeCommand(Cmd.setRemoteCredentials);
      else if (choice === 'Show Output') this.ctx.log.show();
      else if (choice && choice === retry?.label) retry.run();
    });
  }
}
