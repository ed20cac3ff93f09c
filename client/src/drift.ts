import { readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import * as vscode from 'vscode';
import { UsageError, UserError } from '../../core/src/errors';
import { computeDrift, DriftCancelled, DriftError } from '../../core/src/drift/engine';
import { renderDriftHtml } from '../../core/src/drift/html';
import { monitorTarget, type DriftTarget } from '../../core/src/drift/monitor';
import { type DriftReport } from '../../core/src/drift/types';
import { type Ctx } from './ctx';
import { findPipelines } from './pipelines/find';
import { type RunController } from './run-controller';
import { registerDriftSerializer, showDriftReport } from './webviews/drift-panel';

interface Choice extends vscode.QuickPickItem {
  target?: DriftTarget & { pipeline?: vscode.Uri };
}

/**
 * "MLPipe: Check Drift...": compares the files of a pipeline's `monitor.drift` section, or two
 * files the user picks, with core's drift engine in this process (the engine reads and sorts each
 * file in a worker thread of its own, so a million-row file never blocks the extension host), and
 * shows the report; when drift is found the report offers to run the pipeline again.
 */
export async function checkDrift(ctx: Ctx, runs: RunController): Promise<void> {
  const choices: Choice[] = [];
  for (const pipeline of await findPipelines()) {
    try {
      const target = monitorTarget(pipeline.fsPath);
      const folder = dirname(pipeline.fsPath);
      choices.push({
        label: `$(graph) ${vscode.workspace.asRelativePath(pipeline)}: monitor.drift`,
        description: `${relative(folder, target.reference)} vs ${relative(folder, target.current)}`,
        target: { ...target, pipeline },
      });
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
    }
  }
  choices.push({
    label: '$(files) Choose two files...',
    description: 'a reference and a current dataset: CSV, JSON Lines or Parquet',
  });
  const picked =
    choices.length === 1
      ? choices[0]
      : await vscode.window.showQuickPick(choices, { title: 'MLPipe: check drift between which data?' });
  if (!picked) return;
  let target = picked.target;
  if (!target) {
    const filters = { Datasets: ['csv', 'tsv', 'jsonl', 'ndjson', 'parquet'] };
    const reference = await vscode.window.showOpenDialog({
      title: 'Reference dataset (usually the training data)',
      filters,
      canSelectMany: false,
    });
    if (!reference?.[0]) return;
    const current = await vscode.window.showOpenDialog({ title: 'Current dataset', filters, canSelectMany: false });
    if (!current?.[0]) return;
    target = chosenFiles(reference[0], current[0]);
  }
  const chosen = target;
  const report = await vscode.window.withProgress(
    {
      location: vscode.ProgressLocation.Notification,
      title: `MLPipe: checking drift of ${basename(chosen.current)} against ${basename(chosen.reference)}`,
      cancellable: true,
    },
    (_progress, token) => computeReport(chosen, token),
  );
  if (!report) {
    ctx.log.info('drift: check cancelled');
    return;
  }
  showDriftReport(ctx.extension, report, {
    title: `Drift: ${basename(chosen.current)}`,
    ...driftActions(ctx, runs, report, chosen.pipeline),
  });
}

/**
 * Two files the user chose, checked as `mlpipe drift REFERENCE CURRENT` run in their workspace
 * folder checks them: a file inside the folder that leads outside through a symbolic link is
 * refused. A path the dialog gave through the folder's real path is put back under the folder,
 * so that the check sees it inside.
 */
function chosenFiles(reference: vscode.Uri, current: vscode.Uri): DriftTarget {
  const folder =
    (vscode.workspace.getWorkspaceFolder(reference) ?? vscode.workspace.workspaceFolders?.[0])?.uri.fsPath ??
    dirname(reference.fsPath);
  let real = folder;
  try {
    real = realpathSync.native(folder);
  } catch {
    // a folder that is gone: paths stay as given
  }
  const inside = (path: string) => {
    for (const root of [folder, real]) {
      const rel = relative(root, path);
      if (rel && !rel.startsWith('..') && !isAbsolute(rel)) return resolve(folder, rel);
    }
    return path;
  };
  return {
    reference: inside(reference.fsPath),
    current: inside(current.fsPath),
    options: { boundary: { root: folder, outside: 'allow', what: 'the workspace folder' } },
    source: 'two files',
  };
}

/**
 * The report, with details for the charts; undefined when the user cancelled (the engine's reader
 * threads are terminated). A mistake in the data is a UserError saying what to do.
 */
async function computeReport(target: DriftTarget, token: vscode.CancellationToken): Promise<DriftReport | undefined> {
  const controller = new AbortController();
  const cancel = token.onCancellationRequested(() => controller.abort());
  try {
    return await computeDrift(target.reference, target.current, {
      ...target.options,
      details: true,
      signal: controller.signal,
    });
  } catch (error) {
    if (error instanceof DriftCancelled) return undefined;
    if (error instanceof DriftError)
      throw new UserError(error.hint ? `${error.message}. ${error.hint}` : error.message);
    throw error;
  } finally {
    cancel.dispose();
  }
}

/** What a drift report offers: export, and a rerun of the pipeline whose monitor section it checked. */
function driftActions(ctx: Ctx, runs: RunController, report: DriftReport, pipeline: vscode.Uri | undefined) {
  return {
    ...(pipeline && ctx.trust.trusted
      ? {
          rerun: () => runs.runInTerminal({ pipeline, stages: [], upstream: false }).then(() => undefined),
          rerunLabel: vscode.workspace.asRelativePath(pipeline),
        }
      : {}),
    exportHtml: async () => {
      const uri = await vscode.window.showSaveDialog({
        title: 'Save the drift report',
        defaultUri: vscode.Uri.file(join(dirname(report.current.path), 'drift-report.html')),
        filters: { HTML: ['html'] },
      });
      if (!uri) return;
      const assets = vscode.Uri.joinPath(ctx.extension.extensionUri, 'dist', 'webviews');
      const html = renderDriftHtml(report, {
        script: readFileSync(join(assets.fsPath, 'drift.js'), 'utf8'),
        css: readFileSync(join(assets.fsPath, 'drift.css'), 'utf8'),
      });
      await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(html));
      void vscode.window.showInformationMessage(
        `MLPipe: drift report saved to ${vscode.workspace.asRelativePath(uri)}.`,
      );
    },
  };
}

/** Brings drift panels back after a reload, from the report they saved; the rerun is offered again when a pipeline monitors those files. */
export function restoreDriftPanels(ctx: Ctx, runs: RunController): void {
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
  registerDriftSerializer(ctx.extension, (report) =>
    driftActions(
      ctx,
      runs,
      report,
      monitors.find((monitor) => isAbsolute(report.current.path) && monitor.current === report.current.path)?.pipeline,
    ),
  );
}
