// The extension-host side of the pipeline graph (webviews/src/graph/). The message contract both
// sides speak is webviews/src/graph/contract.ts; the graph itself is core's (core/src/runner/dag.ts).
import { existsSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import * as vscode from 'vscode';
import { mlpipeRootOf, type StageStatus } from '../../../core/src/runs/records';
import { ExperimentStore } from '../../../core/src/store/store';
import { buildDag } from '../../../core/src/runner/dag';
import { buildPlan, type Plan } from '../../../core/src/runner/plan';
import { Runner } from '../../../core/src/runner/runner';
import { pipelineStatus } from '../../../core/src/runner/status';
import { Boundary } from '../../../core/src/util/boundary';
import { nodeFileHost, type FileHost } from '../../../core/src/workspace/file-host';
import { DEFAULT_OPTIONS, Workspace, type PipelineAnalysis } from '../../../core/src/workspace/workspace';
import {
  assertNever,
  GRAPH_VIEW_TYPE,
  graphStateOf,
  parseGraphMessage,
  type GraphEdge,
  type GraphNode,
  type HostToGraph,
  type NodeState,
  type StateUpdate,
} from '../../../webviews/src/graph/contract';
import { type Ctx } from '../ctx';
import { messageOf } from '../errors';
import { type RunController } from '../run-controller';
import { panelHtml, webviewOptions } from './html';

export { GRAPH_VIEW_TYPE };

/** How long the graph waits after the last keystroke before it is planned again. */
const EDIT_DEBOUNCE_MS = 300;

const LIVE: Partial<Record<StageStatus, NodeState>> = {
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
  blocked: 'cancelled',
  skipped: 'up-to-date',
  restored: 'cached',
};

/** Files as the editor has them: an unsaved edit shows in the graph before it is saved. */
function editorFileHost(): FileHost {
  const open = new Map(
    vscode.workspace.textDocuments
      .filter((document) => document.uri.scheme === 'file' && document.isDirty)
      .map((document) => [document.uri.fsPath, document.getText()]),
  );
  return {
    readFile: (path) => open.get(path) ?? nodeFileHost.readFile(path),
    stat: (path) => {
      const text = open.get(path);
      return text === undefined
        ? nodeFileHost.stat(path)
        : { isFile: true, isDirectory: false, size: text.length, mtimeMs: Date.now() };
    },
    readDirectory: (path) => nodeFileHost.readDirectory(path),
  };
}

const panels = new Map<string, GraphPanel>();

class GraphPanel {
  private readonly disposables: vscode.Disposable[] = [];
  private readonly path: string;
  private ready = false;
  private nodes: GraphNode[] = [];
  private edges: GraphEdge[] = [];
  private note: string | undefined;
  private analysis: PipelineAnalysis | undefined;
  private plan: Plan | undefined;
  private states = new Map<string, StateUpdate>();
  private editTimer: ReturnType<typeof setTimeout> | undefined;
  private statusVersion = 0;

  constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly ctx: Ctx,
    private readonly runs: RunController,
    private readonly pipeline: vscode.Uri,
  ) {
    this.path = pipeline.fsPath;
    const extensionUri = ctx.extension.extensionUri;
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'images', 'icon.png');
    panel.webview.options = webviewOptions(extensionUri);
    panel.webview.html = panelHtml(panel.webview, extensionUri, 'graph', this.title());
    this.disposables.push(
      panel.webview.onDidReceiveMessage((message: unknown) => this.receive(message)),
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.ready = false;
      }),
      panel.onDidDispose(() => this.dispose()),
      vscode.workspace.onDidChangeTextDocument((event) => {
        if (this.reads(event.document.uri.fsPath)) this.edited();
      }),
      vscode.workspace.onDidSaveTextDocument((document) => {
        if (this.reads(document.uri.fsPath)) void this.refreshStatus();
      }),
      vscode.window.onDidChangeTextEditorSelection((event) => this.cursorMoved(event)),
      runs.onDidRunEvent(({ pipeline: path, event }) => {
        if (path !== this.path) return;
        if (event.type === 'stage-start')
          this.setStates([{ id: `stage:${event.stage}`, state: 'running', startedAt: Date.now() }]);
        else if (event.type === 'stage-end') {
          const state = LIVE[event.status];
          if (state)
            this.setStates([
              { id: `stage:${event.stage}`, state, ...(event.reason ? { reasons: [event.reason] } : {}) },
            ]);
        } else if (event.type === 'run-end') void this.refreshStatus();
      }),
    );
    panels.set(this.path, this);
    this.rebuild();
    void this.refreshStatus();
  }

  private title(): string {
    return `Graph: ${vscode.workspace.asRelativePath(this.pipeline)}`;
  }

  reveal(): void {
    this.panel.reveal(undefined, false);
  }

  /** Whether the graph depends on this file: the pipeline or one of its params files (or its card). */
  private reads(path: string): boolean {
    return path === this.path || (this.analysis?.inputs.has(path) ?? false);
  }

  private edited(): void {
    clearTimeout(this.editTimer);
    this.editTimer = setTimeout(() => {
      this.rebuild();
      if (this.ready) this.post({ type: 'graph', nodes: this.withStates(), edges: this.edges, note: this.note });
    }, EDIT_DEBOUNCE_MS);
  }

  /** Plans the pipeline as the editor has it; on errors keeps the last graph and says why. */
  private rebuild(): void {
    let plan: Plan;
    try {
      const analysis = new Workspace(editorFileHost(), { ...DEFAULT_OPTIONS, fileChecks: false }).analyze(
        this.path,
        'pipeline',
      );
      if (analysis.kind !== 'pipeline') throw new Error('not a pipeline');
      plan = buildPlan(analysis);
      this.analysis = analysis;
      this.plan = plan;
      const dag = buildDag(plan, {
        artifact: analysis.model.modelArtifact?.name,
        card: analysis.model.modelCard?.name,
      });
      this.nodes = dag.nodes.map((node) => ({
        id: node.id,
        kind: node.kind,
        label: node.label,
        ...(node.group ? { group: node.group } : {}),
      }));
      this.edges = dag.edges;
      this.note = this.ctx.trust.trusted
        ? undefined
        : 'States need a trusted workspace: the graph shows the structure only.';
    } catch (error) {
      this.note = `${vscode.workspace.asRelativePath(this.pipeline)} does not plan (${messageOf(error)}): ${this.nodes.length > 0 ? 'showing the last graph that did' : 'fix it and the graph appears'} (mlpipe check lists the problems).`;
    }
  }

  /** The status of every stage from the local cache state (no engine, no remote), then posted. */
  private async refreshStatus(): Promise<void> {
    if (!this.ctx.trust.trusted) return;
    const version = ++this.statusVersion;
    try {
      const reports = await pipelineStatus(Runner.open(this.path), { stages: [], upstream: false, images: false });
      if (version !== this.statusVersion) return;
      this.states = new Map(
        reports.map((report) => [
          `stage:${report.name}`,
          { id: `stage:${report.name}`, state: report.state, reasons: report.reasons },
        ]),
      );
      if (this.ready) this.post({ type: 'states', states: [...this.states.values()] });
    } catch (error) {
      this.ctx.log.warn(`graph: status of ${this.path}: ${messageOf(error)}`);
    }
  }

  private setStates(updates: StateUpdate[]): void {
    for (const update of updates) this.states.set(update.id, update);
    if (this.ready) this.post({ type: 'states', states: updates });
  }

  private withStates(): GraphNode[] {
    return this.nodes.map((node) => {
      const state = this.states.get(node.id);
      return state ? { ...node, state: state.state, reasons: state.reasons, startedAt: state.startedAt } : node;
    });
  }

  private post(message: HostToGraph): void {
    void this.panel.webview.postMessage(message);
  }

  private known = (id: string) => this.nodes.some((node) => node.id === id);

  private receive(raw: unknown): void {
    const message = parseGraphMessage(raw, this.known);
    if (!message) return;
    switch (message.type) {
      case 'ready':
        this.ready = true;
        this.post({
          type: 'init',
          title: this.title(),
          pipeline: this.pipeline.toString(),
          nodes: this.withStates(),
          edges: this.edges,
          canRun: this.ctx.trust.trusted,
          note: this.note,
        });
        break;
      case 'reveal':
        void this.revealInEditor(message.id);
        break;
      case 'run':
        void this.run(message.ids, message.upstream);
        break;
      case 'openLog':
        void this.openLog(message.id);
        break;
      case 'openOutputs':
        void this.openOutputs(message.id);
        break;
      default:
        assertNever(message);
    }
  }

  private async run(ids: string[], upstream: boolean): Promise<void> {
    if (!this.ctx.trust.allows('run')) return;
    const stages = ids.filter((id) => id.startsWith('stage:')).map((id) => id.slice('stage:'.length));
    if (stages.length > 0) await this.runs.runInTerminal({ pipeline: this.pipeline, stages, upstream });
  }

  /** A stage: its key in the pipeline; a file: the file, when it is inside the pipeline's folder. */
  private async revealInEditor(id: string): Promise<void> {
    const node = this.nodes.find((one) => one.id === id);
    if (!node) return;
    if (node.kind === 'stage') {
      const name = node.group ?? node.label;
      const stage = this.analysis?.model.stageByName.get(name);
      const document = await vscode.workspace.openTextDocument(this.pipeline);
      const editor = await vscode.window.showTextDocument(document, {
        viewColumn: vscode.ViewColumn.One,
        preserveFocus: false,
      });
      if (stage) {
        const start = document.positionAt(stage.pair.start);
        editor.selection = new vscode.Selection(start, start);
        editor.revealRange(new vscode.Range(start, start), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
      }
      return;
    }
    await this.openFile(node);
  }

  /** A file node: the file in the editor, a folder in the Explorer, when it stays inside the pipeline's folder. */
  private async openFile(node: GraphNode): Promise<void> {
    const file = revealTarget(dirname(this.path), node.label);
    if (file === undefined) {
      void vscode.window.showInformationMessage(
        `MLPipe: ${node.label} is not opened: it is outside the pipeline's folder or a link that leads out of it.`,
      );
      return;
    }
    try {
      const stat = await vscode.workspace.fs.stat(vscode.Uri.file(file));
      if (stat.type & vscode.FileType.Directory) {
        await vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(file));
        return;
      }
      await vscode.window.showTextDocument(vscode.Uri.file(file), { viewColumn: vscode.ViewColumn.One });
    } catch {
      void vscode.window.showInformationMessage(`MLPipe: ${node.label} does not exist yet.`);
    }
  }

  /** A stage's log in the newest run of this pipeline that has one (the store's own log path, never a record's word). */
  private async openLog(id: string): Promise<void> {
    const stage = id.slice('stage:'.length);
    const dir = dirname(this.path);
    try {
      const store = ExperimentStore.open(mlpipeRootOf(this.path));
      const pipeline = relative(dir, this.path);
      for (const run of store
        .runs()
        .filter((one) => one.summary.pipeline === pipeline)
        .slice(0, 200)) {
        const file = revealTarget(dir, relative(dir, store.dir.logPath(run.summary.id, stage)));
        if (file && existsSync(file)) {
          await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: true });
          return;
        }
      }
      void vscode.window.showInformationMessage(`MLPipe: no run of this pipeline has a log of ${stage} yet.`);
    } catch (error) {
      void vscode.window.showWarningMessage(`MLPipe: the logs of ${stage} could not be read: ${messageOf(error)}`);
    }
  }

  /** A stage's outputs: the one it has, or the one the user picks; a folder is shown in the Explorer. */
  private async openOutputs(id: string): Promise<void> {
    const stage = this.plan?.byName.get(id.slice('stage:'.length));
    const outputs = stage?.outputs.map((output) => output.path) ?? [];
    if (outputs.length === 0) {
      void vscode.window.showInformationMessage(`MLPipe: ${id.slice('stage:'.length)} declares no outputs.`);
      return;
    }
    const path =
      outputs.length === 1
        ? outputs[0]
        : await vscode.window.showQuickPick(outputs, { title: `MLPipe: which output of ${stage?.name}?` });
    if (!path) return;
    const node: GraphNode = { id: `source:${path}`, kind: 'source', label: path };
    await this.openFile(node);
  }

  /** The editor's cursor in a stage of this pipeline selects its node. */
  private cursorMoved(event: vscode.TextEditorSelectionChangeEvent): void {
    if (!this.ready || event.textEditor.document.uri.fsPath !== this.path || !this.analysis) return;
    const offset = event.textEditor.document.offsetAt(event.selections[0].active);
    const stage = this.analysis.model.stages.find((one) => one.pair.start <= offset && offset <= one.pair.end);
    if (!stage) return;
    const first = stage.variants[0]?.name ?? stage.name;
    if (this.known(`stage:${first}`)) this.post({ type: 'select', id: `stage:${first}` });
  }

  private dispose(): void {
    clearTimeout(this.editTimer);
    if (panels.get(this.path) === this) panels.delete(this.path);
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }
}

