import * as vscode from 'vscode';
import {
  assertNever,
  EXPERIMENTS_VIEW_TYPE,
  parseExperimentsMessage,
  type ExperimentsState,
  type HostToExperiments,
} from '../../../webviews/src/contract';
import { packRuns } from '../../../webviews/src/contract';
import { panelHtml, webviewOptions } from './html';
import { Throttle } from './throttle';
import type { ExperimentSource } from './source';

/** Above this many changed runs in one flush, one full `runs` message is cheaper than many `run`s. */
const FULL_REPLACE_THRESHOLD = 200;

/** The experiments table: at most one panel, revealed when asked for again. */
export class ExperimentsPanel {
  private static current: ExperimentsPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private ready = false;
  private full = false;
  private readonly changed = new Set<string>();
  private readonly removed = new Set<string>();
  private readonly throttle = new Throttle(100, () => this.flush());

  static show(context: vscode.ExtensionContext, source: ExperimentSource, compare: (ids: string[]) => void): void {
    if (ExperimentsPanel.current) {
      ExperimentsPanel.current.panel.reveal();
      return;
    }
    const panel = vscode.window.createWebviewPanel(
      EXPERIMENTS_VIEW_TYPE,
      'Experiments',
      vscode.ViewColumn.Active,
      webviewOptions(context.extensionUri),
    );
    ExperimentsPanel.current = new ExperimentsPanel(panel, context, source, compare, undefined);
  }

  /** A panel VS Code brings back after a reload, with the state the webview last saved. */
  static restore(
    panel: vscode.WebviewPanel,
    context: vscode.ExtensionContext,
    source: ExperimentSource,
    compare: (ids: string[]) => void,
    state: unknown,
  ): void {
    ExperimentsPanel.current?.panel.dispose();
    panel.webview.options = webviewOptions(context.extensionUri);
    const saved = state && typeof state === 'object' && !Array.isArray(state) ? (state as ExperimentsState) : undefined;
    ExperimentsPanel.current = new ExperimentsPanel(panel, context, source, compare, saved);
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    context: vscode.ExtensionContext,
    private readonly source: ExperimentSource,
    private readonly compare: (ids: string[]) => void,
    private readonly restoredState: ExperimentsState | undefined,
  ) {
    panel.iconPath = vscode.Uri.joinPath(context.extensionUri, 'images', 'icon.png');
    panel.webview.html = panelHtml(panel.webview, context.extensionUri, 'experiments', 'Experiments');
    this.disposables.push(
      panel.webview.onDidReceiveMessage((message: unknown) => this.receive(message)),
      // A hidden webview is torn down (no retainContextWhenHidden); when shown it says `ready` again.
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.ready = false;
      }),
      source.onDidChangeRuns((change) => this.runsChanged(change)),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  private post(message: HostToExperiments): void {
    void this.panel.webview.postMessage(message);
  }

  private receive(raw: unknown): void {
    const message = parseExperimentsMessage(raw, (id) => this.source.row(id) !== undefined);
    if (!message) return;
    switch (message.type) {
      case 'ready':
        this.ready = true;
        this.full = false;
        this.changed.clear();
        this.removed.clear();
        // Packed by column: 100,000 runs as objects take seconds to copy into the webview.
        this.post({ type: 'init', runs: packRuns(this.source.rows()), state: this.restoredState });
        break;
      case 'compare':
        this.compare(message.ids);
        break;
      case 'openRun':
        this.source.openRun(message.id);
        break;
      default:
        assertNever(message);
    }
  }

  private runsChanged(change: { changed?: string[]; removed?: string[] } | undefined): void {
    if (!this.ready) return;
    if (!change) this.full = true;
    else {
      for (const id of change.changed ?? []) this.changed.add(id);
      for (const id of change.removed ?? []) {
        this.removed.add(id);
        this.changed.delete(id);
      }
    }
    this.throttle.request();
  }

  private flush(): void {
    if (!this.ready) return;
    if (this.full || this.changed.size > FULL_REPLACE_THRESHOLD) {
      this.post({ type: 'runs', runs: packRuns(this.source.rows()) });
    } else {
      const removed = [...this.removed];
      for (const id of this.changed) {
        const run = this.source.row(id);
        if (run) this.post({ type: 'run', run });
        else removed.push(id);
      }
      if (removed.length > 0) this.post({ type: 'removed', ids: removed });
    }
    this.full = false;
    this.changed.clear();
    this.removed.clear();
  }

  private dispose(): void {
    if (ExperimentsPanel.current === this) ExperimentsPanel.current = undefined;
    this.throttle.dispose();
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }
}
