import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as vscode from 'vscode';
import { type Ctx } from '../ctx';
import { type WorkspaceExperiments } from './source';
import { type TrackingSync } from './tracking';
import { type ExperimentNode } from './tree';

/** What the experiment commands work with. */
export interface ExperimentsUi {
  ctx: Ctx;
  source: WorkspaceExperiments;
  view: vscode.TreeView<ExperimentNode>;
  panels: { openTable(): void; compare(ids: string[]): void };
  tracking: TrackingSync;
}

export function isExperimentNode(value: unknown): value is ExperimentNode {
  return typeof value === 'object' && value !== null && 'kind' in value && typeof value.kind === 'string';
}

/** A command's run ids: the clicked item, or every selected one when the user multi-selected. */
export function selectedRuns(item: unknown, items: unknown, view?: vscode.TreeView<ExperimentNode>): string[] {
  const given: unknown[] =
    Array.isArray(items) && items.length > 0 ? items : item ? [item] : [...(view?.selection ?? [])];
  const ids = given.map((node) => {
    if (typeof node === 'string') return node;
    if (!isExperimentNode(node)) return undefined;
    return node.kind === 'run'
      ? node.id
      : node.kind === 'stage'
        ? node.run
        : node.kind === 'mlflowRun'
          ? node.row.mlpipeRunId
          : undefined;
  });
  return [...new Set(ids.filter((id): id is string => typeof id === 'string'))];
}

async function pickRun(source: WorkspaceExperiments, title: string): Promise<string | undefined> {
  const picked = await vscode.window.showQuickPick(
    source.rows().map((row) => ({ label: row.id, description: `${row.name} · ${row.status}`, id: row.id })),
    { title },
  );
  return picked?.id;
}

/** The run a command is about: the clicked or selected one, else the one the user picks. */
async function runOf(ui: ExperimentsUi, item: unknown, title: string): Promise<string | undefined> {
  return selectedRuns(item, undefined, ui.view)[0] ?? (await pickRun(ui.source, title));
}

/** Tags changed: MLflow gets them too, when it is configured. */
function retag(ui: ExperimentsUi, ids: string[]): void {
  const root = ids.length > 0 ? ui.source.rootOf(ids[0]) : undefined;
  if (root && ui.tracking.uri) void ui.tracking.send(root, ids);
}

