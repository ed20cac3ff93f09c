import { availableParallelism } from 'node:os';
import * as vscode from 'vscode';
import {
  noticeText,
  runEndText,
  runStartText,
  STAGE_STATUS_WORDS,
  stageEndText,
  stageStartText,
} from '../../core/src/runner/event-text';
import { Runner, type RunEvent } from '../../core/src/runner/runner';
import { type RunRecord } from '../../core/src/runs/records';
import { Cmd } from './commands/ids';
import { type Ctx } from './ctx';
import { messageOf } from './errors';
import { type RemoteRunSession, type RunRemote } from './remote/service';

export interface RunRequest {
  pipeline: vscode.Uri;
  stages: string[];
  upstream: boolean;
  force?: boolean;
  /** Every targeted stage on this host (`mlpipe run --host`). */
  host?: string;
}

/** Where a run's lines go: a terminal of its own, or the task's terminal. */
export interface RunOutput {
  write(text: string): void;
}

const COLOURS = ['\u001b[36m', '\u001b[35m', '\u001b[33m', '\u001b[32m', '\u001b[34m', '\u001b[91m'];
const RESET = '\u001b[0m';
const dim = (text: string) => `\u001b[2m${text}${RESET}`;

/** A terminal that only shows what mlpipe writes to it (and closes on a key press after the run). */
export class RunTerminal implements vscode.Pseudoterminal, RunOutput {
  private readonly writeEmitter = new vscode.EventEmitter<string>();
  private readonly closeEmitter = new vscode.EventEmitter<number | void>();
  readonly onDidWrite = this.writeEmitter.event;
  readonly onDidClose = this.closeEmitter.event;
  private readonly pending: string[] = [];
  private opened = false;
  finished = false;

  constructor(
    private readonly onOpen?: (terminal: RunTerminal) => void,
    private readonly onCloseRequest?: () => void,
  ) {}

  open(): void {
    this.opened = true;
    for (const text of this.pending.splice(0)) this.writeEmitter.fire(text);
    this.onOpen?.(this);
  }

  close(): void {
    this.onCloseRequest?.();
  }

  handleInput(): void {
    if (this.finished) this.closeEmitter.fire();
  }

  write(text: string): void {
    const converted = text.replace(/\r?\n/g, '\r\n');
    if (this.opened) this.writeEmitter.fire(converted);
    else this.pending.push(converted);
  }

  exit(code: number): void {
    this.finished = true;
    this.closeEmitter.fire(code);
  }
}

/**
 * Runs pipelines from VS Code with the core runner: live logs with the stage name on each line, a
 * cancellable progress notification, a status bar item with the running stages, one run per
 * pipeline at a time, and nothing at all in an untrusted workspace.
 */
export class RunController implements vscode.Disposable {
  private readonly running = new Map<string, AbortController>();
  private readonly statusBar = vscode.window.createStatusBarItem('mlpipe.run', vscode.StatusBarAlignment.Left, 10);
  private readonly stagesRunning = new Set<string>();
  private readonly events = new vscode.EventEmitter<{ pipeline: string; event: RunEvent }>();
  /** Every event of the runs this window starts: the sidebar and the webviews follow them live. */
  readonly onDidRunEvent = this.events.event;
  private readonly log: vscode.LogOutputChannel;

  constructor(
    private readonly ctx: Ctx,
    /** The team cache: credentials and progress of a run's fetches, the push when it ends. */
    private readonly remote?: RunRemote,
  ) {
    this.log = ctx.log;
    this.statusBar.name = 'MLPipe run';
    this.statusBar.command = Cmd.cancelRun;
  }

  dispose(): void {
    for (const controller of this.running.values()) controller.abort();
    this.statusBar.dispose();
    this.events.dispose();
  }

  /** Runs with a terminal of its own and a progress notification. */
  async runInTerminal(request: RunRequest): Promise<RunRecord | undefined> {
    if (!this.ctx.trust.allows('run')) return undefined;
    const terminal = new RunTerminal();
    const name = `MLPipe: ${vscode.workspace.asRelativePath(request.pipeline)}${request.stages.length > 0 ? ` (${request.stages.join(', ')})` : ''}`;
    vscode.window.createTerminal({ name, pty: terminal, iconPath: new vscode.ThemeIcon('run-all') }).show(true);
    try {
      return await this.run(request, terminal);
    } finally {
      terminal.write('\r\n\u001b[2mPress any key to close this terminal.\u001b[0m\r\n');
      terminal.finished = true;
    }
  }

