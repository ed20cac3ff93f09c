import * as vscode from 'vscode';
import { RunError, Runner, type RunEvent } from '../../core/src/runner/runner';
import { HostError } from '../../core/src/runner/engine';
import { type RunRecord } from '../../core/src/runs/records';
import { pipelineStatus } from '../../core/src/runner/status';

export interface RunRequest {
  pipeline: vscode.Uri;
  stages: string[];
  upstream: boolean;
  force?: boolean;
}

/** Where a run's lines go: a terminal of its own, or the task's terminal. */
export interface RunOutput {
  write(text: string): void;
}

const COLOURS = ['\u001b[36m', '\u001b[35m', '\u001b[33m', '\u001b[32m', '\u001b[34m', '\u001b[91m'];
const RESET = '\u001b[0m';
const STATUS_TEXT: Record<string, string> = { succeeded: 'ok', skipped: 'up to date', restored: 'restored from cache', failed: 'FAILED', cancelled: 'cancelled', blocked: 'blocked' };

/** A terminal that only shows what mlpipe writes to it (and closes on a key press after the run). */
export class RunTerminal implements vscode.Pseudoterminal, RunOutput {
  private readonly writeEmitter = new vscode.EventEmitter<string>();
  private readonly closeEmitter = new vscode.EventEmitter<number | void>();
  readonly onDidWrite = this.writeEmitter.event;
  readonly onDidClose = this.closeEmitter.event;
  private readonly pending: string[] = [];
  private opened = false;
  finished = false;

  constructor(private readonly onOpen?: (terminal: RunTerminal) => void, private readonly onCloseRequest?: () => void) {}

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

  constructor(private readonly log: vscode.LogOutputChannel) {
    this.statusBar.name = 'MLPipe run';
    this.statusBar.command = 'mlpipe.cancelRun';
  }

  dispose(): void {
    for (const controller of this.running.values()) controller.abort();
    this.statusBar.dispose();
    this.events.dispose();
  }

  /** Whether running is allowed here; explains and offers to manage trust when it is not. */
  trusted(): boolean {
    if (vscode.workspace.isTrusted) return true;
    void vscode.window
      .showWarningMessage('MLPipe runs pipelines in containers only in a trusted workspace: a pipeline decides what runs on your machine. Checking and completion work without trust.', 'Manage Workspace Trust')
      .then((choice) => choice && vscode.commands.executeCommand('workbench.trust.manage'));
    return false;
  }

  /** Runs with a terminal of its own and a progress notification. */
  async runInTerminal(request: RunRequest): Promise<RunRecord | undefined> {
    if (!this.trusted()) return undefined;
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
    const key = request.pipeline.fsPath;
    if (this.running.has(key)) {
      void vscode.window.showWarningMessage(`MLPipe: ${vscode.workspace.asRelativePath(request.pipeline)} is already running; cancel it first (MLPipe: Cancel Run).`);
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
    const jobs = vscode.workspace.getConfiguration('mlpipe', request.pipeline).get<number>('run.jobs') || undefined;
    try {
      return await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `MLPipe: running ${vscode.workspace.asRelativePath(request.pipeline)}`, cancellable: true },
        async (progress, token) => {
          token.onCancellationRequested(() => controller.abort());
          let total = 0;
          let finished = 0;
          const onEvent = (event: RunEvent) => {
            this.events.fire({ pipeline: key, event });
            switch (event.type) {
              case 'run-start':
                total = event.record.stages.length;
                output.write(`run ${event.record.id}: ${total} stage${total === 1 ? '' : 's'}\n`);
                this.log.info(`run ${event.record.id} of ${key} started`);
                break;
              case 'stage-start':
                this.stagesRunning.add(event.stage);
                this.refreshStatusBar();
                progress.report({ message: `${[...this.stagesRunning].join(', ')} (${finished} of ${total} done)` });
                break;
              case 'log':
                output.write(`${label(event.stage)} | ${event.line}\n`);
                break;
              case 'stage-end':
                finished++;
                this.stagesRunning.delete(event.stage);
                this.refreshStatusBar();
                progress.report({ message: `${event.stage} ${STATUS_TEXT[event.status] ?? event.status} (${finished} of ${total} done)`, increment: total > 0 ? 100 / total : 0 });
                output.write(`${label(event.stage)} ${STATUS_TEXT[event.status] ?? event.status}${event.reason ? `: ${event.reason}` : ''}\n`);
                break;
              case 'run-end':
                output.write(`run ${event.record.id} ${event.record.status}${event.record.error ? `: ${event.record.error}` : ''}\n`);
                break;
              case 'notice':
                output.write(`note: ${event.message}\n`);
                this.log.warn(event.message);
                break;
              case 'series':
                break;
            }
          };
          const record = await runner.run({ stages: request.stages, upstream: request.upstream, force: request.force ?? false, jobs, signal: controller.signal }, onEvent);
          this.report(record);
          return record;
        },
      );
    } catch (error) {
      const message = error instanceof RunError || error instanceof HostError ? error.message : error instanceof Error ? error.message : String(error);
      output.write(`\u001b[31m${message}\u001b[0m\n`);
      this.log.error(`run of ${key}: ${message}`);
      void vscode.window.showErrorMessage(`MLPipe: ${message}`);
      return undefined;
    } finally {
      this.running.delete(key);
      this.refreshStatusBar();
    }
  }

  private report(record: RunRecord): void {
    const counts = new Map<string, number>();
    for (const stage of record.stages) counts.set(stage.status, (counts.get(stage.status) ?? 0) + 1);
    const summary = [...counts].map(([status, count]) => `${count} ${STATUS_TEXT[status] ?? status}`).join(', ');
    this.log.info(`run ${record.id} ${record.status}: ${summary}`);
    if (record.status === 'succeeded') void vscode.window.showInformationMessage(`MLPipe: run ${record.id} succeeded (${summary}).`);
    else if (record.status === 'cancelled') void vscode.window.showWarningMessage(`MLPipe: run ${record.id} was cancelled.`);
    else {
      const failed = record.stages.find((stage) => stage.status === 'failed');
      void vscode.window.showErrorMessage(`MLPipe: run ${record.id} failed${failed ? ` in stage ${failed.name}: ${failed.reason ?? failed.error ?? ''}` : record.error ? `: ${record.error}` : ''}.`);
    }
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

  /** Which stages would run, and why, in a quick pick. */
  async showStatus(pipeline: vscode.Uri): Promise<void> {
    const runner = Runner.open(pipeline.fsPath);
    try {
      const reports = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'MLPipe: checking what is out of date' }, () => pipelineStatus(runner, { stages: [], upstream: false, images: true }));
      const icon: Record<string, string> = { 'up-to-date': '$(pass)', cached: '$(archive)', stale: '$(circle-outline)', 'never-run': '$(circle-outline)' };
      const words: Record<string, string> = { 'up-to-date': 'up to date', cached: 'restores from the cache', stale: 'would run', 'never-run': 'never run' };
      await vscode.window.showQuickPick(
        reports.map((report) => ({ label: `${icon[report.state]} ${report.name}`, description: words[report.state], detail: report.reasons.join('; ') || undefined })),
        { title: `MLPipe: status of ${vscode.workspace.asRelativePath(pipeline)}`, matchOnDetail: true },
      );
    } catch (error) {
      void vscode.window.showErrorMessage(`MLPipe: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
