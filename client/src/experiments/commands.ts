import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as vscode from 'vscode';
import { type WorkspaceExperiments } from './source';
import { type TrackingSync } from './tracking';
import { type ExperimentNode } from './trees';

/** A command's run ids: the clicked item, or every selected one when the user multi-selected. */
export function selectedRuns(item: unknown, items: unknown, view?: vscode.TreeView<ExperimentNode>): string[] {
  const nodes = (Array.isArray(items) && items.length > 0 ? items : item ? [item] : (view?.selection ?? [])) as ExperimentNode[];
  const ids = nodes.map((node) => (node && typeof node === 'object' ? (node.kind === 'run' ? node.id : node.kind === 'stage' ? node.run : node.kind === 'mlflowRun' ? node.row.mlpipeRunId : undefined) : typeof node === 'string' ? node : undefined));
  return [...new Set(ids.filter((id): id is string => typeof id === 'string'))];
}

async function pickRun(source: WorkspaceExperiments, title: string): Promise<string | undefined> {
  const picked = await vscode.window.showQuickPick(
    source.rows().map((row) => ({ label: row.id, description: `${row.name} · ${row.status}`, id: row.id })),
    { title },
  );
  return picked?.id;
}

/** Opens a run's stage logs: the stage given, the failed one, or the one the user picks. */
export async function openRunLogs(source: WorkspaceExperiments, id: string, stage?: string): Promise<void> {
  const found = source.stored(id);
  if (!found) return;
  const folder = join(found.store.dir.runDir(id), 'logs');
  const logs = existsSync(folder) ? readdirSync(folder).filter((name) => name.endsWith('.log')) : [];
  if (logs.length === 0) {
    void vscode.window.showInformationMessage(`MLPipe: run ${id} has no logs (its stages were up to date or never started).`);
    return;
  }
  const record = source.record(id);
  const logOf = (name: string) => record?.stages.find((one) => one.name === name)?.log;
  const wanted = stage ? logOf(stage) : logOf(record?.stages.find((one) => one.status === 'failed')?.name ?? '');
  let file = wanted ? join(found.store.dir.runDir(id), wanted) : undefined;
  if (!file || !existsSync(file)) {
    if (logs.length === 1) file = join(folder, logs[0]);
    else {
      const picked = await vscode.window.showQuickPick(logs, { title: `MLPipe: which log of run ${id}?` });
      if (!picked) return;
      file = join(folder, picked);
    }
  }
  await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: true });
}

