import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import * as vscode from 'vscode';
import { UsageError } from '../../core/src/errors';
import { monitorTarget, type DriftTarget } from '../../core/src/drift/monitor';
import { renderDriftHtml } from '../../core/src/drift/html';
import { type DriftReport } from '../../core/src/drift/types';
import { findPipelines } from './pipelines';
import { type RunController } from './run-controller';
import { registerDriftSerializer, showDriftReport } from './webviews/drift-panel';

interface Choice extends vscode.QuickPickItem {
  target?: DriftTarget & { pipeline?: vscode.Uri };
}

/**
 * "MLPipe: Check Drift...": compares the files of a pipeline's `monitor.drift` section, or two
 * files the user picks, in a child process running the CLI (a million-row file never blocks the
 * extension host), and shows the report; when drift is found the report offers to run the
 * pipeline again.
 */
export async function checkDrift(context: vscode.ExtensionContext, runs: RunController, log: vscode.LogOutputChannel): Promise<void> {
  const choices: Choice[] = [];
  for (const pipeline of await findPipelines()) {
    try {
      const target = monitorTarget(pipeline.fsPath);
      const folder = dirname(pipeline.fsPath);
      choices.push({ label: `$(graph) ${vscode.workspace.asRelativePath(pipeline)}: monitor.drift`, description: `${relative(folder, target.reference)} vs ${relative(folder, target.current)}`, target: { ...target, pipeline } });
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
    }
  }
  choices.push({ label: '$(files) Choose two files...', description: 'a reference and a current dataset: CSV, JSON Lines or Parquet' });
  const picked = choices.length === 1 ? choices[0] : await vscode.window.showQuickPick(choices, { title: 'MLPipe: check drift between which data?' });
  if (!picked) return;
  let target = picked.target;
  if (!target) {
    const filters = { Datasets: ['csv', 'tsv', 'jsonl', 'ndjson', 'parquet'] };
    const reference = await vscode.window.showOpenDialog({ title: 'Reference dataset (usually the training data)', filters, canSelectMany: false });
    if (!reference?.[0]) return;
    const current = await vscode.window.showOpenDialog({ title: 'Current dataset', filters, canSelectMany: false });
    if (!current?.[0]) return;
    target = { reference: reference[0].fsPath, current: current[0].fsPath, options: {}, source: 'two files' };
  }
  const chosen = target;
  let report: DriftReport | undefined;
  try {
    report = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `MLPipe: checking drift of ${basename(chosen.current)} against ${basename(chosen.reference)}`, cancellable: true }, (_progress, token) => runDrift(context, chosen, token));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log.error(`drift: ${message}`);
    void vscode.window.showErrorMessage(`MLPipe: ${message}`);
    return;
  }
  if (!report) {
    log.info('drift: check cancelled');
    return;
  }
  showDriftReport(context, report, { title: `Drift: ${basename(chosen.current)}`, ...driftActions(context, runs, report, chosen.pipeline) });
}

/** What a drift report offers: export, and a rerun of the pipeline whose monitor section it checked. */
function driftActions(context: vscode.ExtensionContext, runs: RunController, report: DriftReport, pipeline: vscode.Uri | undefined) {
  return {
    ...(pipeline && vscode.workspace.isTrusted ? { rerun: () => runs.runInTerminal({ pipeline, stages: [], upstream: false }).then(() => undefined), rerunLabel: vscode.workspace.asRelativePath(pipeline) } : {}),
    exportHtml: async () => {
      const uri = await vscode.window.showSaveDialog({ title: 'Save the drift report', defaultUri: vscode.Uri.file(join(dirname(report.current.path), 'drift-report.html')), filters: { HTML: ['html'] } });
      if (!uri) return;
      const assets = vscode.Uri.joinPath(context.extensionUri, 'dist', 'webviews');
      const html = renderDriftHtml(report, { script: readFileSync(join(assets.fsPath, 'drift.js'), 'utf8'), css: readFileSync(join(assets.fsPath, 'drift.css'), 'utf8') });
      await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(html));
      void vscode.window.showInformationMessage(`MLPipe: drift report saved to ${vscode.workspace.asRelativePath(uri)}.`);
    },
  };
}

