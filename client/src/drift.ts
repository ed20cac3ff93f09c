import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import * as vscode from 'vscode';
import { UsageError } from '../../core/src/cli/io';
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
  let report: DriftReport;
  try {
    report = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `MLPipe: checking drift of ${basename(chosen.current)} against ${basename(chosen.reference)}`, cancellable: true }, (_progress, token) => runDrift(context, chosen, token));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log.error(`drift: ${message}`);
    void vscode.window.showErrorMessage(`MLPipe: ${message}`);
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

/** Runs `mlpipe drift --format json --details` in a child process; its errors are the CLI's words. */
function runDrift(context: vscode.ExtensionContext, target: DriftTarget, token: vscode.CancellationToken): Promise<DriftReport> {
  const args = ['drift', target.reference, target.current, '--format', 'json', '--details'];
  if (target.options.columns) args.push('--columns', target.options.columns.join(','));
  for (const [column, method] of Object.entries(target.options.methods ?? {})) args.push('--method', `${column}=${method}`);
  if (target.options.driftShare !== undefined) args.push('--drift-share', String(target.options.driftShare));
  return new Promise((resolve, reject) => {
    const child = fork(context.asAbsolutePath('dist/cli.js'), args, { cwd: dirname(target.reference), stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: [] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const cancel = token.onCancellationRequested(() => child.kill());
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      cancel.dispose();
      if (signal) return reject(new Error('drift check cancelled'));
      if (code !== 0) return reject(new Error(err.replace(/^mlpipe: /, '').trim() || `mlpipe drift exited with ${code}`));
      try {
        resolve(JSON.parse(Buffer.concat(out).toString('utf8')) as DriftReport);
      } catch (error) {
        reject(new Error(`mlpipe drift printed no report: ${error instanceof Error ? error.message : String(error)}`));
      }
    });
  });
}