/** Opens a run's stage logs: the stage given, the failed one, or the one the user picks. */
export async function openRunLogs(source: WorkspaceExperiments, id: string, stage?: string): Promise<void> {
  const found = source.stored(id);
  if (!found) return;
  const folder = join(found.store.dir.runDir(id), 'logs');
  const logs = existsSync(folder) ? readdirSync(folder).filter((name) => name.endsWith('.log')) : [];
  if (logs.length === 0) {
    void vscode.window.showInformationMessage(
      `MLPipe: run ${id} has no logs (its stages were up to date or never started).`,
    );
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

export async function openRunLogsCommand(ui: ExperimentsUi, item: unknown): Promise<void> {
  const id = await runOf(ui, item, 'MLPipe: open the logs of which run?');
  if (id)
    await openRunLogs(ui.source, id, isExperimentNode(item) && item.kind === 'stage' ? item.stage.name : undefined);
}

export async function compareRuns(ui: ExperimentsUi, item: unknown, items: unknown): Promise<void> {
  let ids = selectedRuns(item, items, ui.view);
  if (ids.length < 2) {
    const picked = await vscode.window.showQuickPick(
      ui.source.rows().map((row) => ({
        label: row.id,
        description: `${row.name} · ${row.status}`,
        picked: ids.includes(row.id),
        id: row.id,
      })),
      { title: 'MLPipe: compare which runs?', canPickMany: true },
    );
    if (!picked) return;
    ids = picked.map((one) => one.id);
  }
  if (ids.length > 0) ui.panels.compare(ids);
}

export async function openRunOutputs(ui: ExperimentsUi, item: unknown): Promise<void> {
  const id = await runOf(ui, item, 'MLPipe: outputs of which run?');
  const found = id ? ui.source.stored(id) : undefined;
  const record = id ? ui.source.record(id) : undefined;
  if (!id || !found || !record) return;
  const workspace = dirname(found.store.root);
  const outputs = [...new Set(record.stages.flatMap((stage) => Object.keys(stage.outputs)))];
  if (outputs.length === 0) {
    void vscode.window.showInformationMessage(`MLPipe: run ${id} recorded no outputs.`);
    return;
  }
  const picked = await vscode.window.showQuickPick(
    outputs.map((path) => ({
      label: path,
      description: existsSync(join(workspace, path)) ? undefined : 'not in the workspace',
    })),
    { title: `MLPipe: outputs of run ${id} (the workspace holds the latest; mlpipe checkout ${id} restores these)` },
  );
  if (!picked) return;
  const uri = vscode.Uri.file(join(workspace, picked.label));
  if (!existsSync(uri.fsPath)) {
    void vscode.window.showWarningMessage(
      `MLPipe: ${picked.label} is not in the workspace; run \`mlpipe checkout ${id}\` to restore it.`,
    );
    return;
  }
  await vscode.commands.executeCommand('revealInExplorer', uri);
  if ((await vscode.workspace.fs.stat(uri)).type === vscode.FileType.File)
    await vscode.commands.executeCommand('vscode.open', uri);
}

/** `KEY=VALUE`, `KEY` and `-KEY` (removes), separated by spaces. */
function parseTags(text: string): { set: Record<string, string>; remove: string[] } {
  const set: Record<string, string> = {};
  const remove: string[] = [];
  for (const part of text.split(/\s+/).filter(Boolean)) {
    if (part.startsWith('-')) remove.push(part.slice(1));
    else {
      const eq = part.indexOf('=');
      // Defined, not assigned: a tag named __proto__ is a tag like any other.
      Object.defineProperty(set, eq < 0 ? part : part.slice(0, eq), {
        value: eq < 0 ? '' : part.slice(eq + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return { set, remove };
}

export async function tagRun(ui: ExperimentsUi, item: unknown): Promise<void> {
  const id = await runOf(ui, item, 'MLPipe: tag which run?');
  if (!id || !ui.ctx.trust.allows('write')) return;
  const text = await vscode.window.showInputBox({
    title: `MLPipe: tag run ${id}`,
    prompt: 'KEY=VALUE or KEY; several separated by spaces; -KEY removes a tag',
    validateInput: (value) =>
      value
        .split(/\s+/)
        .filter(Boolean)
        .every((part) => /^-?[A-Za-z0-9_.\-/@]+(=.*)?$/.test(part))
        ? undefined
        : 'tag names take letters, digits and _ . - / @',
  });
  if (!text) return;
  const { set, remove } = parseTags(text);
  const change = ui.source.tag(id, set, remove);
  if (change) retag(ui, [change.id, ...change.uncandidated]);
}

export async function markCandidate(ui: ExperimentsUi, item: unknown): Promise<void> {
  const id = await runOf(ui, item, 'MLPipe: which run is the model candidate?');
  if (!id || !ui.ctx.trust.allows('write')) return;
  // One candidate per pipeline (core's rule): the approval gate (mlpipe gate) takes it as the default run.
  const change = ui.source.markCandidate(id);
  if (!change) return;
  retag(ui, [change.id, ...change.uncandidated]);
  void vscode.window.showInformationMessage(`MLPipe: run ${change.id} is the model candidate of ${change.pipeline}.`);
}

export async function syncRuns(ui: ExperimentsUi): Promise<void> {
  const { target, problem } = ui.tracking.target();
  if (!target) {
    void vscode.window.showInformationMessage(
      `MLPipe: ${problem ?? 'no MLflow tracking server: set mlpipe.tracking.uri (or MLFLOW_TRACKING_URI) to log runs to one.'}`,
    );
    return;
  }
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: `MLPipe: sending runs to ${target.uri}` },
    () => ui.tracking.retry(true),
  );
  const status = ui.tracking.status();
  if (status.queued > 0)
    void vscode.window.showWarningMessage(
      `MLPipe: ${status.queued} run${status.queued === 1 ? '' : 's'} still queued for ${target.uri}${status.lastError ? `: ${status.lastError.message}` : ''}.`,
    );
  else void vscode.window.showInformationMessage(`MLPipe: every run is on ${target.uri}.`);
}

export async function deleteRuns(ui: ExperimentsUi, item: unknown, items: unknown): Promise<void> {
  const ids = selectedRuns(item, items, ui.view);
  if (ids.length === 0 || !ui.ctx.trust.allows('write')) return;
  const answer = await vscode.window.showWarningMessage(
    `Delete ${ids.length === 1 ? `run ${ids[0]}` : `${ids.length} runs`}? Records and logs go; cached outputs stay until mlpipe runs gc.`,
    { modal: true },
    'Delete',
  );
  if (answer === 'Delete') ui.source.delete(ids);
}