/**
 * The file a node's path names, to show in the editor: inside the pipeline's folder, and not
 * through a link that leads out of it (a pipeline from someone else may make data/raw.csv a link
 * to a key). Undefined when it is not one to open; a file that does not exist yet is returned.
 */
export function revealTarget(dir: string, path: string): string | undefined {
  const boundary = new Boundary(dir);
  const file = resolve(dir, path);
  if (!boundary.contains(file) || relative(dir, file) === '') return undefined;
  try {
    boundary.resolveRead(file);
  } catch {
    return undefined;
  }
  return file;
}

/** Shows the graph of a pipeline: its panel when one is open, else a new one beside the editor. */
export function showPipelineGraph(ctx: Ctx, runs: RunController, pipeline: vscode.Uri): void {
  const existing = panels.get(pipeline.fsPath);
  if (existing) {
    existing.reveal();
    return;
  }
  const panel = vscode.window.createWebviewPanel(
    GRAPH_VIEW_TYPE,
    `Graph: ${vscode.workspace.asRelativePath(pipeline)}`,
    vscode.ViewColumn.Beside,
    webviewOptions(ctx.extension.extensionUri),
  );
  new GraphPanel(panel, ctx, runs, pipeline);
}

/** Brings graph panels back after a reload (package.json: `onWebviewPanel:mlpipe.graph`). */
export function registerGraphSerializer(ctx: Ctx, runs: RunController): void {
  ctx.pushExtCleanup(
    vscode.window.registerWebviewPanelSerializer(GRAPH_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel, raw: unknown) => {
        const state = graphStateOf(raw);
        const uri = state ? vscode.Uri.parse(state.pipeline) : undefined;
        // The saved state is the webview's word: only a pipeline of this window's folders comes back.
        if (!uri || uri.scheme !== 'file' || panels.has(uri.fsPath) || !vscode.workspace.getWorkspaceFolder(uri)) {
          panel.dispose();
          return;
        }
        try {
          await vscode.workspace.fs.stat(uri);
        } catch {
          panel.dispose();
          return;
        }
        new GraphPanel(panel, ctx, runs, uri);
      },
    }),
  );
}
