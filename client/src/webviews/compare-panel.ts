import * as vscode from 'vscode';
import {
  packSeries,
  assertNever,
  COMPARE_VIEW_TYPE,
  compareIdsOf,
  parseCompareMessage,
  type ExportFormat,
  type HostToCompare,
  type RunRow,
  type Series,
} from '../../../webviews/src/contract';
import { messageOf } from '../errors';
import { panelHtml, webviewOptions } from './html';
import { Throttle } from './throttle';
import type { ExperimentSource } from './source';

function titleFor(runs: RunRow[]): string {
  if (runs.length === 0) return 'Compare runs';
  if (runs.length <= 3) return `Compare ${runs.map((run) => run.name || run.id).join(', ')}`;
  return `Compare ${runs.length} runs`;
}

/**
 * One comparison of a fixed set of runs. Every compare call opens a new panel (comparisons are
 * kept side by side, as editors are); the webview saves the run ids, so a reload restores it.
 */
export class ComparePanel {
  private readonly disposables: vscode.Disposable[] = [];
  private readonly ids: Set<string>;
  private ready = false;
  private readonly series = new Map<string, { run: string; stage: string; series: Series[] }>();
  private readonly changedRuns = new Set<string>();
  private readonly throttle = new Throttle(100, () => this.flush());

  static show(context: vscode.ExtensionContext, source: ExperimentSource, ids: string[]): void {
    const known = ids.filter((id) => source.row(id) !== undefined);
    if (known.length === 0) {
      void vscode.window.showInformationMessage(
        'Select one or more runs to compare (in the experiments table, tick their checkboxes, then Compare).',
      );
      return;
    }
    const runs = known.map((id) => source.row(id)!);
    const panel = vscode.window.createWebviewPanel(
      COMPARE_VIEW_TYPE,
      titleFor(runs),
      vscode.ViewColumn.Active,
      webviewOptions(context.extensionUri),
    );
    new ComparePanel(panel, context, source, known);
  }

  static restore(
    panel: vscode.WebviewPanel,
    context: vscode.ExtensionContext,
    source: ExperimentSource,
    state: unknown,
  ): void {
    panel.webview.options = webviewOptions(context.extensionUri);
    const ids = (compareIdsOf(state) ?? []).filter((id) => source.row(id) !== undefined);
    new ComparePanel(panel, context, source, ids);
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    context: vscode.ExtensionContext,
    private readonly source: ExperimentSource,
    ids: string[],
  ) {
    this.ids = new Set(ids);
    panel.iconPath = vscode.Uri.joinPath(context.extensionUri, 'images', 'icon.png');
    panel.webview.html = panelHtml(panel.webview, context.extensionUri, 'compare', panel.title);
    this.disposables.push(
      panel.webview.onDidReceiveMessage((message: unknown) => this.receive(message)),
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.ready = false;
      }),
      source.onDidUpdateSeries((update) => {
        if (!this.ready || !this.ids.has(update.run)) return;
        this.series.set(`${update.run}\u0000${update.stage}`, update);
        this.throttle.request();
      }),
      source.onDidChangeRuns((change) => {
        if (!this.ready) return;
        const ids = change ? [...(change.changed ?? [])].filter((id) => this.ids.has(id)) : [...this.ids];
        for (const id of ids) this.changedRuns.add(id);
        if (ids.length > 0) this.throttle.request();
      }),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  private runs(): RunRow[] {
    return [...this.ids].flatMap((id) => this.source.row(id) ?? []);
  }

  private post(message: HostToCompare): void {
    void this.panel.webview.postMessage(message);
  }

  private receive(raw: unknown): void {
    const message = parseCompareMessage(raw, (id) => this.ids.has(id));
    if (!message) return;
    switch (message.type) {
      case 'ready': {
        this.ready = true;
        this.series.clear();
        this.changedRuns.clear();
        const runs = this.runs();
        this.post({
          type: 'init',
          runs,
          series: Object.fromEntries(runs.map((run) => [run.id, packSeries(this.source.series(run.id))])),
        });
        break;
      }
      case 'openRun':
        this.source.openRun(message.id);
        break;
      case 'export':
        void this.save(message.format, message.name, message.data);
        break;
      default:
        assertNever(message);
    }
  }

  private flush(): void {
    if (!this.ready) return;
    if (this.changedRuns.size > 0) {
      const runs = [...this.changedRuns].flatMap((id) => this.source.row(id) ?? []);
      if (runs.length > 0) this.post({ type: 'runs', runs });
    }
    for (const update of this.series.values())
      this.post({ type: 'series', run: update.run, stage: update.stage, series: packSeries(update.series) });
    this.series.clear();
    this.changedRuns.clear();
  }

  private async save(format: ExportFormat, name: string, data: string): Promise<void> {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const file = `${name}.${format}`;
    const target = await vscode.window.showSaveDialog({
      defaultUri: folder ? vscode.Uri.joinPath(folder, file) : undefined,
      filters: format === 'png' ? { 'PNG image': ['png'] } : { 'SVG image': ['svg'] },
      title: `Export ${name} as ${format.toUpperCase()}`,
    });
    if (!target) return;
    try {
      await vscode.workspace.fs.writeFile(
        target,
        format === 'png' ? Buffer.from(data, 'base64') : Buffer.from(data, 'utf8'),
      );
      vscode.window.setStatusBarMessage(`Saved ${vscode.workspace.asRelativePath(target)}`, 4000);
    } catch (error) {
      void vscode.window.showErrorMessage(
        `Could not save ${target.fsPath}: ${messageOf(error)}. Choose another folder and export again.`,
      );
    }
  }

  private dispose(): void {
    this.throttle.dispose();
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }
}
