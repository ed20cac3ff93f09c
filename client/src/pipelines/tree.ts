import * as vscode from 'vscode';
import { MlpipeDir, mlpipeRootOf, type StageRecord } from '../../../core/src/runs/records';
import { messageOf } from '../errors';
import { STAGE_ICONS, themeIcon } from '../status-icons';
import { findPipelines } from './find';
import { plannedStageHosts } from './plan';

/** A pipeline file, one stage instance of it with its last status, or why its stages cannot be listed. */
export type PipelineNode =
  | { kind: 'pipeline'; uri: vscode.Uri }
  | { kind: 'stage'; uri: vscode.Uri; name: string; status?: string; reason?: string; cluster?: string }
  | { kind: 'error'; message: string };

/** Whether a command's argument is an item of the Pipelines view. */
export function isPipelineNode(value: unknown): value is PipelineNode {
  return (
    typeof value === 'object' &&
    value !== null &&
    'kind' in value &&
    (value.kind === 'pipeline' || value.kind === 'stage' || value.kind === 'error')
  );
}

/** How many recent runs are read for the stages' last status. */
const RECENT_RUNS = 50;

/** Pipelines: each pipeline of the workspace with its stages, their last status and a run action. */
export class PipelinesTree implements vscode.TreeDataProvider<PipelineNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<PipelineNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private pending: ReturnType<typeof setTimeout> | undefined;
  private readonly disposables: vscode.Disposable[] = [this.emitter];

  constructor(runsChanged: vscode.Event<unknown>) {
    this.disposables.push(runsChanged(() => this.refresh()));
  }

  /** Redraws soon: a run's events come in bursts, the tree redraws at most every 150 ms. */
  refresh(): void {
    this.pending ??= setTimeout(() => {
      this.pending = undefined;
      this.emitter.fire(undefined);
    }, 150);
  }

  async getChildren(node?: PipelineNode): Promise<PipelineNode[]> {
    if (!node) {
      const pipelines = await findPipelines();
      await vscode.commands.executeCommand('setContext', 'mlpipe.hasPipeline', pipelines.length > 0);
      return pipelines.map((uri) => ({ kind: 'pipeline', uri }));
    }
    if (node.kind !== 'pipeline') return [];
    let stages: { name: string; cluster?: string }[];
    try {
      stages = plannedStageHosts(node.uri.fsPath);
    } catch (error) {
      return [{ kind: 'error', message: messageOf(error).split('\n')[0] }];
    }
    // The newest run that ran each stage says its last status.
    const runs = new MlpipeDir(mlpipeRootOf(node.uri.fsPath));
    const last = new Map<string, StageRecord>();
    for (const id of runs.runIds().slice(0, RECENT_RUNS)) {
      for (const stage of runs.readRecord(id)?.stages ?? [])
        if (!last.has(stage.name) && stage.status !== 'pending') last.set(stage.name, stage);
      if (last.size >= stages.length) break;
    }
    return stages.map(({ name, cluster }) => ({
      kind: 'stage',
      uri: node.uri,
      name,
      status: last.get(name)?.status,
      reason: last.get(name)?.reason,
      ...(cluster ? { cluster } : {}),
    }));
  }

  getTreeItem(node: PipelineNode): vscode.TreeItem {
    if (node.kind === 'error') {
      const item = new vscode.TreeItem(node.message);
      item.iconPath = themeIcon(['warning', 'list.warningForeground']);
      return item;
    }
    if (node.kind === 'pipeline') {
      const item = new vscode.TreeItem(
        vscode.workspace.asRelativePath(node.uri),
        vscode.TreeItemCollapsibleState.Expanded,
      );
      item.id = node.uri.toString();
      item.resourceUri = node.uri;
      item.iconPath = new vscode.ThemeIcon('symbol-event');
      item.contextValue = 'mlpipe.pipeline';
      item.command = { command: 'vscode.open', title: 'Open Pipeline', arguments: [node.uri] };
      return item;
    }
    const item = new vscode.TreeItem(node.name);
    item.id = `${node.uri.toString()}#${node.name}`;
    item.description = `${node.status ? (node.status === 'skipped' ? 'up to date' : node.status) : 'never run'}${node.cluster ? ` · cluster ${node.cluster}` : ''}`;
    item.tooltip = node.reason;
    item.iconPath = themeIcon(STAGE_ICONS[node.status ?? 'pending'] ?? ['circle-outline']);
    item.contextValue = 'mlpipe.stage';
    return item;
  }

  dispose(): void {
    clearTimeout(this.pending);
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }
}