  async run(request: RunRequest, output: RunOutput): Promise<RunRecord | undefined> {
    // Tasks come here directly: the same gate as the commands.
    if (!this.ctx.trust.allows('run')) return undefined;
    const key = request.pipeline.fsPath;
    if (this.running.has(key)) {
      void vscode.window.showWarningMessage(
        `MLPipe: ${vscode.workspace.asRelativePath(request.pipeline)} is already running; cancel it first (MLPipe: Cancel Run).`,
      );
      return undefined;
    }
    await vscode.workspace.saveAll(false);
    const controller = new AbortController();
    this.running.set(key, controller);
    const runner = Runner.open(key);
    const colours = new Map<string, string>();
    const label = (stage: string) => {
      if (!colours.has(stage)) colours.set(stage, COLOURS[colours.size % COLOURS.length]);
      return `${colours.get(stage)}${stage}${RESET}`;
    };
    const jobs = this.ctx.settings(request.pipeline).run.jobs || undefined;
    let ended: RunRecord | undefined;
    let remote: RemoteRunSession | undefined;
    try {
      remote = await this.remote?.begin(runner, request.pipeline);
      return await vscode.window.withProgress(
        {
          location: vscode.ProgressLocation.Notification,
          title: `MLPipe: running ${vscode.workspace.asRelativePath(request.pipeline)}`,
          cancellable: true,
        },
        async (progress, token) => {
          const cancel = token.onCancellationRequested(() => controller.abort());
          let total = 0;
          let finished = 0;
          const onEvent = (event: RunEvent) => {
            this.events.fire({ pipeline: key, event });
            switch (event.type) {
              case 'run-start':
                total = event.record.stages.length;
                output.write(
                  `${runStartText(event.record, { jobs: jobs ?? availableParallelism(), logs: vscode.workspace.asRelativePath(runner.mlpipe.runDir(event.record.id)) })}\n`,
                );
                this.log.info(`run ${event.record.id} of ${key} started`);
                break;
              case 'stage-start':
                this.stagesRunning.add(event.stage);
                this.refreshStatusBar();
                output.write(`${label(event.stage)} ${dim(stageStartText(event))}\n`);
                progress.report({ message: `${[...this.stagesRunning].join(', ')} (${finished} of ${total} done)` });
                break;
              case 'log':
                output.write(`${label(event.stage)} | ${event.line}\n`);
                break;
              case 'stage-end':
                finished++;
                this.stagesRunning.delete(event.stage);
                this.refreshStatusBar();
                progress.report({
                  message: `${event.stage} ${STAGE_STATUS_WORDS[event.status]} (${finished} of ${total} done)`,
                  increment: total > 0 ? 100 / total : 0,
                });
                output.write(`${label(event.stage)} ${stageEndText(event)}\n`);
                break;
              case 'run-end':
                output.write(`${runEndText(event.record)}\n`);
                break;
              case 'notice':
                output.write(`${noticeText(event)}\n`);
                this.log.warn(event.message);
                break;
              case 'series':
                break;
            }
          };
          try {
            const record = await runner.run(
              {
                stages: request.stages,
                upstream: request.upstream,
                force: request.force ?? false,
                ...(request.host ? { host: request.host } : {}),
                jobs,
                signal: controller.signal,
                ...(remote ? { remote: remote.options } : {}),
              },
              onEvent,
            );
            this.report(record);
            ended = record;
            return record;
          } finally {
            cancel.dispose();
          }
        },
      );
    } catch (error) {
      const message = messageOf(error);
      output.write(`\u001b[31m${message}\u001b[0m\n`);
      this.log.error(`run of ${key}: ${message}`);
      void vscode.window.showErrorMessage(`MLPipe: ${message}`);
      return undefined;
    } finally {
      this.running.delete(key);
      this.refreshStatusBar();
      remote?.end(ended);
    }
  }

  private report(record: RunRecord): void {
    const text = runEndText(record);
    this.log.info(text);
    if (record.status === 'succeeded') void vscode.window.showInformationMessage(`MLPipe: ${text}.`);
    else if (record.status === 'cancelled') void vscode.window.showWarningMessage(`MLPipe: ${text}.`);
    else void vscode.window.showErrorMessage(`MLPipe: ${text}.`);
  }

  private refreshStatusBar(): void {
    if (this.running.size === 0) {
      this.statusBar.hide();
      return;
    }
    const stages = [...this.stagesRunning];
    this.statusBar.text = `$(sync~spin) MLPipe: ${stages.length > 0 ? stages.join(', ') : 'starting'}`;
    this.statusBar.tooltip = 'A pipeline is running. Click to cancel it.';
    this.statusBar.show();
  }

  cancel(): void {
    if (this.running.size === 0) {
      void vscode.window.showInformationMessage('MLPipe: no run in progress.');
      return;
    }
    for (const controller of this.running.values()) controller.abort();
  }
}
