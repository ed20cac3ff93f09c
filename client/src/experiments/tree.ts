import { dirname } from 'node:path';
import * as vscode from 'vscode';
import { isCandidate } from '../../../core/src/approval/candidate';
import { type StageRecord } from '../../../core/src/runs/records';
import { type StoredRun } from '../../../core/src/store/store';
import { type TrackedRunRow } from '../../../core/src/tracking/mlflow';
import { redactText } from '../../../core/src/tracking/transfer';
import { Cmd } from '../commands/ids';
import { messageOf } from '../errors';
import { remoteSummary } from '../remote/run-states';
import { type RemoteService } from '../remote/service';
import { RUN_ICONS, STAGE_ICONS, themeIcon as icon } from '../status-icons';
import { type WorkspaceExperiments } from './source';
import { type TrackingSync } from './tracking';

function short(value: number | string | boolean): string {
  return typeof value === 'number' && !Number.isInteger(value)
    ? Number(value.toPrecision(3)).toString()
    : String(value);
}

/** A run in the Experiments view, one of its stages below it, or the MLflow server and its runs. */
export type ExperimentNode =
  | { kind: 'run'; id: string }
  | { kind: 'stage'; run: string; stage: StageRecord }
  | { kind: 'mlflow' }
  | { kind: 'mlflowExperiment'; name: string; own: boolean; rows: TrackedRunRow[] }
  | { kind: 'mlflowRun'; experiment: string; row: TrackedRunRow }
  /** The default team cache remote of a `.mlpipe` folder, once asked (MLPipe: Refresh Remote State). */
  | { kind: 'remote'; root: string }
  | { kind: 'message'; text: string };

const MLFLOW_ICONS: Record<string, [string, string?]> = {
  RUNNING: RUN_ICONS.running,
  FINISHED: RUN_ICONS.succeeded,
  FAILED: RUN_ICONS.failed,
  KILLED: RUN_ICONS.cancelled,
  SCHEDULED: ['clock'],
};