/** Brings drift panels back after a reload, from the report they saved; the rerun is offered again when a pipeline monitors those files. */
export function restoreDriftPanels(context: vscode.ExtensionContext, runs: RunController): void {
  let monitors: { pipeline: vscode.Uri; current: string }[] = [];
  void findPipelines().then((pipelines) => {
    monitors = pipelines.flatMap((pipeline) => {
      try {
        return [{ pipeline, current: monitorTarget(pipeline.fsPath).current }];
      } catch {
        return [];
      }
    });
  });
  registerDriftSerializer(context, (report) => driftActions(context, runs, report, monitors.find((monitor) => isAbsolute(report.current.path) && monitor.current === report.current.path)?.pipeline));
}

/** How long a cancelled check may take to exit on SIGTERM before it is killed. */
const KILL_AFTER_MS = 3000;

/**
 * The CLI's arguments and folder for a check. A pipeline's check runs in the pipeline's folder
 * with --pipeline, so the CLI applies monitor.drift's own boundary (that folder). Two chosen files
 * are checked from their workspace folder, given relative to it: the CLI refuses a file there that
 * leads outside through a symbolic link (a relative path resolves under the folder's real path,
 * where an absolute one through a linked parent would look outside and pass unchecked).
 */
function driftInvocation(target: DriftTarget & { pipeline?: vscode.Uri }, workspaceFolder: string | undefined): { args: string[]; cwd: string } {
  const options = ['--format', 'json', '--details'];
  if (target.pipeline) return { args: ['drift', '--pipeline', basename(target.pipeline.fsPath), ...options], cwd: dirname(target.pipeline.fsPath) };
  const cwd = workspaceFolder ?? dirname(target.reference);
  const shown = (path: string) => {
    const rel = relative(cwd, path);
    return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
  };
  const args = ['drift', shown(target.reference), shown(target.current), ...options];
  if (target.options.columns) args.push('--columns', target.options.columns.join(','));
  for (const [column, method] of Object.entries(target.options.methods ?? {})) args.push('--method', `${column}=${method}`);
  if (target.options.driftShare !== undefined) args.push('--drift-share', String(target.options.driftShare));
  return { args, cwd };
}

/**
 * Runs `mlpipe drift --format json --details` in a child process; its errors are the CLI's words.
 * Cancel sends SIGTERM (the CLI exits at once, its reader threads with it) and kills the process if
 * it has not gone within KILL_AFTER_MS; a cancelled check resolves to undefined.
 */
function runDrift(context: vscode.ExtensionContext, target: DriftTarget & { pipeline?: vscode.Uri }, token: vscode.CancellationToken): Promise<DriftReport | undefined> {
  const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(target.reference)) ?? vscode.workspace.workspaceFolders?.[0];
  const { args, cwd } = driftInvocation(target, folder?.uri.fsPath);
  return new Promise((resolve, reject) => {
    const child = fork(context.asAbsolutePath('dist/cli.js'), args, { cwd, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: [] });
    const out: Buffer[] = [];
    let err = '';
    let cancelled = false;
    let killTimer: NodeJS.Timeout | undefined;
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const cancel = token.onCancellationRequested(() => {
      cancelled = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      cancel.dispose();
      if (killTimer) clearTimeout(killTimer);
      if (cancelled) return resolve(undefined);
      if (signal) return reject(new Error(`mlpipe drift was stopped (${signal})`));
      if (code !== 0) return reject(new Error(err.replace(/^mlpipe: /, '').trim() || `mlpipe drift exited with ${code}`));
      try {
        resolve(JSON.parse(Buffer.concat(out).toString('utf8')) as DriftReport);
      } catch (error) {
        reject(new Error(`mlpipe drift printed no report: ${error instanceof Error ? error.message : String(error)}`));
      }
    });
  });
}
