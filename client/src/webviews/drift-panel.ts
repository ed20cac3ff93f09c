// The extension-host side of the drift report webview (webviews/src/drift/). The message contract
// both sides speak is webviews/src/drift/contract.ts.
import * as vscode from 'vscode';
import type { DriftReport } from '../../../core/src/drift/types';
import {
  assertNever,
  DRIFT_VIEW_TYPE,
  driftStateOf,
  parseDriftMessage,
  type DriftState,
  type HostToDrift,
} from '../../../webviews/src/drift/contract';
import { messageOf } from '../errors';
import { panelHtml, webviewOptions } from './html';

export { DRIFT_VIEW_TYPE };

export interface DriftPanelOptions {
  /** The panel's title, e.g. `Drift: current.csv`. */
  title: string;
  /** Runs the pipeline that produced the data again (the retraining loop); absent: no "Run pipeline again". */
  rerun?: () => void | Promise<void>;
  /** What the button's tooltip names, such as the pipeline's file or name. */
  rerunLabel?: string;
  /** Saves the report as HTML (core/src/drift/html.ts renderDriftHtml); the caller asks where. */
  exportHtml: () => void | Promise<void>;
}

/** One panel per pair of files: a new report for the same reference and current files replaces the old one. */
const panels = new Map<string, DriftPanel>();

const keyOf = (report: DriftReport) => `${report.reference.path}\u0000${report.current.path}`;

class DriftPanel {
  private readonly disposables: vscode.Disposable[] = [];
  private ready = false;
  private running = false;

  constructor(
    private readonly panel: vscode.WebviewPanel,
    context: vscode.ExtensionContext,
    private report: DriftReport,
    private options: DriftPanelOptions,
    private readonly restored?: DriftState,
  ) {
    panel.iconPath = vscode.Uri.joinPath(context.extensionUri, 'images', 'icon.png');
    panel.webview.html = panelHtml(panel.webview, context.extensionUri, 'drift', options.title);
    this.disposables.push(
      panel.webview.onDidReceiveMessage((message: unknown) => this.receive(message)),
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.ready = false;
      }),
      panel.onDidDispose(() => this.dispose()),
    );
    panels.set(keyOf(report), this);
  }

  /** Shows a new report (and new actions) in this panel. */
  update(report: DriftReport, options: DriftPanelOptions): void {
    panels.delete(keyOf(this.report));
    this.report = report;
    this.options = options;
    panels.set(keyOf(report), this);
    this.panel.title = options.title;
    if (this.ready) this.postInit();
  }

  reveal(): void {
    this.panel.reveal(undefined, false);
  }

  private post(message: HostToDrift): void {
    void this.panel.webview.postMessage(message);
  }

  private postInit(): void {
    this.post({
      type: 'init',
      report: this.report,
      canRerun: this.options.rerun !== undefined,
      rerunLabel: this.options.rerunLabel,
      title: this.options.title,
      state: this.restored,
    });
    if (this.running) this.post({ type: 'rerunning', running: true });
  }

  private receive(raw: unknown): void {
    const message = parseDriftMessage(raw);
    if (!message) return;
    switch (message.type) {
      case 'ready':
        this.ready = true;
        this.postInit();
        break;
      case 'rerun':
        void this.rerun();
        break;
      case 'exportHtml':
        void this.exportHtml();
        break;
      default:
        assertNever(message);
    }
  }

  private async rerun(): Promise<void> {
    const rerun = this.options.rerun;
    if (!rerun || this.running) return;
    this.running = true;
    this.post({ type: 'rerunning', running: true });
    try {
      await rerun();
    } catch (error) {
      void vscode.window.showErrorMessage(
        `Could not run ${this.options.rerunLabel ?? 'the pipeline'} again: ${messageOf(error)}`,
      );
    } finally {
      this.running = false;
      this.post({ type: 'rerunning', running: false });
    }
  }

  private async exportHtml(): Promise<void> {
    try {
      await this.options.exportHtml();
    } catch (error) {
      void vscode.window.showErrorMessage(
        `Could not export the drift report: ${messageOf(error)}. Choose another folder and export again.`,
      );
    }
  }

  private dispose(): void {
    if (panels.get(keyOf(this.report)) === this) panels.delete(keyOf(this.report));
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }
}

/**
 * Shows a drift report. A panel that already shows a report for the same reference and current
 * files is revealed and shows this one instead; otherwise a new panel opens beside the editor.
 */
export function showDriftReport(
  context: vscode.ExtensionContext,
  report: DriftReport,
  options: DriftPanelOptions,
): void {
  const existing = panels.get(keyOf(report));
  if (existing) {
    existing.update(report, options);
    existing.reveal();
    return;
  }
  const panel = vscode.window.createWebviewPanel(
    DRIFT_VIEW_TYPE,
    options.title,
    vscode.ViewColumn.Active,
    webviewOptions(context.extensionUri),
  );
  new DriftPanel(panel, context, report, options);
}

/**
 * Restores drift panels after a reload (package.json needs `onWebviewPanel:mlpipe.drift`). The
 * webview's saved state holds the report, so nothing is recomputed: `restore` gets it and returns
 * the panel's actions (whether the pipeline can run again, how to export). A state without a
 * well-formed report (an older version's) closes the panel with a message. Call once, during activation.
 */
export function registerDriftSerializer(
  context: vscode.ExtensionContext,
  restore: (report: DriftReport, state: DriftState) => Omit<DriftPanelOptions, 'title'> & { title?: string },
): void {
  context.subscriptions.push(
    vscode.window.registerWebviewPanelSerializer(DRIFT_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel, raw: unknown) => {
        const state = driftStateOf(raw);
        if (!state) {
          panel.dispose();
          void vscode.window.showInformationMessage(
            'A drift report could not be restored after the reload: run the drift check again.',
          );
          return;
        }
        panel.webview.options = webviewOptions(context.extensionUri);
        const existing = panels.get(keyOf(state.report));
        if (existing) {
          // Two restored panels for the same files: keep the first.
          panel.dispose();
          return;
        }
        const options = restore(state.report, state);
        new DriftPanel(
          panel,
          context,
          state.report,
          { ...options, title: options.title ?? state.title ?? panel.title },
          state,
        );
      },
    }),
  );
}