/** Experiments: every run newest first, key metrics in the description, its stages below it. */
export class ExperimentsTree implements vscode.TreeDataProvider<ExperimentNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<ExperimentNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private pending: ReturnType<typeof setTimeout> | undefined;
  private readonly disposables: vscode.Disposable[] = [this.emitter];

  constructor(
    private readonly source: WorkspaceExperiments,
    private readonly tracking: TrackingSync,
    private readonly remotes: RemoteService,
  ) {
    // Coalesced: a run's events come in bursts, the tree redraws at most every 150 ms.
    const refresh = () => {
      this.pending ??= setTimeout(() => {
        this.pending = undefined;
        this.emitter.fire(undefined);
      }, 150);
    };
    this.disposables.push(source.onDidChangeRuns(refresh), tracking.onDidChange(refresh), remotes.onDidChange(refresh));
  }

  dispose(): void {
    clearTimeout(this.pending);
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }

  async getChildren(node?: ExperimentNode): Promise<ExperimentNode[]> {
    if (!node) {
      const runs: ExperimentNode[] = this.source.storedRuns().map(({ run }) => ({ kind: 'run', id: run.summary.id }));
      // With no run the view shows its welcome text; the MLflow and remote nodes come with the first run.
      if (runs.length === 0) return runs;
      const roots = new Set(this.source.roots());
      const remotes: ExperimentNode[] = this.remotes.states
        .shown()
        .filter(([root]) => roots.has(root))
        .map(([root]) => ({ kind: 'remote', root }));
      return [
        ...(this.tracking.uri || this.tracking.target().problem ? [{ kind: 'mlflow' as const }] : []),
        ...remotes,
        ...runs,
      ];
    }
    if (node.kind === 'run')
      return (this.source.record(node.id)?.stages ?? []).map((stage) => ({ kind: 'stage', run: node.id, stage }));
    if (node.kind === 'mlflow') {
      const problem = this.tracking.target().problem;
      if (problem) return [{ kind: 'message', text: problem }];
      try {
        return (await this.tracking.remoteRuns()).map(({ experiment, own, rows }) => ({
          kind: 'mlflowExperiment',
          name: experiment,
          own,
          rows,
        }));
      } catch (error) {
        return [{ kind: 'message', text: messageOf(error) }];
      }
    }
    if (node.kind === 'mlflowExperiment')
      return node.rows.length > 0
        ? node.rows.map((row) => ({ kind: 'mlflowRun', experiment: node.name, row }))
        : [{ kind: 'message', text: 'no runs on the server yet' }];
    return [];
  }

  getTreeItem(node: ExperimentNode): vscode.TreeItem {
    if (node.kind === 'message') {
      const item = new vscode.TreeItem(node.text);
      item.tooltip = node.text;
      item.iconPath = new vscode.ThemeIcon('info');
      return item;
    }
    if (node.kind === 'mlflow') {
      const status = this.tracking.status();
      const item = new vscode.TreeItem(
        `MLflow · ${this.tracking.uri ?? 'not usable'}`,
        vscode.TreeItemCollapsibleState.Collapsed,
      );
      item.id = 'mlflow';
      item.iconPath = new vscode.ThemeIcon(
        status.queued > 0 ? 'cloud-upload' : 'cloud',
        status.queued > 0 ? new vscode.ThemeColor('list.warningForeground') : undefined,
      );
      item.description =
        status.queued > 0
          ? `${status.queued} run${status.queued === 1 ? '' : 's'} queued${status.lastError ? `: ${status.lastError.message}` : ''}`
          : status.lastSuccess
            ? 'in sync'
            : '';
      item.tooltip =
        status.queued > 0
          ? `Runs wait in .mlpipe/tracking/outbox and are retried; "MLPipe: Sync Runs to MLflow" sends them now.${status.lastError ? `\nLast error: ${status.lastError.message}` : ''}`
          : 'Runs are logged here as they finish.';
      item.contextValue = 'mlpipe.mlflow';
      return item;
    }
    if (node.kind === 'remote') return this.remoteItem(node.root);
    if (node.kind === 'mlflowExperiment') {
      // The workspace's own experiments open; the others of the server (logged by other clients) closed.
      const item = new vscode.TreeItem(
        node.name,
        node.own ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed,
      );
      item.id = `mlflow/${node.name}`;
      item.description = `${node.rows.length} run${node.rows.length === 1 ? '' : 's'}`;
      item.iconPath = new vscode.ThemeIcon('beaker');
      return item;
    }
    if (node.kind === 'mlflowRun') {
      const item = new vscode.TreeItem(node.row.name);
      item.id = `mlflow/${node.row.runId}`;
      const metrics = Object.entries(node.row.metrics)
        .sort(([a], [b]) => Number(!/test/.test(a)) - Number(!/test/.test(b)))
        .slice(0, 3);
      item.description = metrics.map(([key, value]) => `${key} ${short(value)}`).join(' · ');
      item.iconPath = icon(MLFLOW_ICONS[node.row.status] ?? ['circle-outline']);
      item.tooltip = `MLflow run ${node.row.runId} (${node.row.status})${node.row.mlpipeRunId ? `, mlpipe run ${node.row.mlpipeRunId}` : ''}`;
      item.contextValue = 'mlpipe.mlflowRun';
      return item;
    }
    if (node.kind === 'stage') {
      const item = new vscode.TreeItem(node.stage.name, vscode.TreeItemCollapsibleState.None);
      item.id = `${node.run}/${node.stage.name}`;
      item.description = node.stage.reason ?? node.stage.status;
      item.iconPath = icon(STAGE_ICONS[node.stage.status] ?? ['circle-outline']);
      item.contextValue = 'mlpipe.stageRun';
      item.command = { command: Cmd.openRunLogs, title: 'Open Log', arguments: [node] };
      return item;
    }
    const found = this.source.stored(node.id);
    const item = new vscode.TreeItem(node.id, vscode.TreeItemCollapsibleState.Collapsed);
    item.id = node.id;
    if (!found) return item;
    const run = found.run;
    const progress = this.source.progressOf(node.id);
    item.label = this.label(run);
    item.description =
      run.status === 'running'
        ? progress
          ? `${progress.done}/${progress.total} stages${progress.running.length > 0 ? `: ${progress.running.join(', ')}` : ''}`
          : 'running'
        : this.keyMetrics(run);
    // Where the run is, once its folder's remote was asked: after the metrics, the least of what the item says.
    const remote = run.status === 'running' ? undefined : this.remotes.states.runState(found.store.root, node.id);
    if (remote) item.description = [item.description, remote].filter(Boolean).join(' · ');
    item.iconPath = icon(RUN_ICONS[run.status] ?? ['circle-outline']);
    item.tooltip = this.tooltip(run, found.store.root);
    item.contextValue = `mlpipe.run.${run.status}${isCandidate(run) ? '.candidate' : ''}`;
    return item;
  }

  private label(run: StoredRun): string {
    const started = new Date(run.summary.started);
    const when = Number.isNaN(started.getTime())
      ? run.summary.started
      : started.toLocaleString(undefined, {
          month: 'short',
          day: 'numeric',
          hour: '2-digit',
          minute: '2-digit',
          second: '2-digit',
        });
    const candidate = isCandidate(run) ? ' ★' : '';
    return `${run.summary.name ?? run.summary.pipeline} · ${when}${candidate}`;
  }

  /** Up to three metrics, test then validation ones first (what people compare runs by), counts last. */
  private keyMetrics(run: StoredRun): string {
    const rank = (name: string) =>
      (/test/i.test(name) ? 0 : /val/i.test(name) ? 10 : 20) + (/rows|count|samples|epoch|step/i.test(name) ? 5 : 0);
    const entries = Object.entries(run.summary.metrics).filter(([, value]) => typeof value === 'number');
    entries.sort(([a], [b]) => rank(a) - rank(b));
    return entries
      .slice(0, 3)
      .map(([key, value]) => `${key} ${short(value)}`)
      .join(' · ');
  }

  /** A folder's remote: how many of its runs it holds, or why it could not be asked (a warning, the view goes on). */
  private remoteItem(root: string): vscode.TreeItem {
    const state = this.remotes.states.get(root);
    const folder = this.source.roots().length > 1 ? ` (${vscode.workspace.asRelativePath(dirname(root))})` : '';
    const checked = state ? new Date(state.at).toLocaleTimeString() : '';
    if (state?.kind === 'known') {
      const item = new vscode.TreeItem(`Remote · ${state.remote}${folder}`);
      item.id = `remote/${root}`;
      item.iconPath = new vscode.ThemeIcon('cloud');
      item.description = remoteSummary(state);
      item.tooltip = `${redactText(state.shown)}\n${state.remoteRuns} runs on the remote; ${state.entriesLocalOnly} stage entries only here.\nAsked at ${checked}; "MLPipe: Refresh Remote State" asks again.`;
      item.contextValue = 'mlpipe.remote';
      return item;
    }
    const message = state?.kind === 'failed' ? state.message : 'not asked yet';
    const item = new vscode.TreeItem(`Remote${folder}`);
    item.id = `remote/${root}`;
    item.iconPath = new vscode.ThemeIcon('warning', new vscode.ThemeColor('list.warningForeground'));
    item.description = message;
    item.tooltip = `${message}\nAsked at ${checked}; "MLPipe: Refresh Remote State" asks again.`;
    item.contextValue = 'mlpipe.remote';
    return item;
  }

  private tooltip(run: StoredRun, root: string): vscode.MarkdownString {
    // appendText escapes: run data never becomes markup.
    const text = new vscode.MarkdownString();
    text.appendText(`${run.summary.id} — ${run.status}\n`);
    if (run.summary.commit)
      text.appendText(
        `commit ${run.summary.commit.slice(0, 10)}${run.summary.dirty ? ' (uncommitted changes)' : ''}\n`,
      );
    const params = Object.entries(run.params);
    if (params.length > 0)
      text.appendText(
        `\nparams: ${params.map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`).join(', ')}\n`,
      );
    const metrics = Object.entries(run.summary.metrics);
    if (metrics.length > 0)
      text.appendText(`metrics: ${metrics.map(([key, value]) => `${key}=${short(value)}`).join(', ')}\n`);
    const tags = Object.entries(run.tags);
    if (tags.length > 0)
      text.appendText(`tags: ${tags.map(([key, value]) => (value ? `${key}=${value}` : key)).join(', ')}\n`);
    if (run.note) text.appendText(`note: ${run.note}\n`);
    const state = this.remotes.states.get(root);
    const remote = this.remotes.states.runState(root, run.summary.id);
    if (state?.kind === 'known' && remote)
      text.appendText(`\nremote '${state.remote}': ${remote} (asked at ${new Date(state.at).toLocaleTimeString()})\n`);
    return text;
  }
}