export function registerRunCommands(source: WorkspaceExperiments, view: vscode.TreeView<ExperimentNode>, panels: { openTable(): void; compare(ids: string[]): void }, tracking: TrackingSync): vscode.Disposable[] {
  /** Tags changed: MLflow gets them too, when it is configured. */
  const retag = (id: string) => {
    const root = source.rootOf(id);
    if (root && tracking.uri) void tracking.send(root, [id]);
  };
  const withRun = (handler: (id: string, node?: ExperimentNode) => unknown, title: string) => async (item?: unknown) => {
    const id = selectedRuns(item, undefined, view)[0] ?? (await pickRun(source, title));
    if (id) await handler(id, item as ExperimentNode | undefined);
  };
  const commands: Record<string, (...args: unknown[]) => unknown> = {
    'mlpipe.openExperiments': () => panels.openTable(),
    'mlpipe.compareRuns': async (item?: unknown, items?: unknown) => {
      let ids = selectedRuns(item, items, view);
      if (ids.length < 2) {
        const picked = await vscode.window.showQuickPick(
          source.rows().map((row) => ({ label: row.id, description: `${row.name} · ${row.status}`, picked: ids.includes(row.id), id: row.id })),
          { title: 'MLPipe: compare which runs?', canPickMany: true },
        );
        if (!picked) return;
        ids = picked.map((one) => one.id);
      }
      if (ids.length === 0) return;
      panels.compare(ids);
    },
    'mlpipe.openRunLogs': withRun((id, node) => openRunLogs(source, id, node?.kind === 'stage' ? node.stage.name : undefined), 'MLPipe: open the logs of which run?'),
    'mlpipe.openRunOutputs': withRun(async (id) => {
      const found = source.stored(id);
      const record = source.record(id);
      if (!found || !record) return;
      const workspace = dirname(found.store.root);
      const outputs = [...new Set(record.stages.flatMap((stage) => Object.keys(stage.outputs)))];
      if (outputs.length === 0) {
        void vscode.window.showInformationMessage(`MLPipe: run ${id} recorded no outputs.`);
        return;
      }
      const picked = await vscode.window.showQuickPick(
        outputs.map((path) => ({ label: path, description: existsSync(join(workspace, path)) ? undefined : 'not in the workspace' })),
        { title: `MLPipe: outputs of run ${id} (the workspace holds the latest; mlpipe checkout ${id} restores these)` },
      );
      if (!picked) return;
      const uri = vscode.Uri.file(join(workspace, picked.label));
      if (!existsSync(uri.fsPath)) return void vscode.window.showWarningMessage(`MLPipe: ${picked.label} is not in the workspace; run \`mlpipe checkout ${id}\` to restore it.`);
      await vscode.commands.executeCommand('revealInExplorer', uri);
      if ((await vscode.workspace.fs.stat(uri)).type === vscode.FileType.File) await vscode.commands.executeCommand('vscode.open', uri);
    }, 'MLPipe: outputs of which run?'),
    'mlpipe.tagRun': withRun(async (id) => {
      const text = await vscode.window.showInputBox({
        title: `MLPipe: tag run ${id}`,
        prompt: 'KEY=VALUE or KEY; several separated by spaces; -KEY removes a tag',
        validateInput: (value) => (value.split(/\s+/).filter(Boolean).every((part) => /^-?[A-Za-z0-9_.\-/@]+(=.*)?$/.test(part)) ? undefined : 'tag names take letters, digits and _ . - / @'),
      });
      if (!text) return;
      const set: Record<string, string> = {};
      const remove: string[] = [];
      for (const part of text.split(/\s+/).filter(Boolean)) {
        if (part.startsWith('-')) remove.push(part.slice(1));
        else {
          const eq = part.indexOf('=');
          set[eq < 0 ? part : part.slice(0, eq)] = eq < 0 ? '' : part.slice(eq + 1);
        }
      }
      source.tag(id, set, remove);
      retag(id);
    }, 'MLPipe: tag which run?'),
    'mlpipe.markCandidate': withRun((id) => {
      // One candidate per pipeline: the approval gate (mlpipe gate) takes it as the default run.
      const pipeline = source.stored(id)?.run.summary.pipeline;
      for (const { run } of source.storedRuns()) {
        if (run.summary.id !== id && run.summary.pipeline === pipeline && 'mlpipe.candidate' in run.tags) {
          source.tag(run.summary.id, {}, ['mlpipe.candidate']);
          retag(run.summary.id);
        }
      }
      source.tag(id, { 'mlpipe.candidate': '' });
      retag(id);
      void vscode.window.showInformationMessage(`MLPipe: run ${id} is the model candidate of ${pipeline}.`);
    }, 'MLPipe: which run is the model candidate?'),
    'mlpipe.syncRuns': async () => {
      const { target, problem } = tracking.target();
      if (!target) return void vscode.window.showInformationMessage(`MLPipe: ${problem ?? 'no MLflow tracking server: set mlpipe.tracking.uri (or MLFLOW_TRACKING_URI) to log runs to one.'}`);
      await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `MLPipe: sending runs to ${target.uri}` }, () => tracking.retry(true));
      const status = tracking.status();
      if (status.queued > 0) void vscode.window.showWarningMessage(`MLPipe: ${status.queued} run${status.queued === 1 ? '' : 's'} still queued for ${target.uri}${status.lastError ? `: ${status.lastError.message}` : ''}.`);
      else void vscode.window.showInformationMessage(`MLPipe: every run is on ${target.uri}.`);
    },
    'mlpipe.deleteRun': async (item?: unknown, items?: unknown) => {
      const ids = selectedRuns(item, items, view);
      if (ids.length === 0) return;
      const answer = await vscode.window.showWarningMessage(
        `Delete ${ids.length === 1 ? `run ${ids[0]}` : `${ids.length} runs`}? Records and logs go; cached outputs stay until mlpipe runs gc.`,
        { modal: true },
        'Delete',
      );
      if (answer !== 'Delete') return;
      try {
        source.delete(ids);
      } catch (error) {
        void vscode.window.showErrorMessage(`MLPipe: ${error instanceof Error ? error.message : String(error)}`);
      }
    },
  };
  return Object.entries(commands).map(([id, handler]) => vscode.commands.registerCommand(id, handler));
}
