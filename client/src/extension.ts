import * as vscode from 'vscode';
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import { SERVER_NODE_FLAGS } from '../../core/src/server-runtime';
import { readSettings } from '../../core/src/settings';
import { Runner } from '../../core/src/runner/runner';
import { choosePipeline } from './pipelines';
import { BoundedRestarts } from './restart-policy';
import { RunController } from './run-controller';
import { MlpipeTaskProvider, TASK_TYPE } from './tasks';
import { openRunLogs, registerRunCommands } from './experiments/commands';
import { WorkspaceExperiments } from './experiments/source';
import { TrackingSync } from './experiments/tracking';
import { ExperimentsTree, PipelinesTree, type PipelineNode } from './experiments/trees';
import { registerExperimentPanels } from './webviews';
import { checkDrift, restoreDriftPanels } from './drift';
import { approveModel, pushModel, RegistryTree, rejectModel, setRegistryCredentials, type RegistryNode } from './registry';
import { PIPELINE_GLOB } from '../../core/src/util/file-kinds';
import { mlpipeRootOf } from '../../core/src/runs/records';

/** The client id equals the settings prefix, so `mlpipe.trace.server` traces the protocol. */
const CLIENT_ID = 'mlpipe';

/** Things that live as long as one language client; disposed when the server restarts. */
class ClientScope {
  readonly disposables: vscode.Disposable[] = [];

  constructor(readonly client: LanguageClient) {}

  async dispose(): Promise<void> {
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
    if (this.client.isRunning()) await this.client.stop();
  }
}

let scope: ClientScope | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const log = vscode.window.createOutputChannel('MLPipe', { log: true });
  context.subscriptions.push(log);

  const startClient = async () => {
    const serverModule = context.asAbsolutePath('dist/server.js');
    const serverOptions: ServerOptions = {
      run: { module: serverModule, transport: TransportKind.ipc, options: { execArgv: [...SERVER_NODE_FLAGS] } },
      debug: { module: serverModule, transport: TransportKind.ipc, options: { execArgv: [...SERVER_NODE_FLAGS, '--nolazy', '--inspect=6010'] } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { language: 'mlpipe-pipeline' },
        { language: 'mlpipe-modelcard' },
        // Params files are plain YAML; the server answers for the ones a pipeline lists and ignores the rest.
        { language: 'yaml', scheme: 'file' },
      ],
      outputChannel: log,
      initializationOptions: { settings: readSettings(vscode.workspace.getConfiguration('mlpipe')) },
      errorHandler: new BoundedRestarts((message) => void vscode.window.showErrorMessage(message, 'Show Output').then((choice) => choice && log.show())),
    };
    const client = new LanguageClient(CLIENT_ID, 'MLPipe Language Server', serverOptions, clientOptions);
    scope = new ClientScope(client);
    await client.start();
    log.info('language server started');
  };

  const runs = new RunController(log);
  context.subscriptions.push(runs, vscode.tasks.registerTaskProvider(TASK_TYPE, new MlpipeTaskProvider(runs)));

  // The sidebar: Pipelines and Experiments, fed by the workspace's experiment stores and run events.
  const experiments = new WorkspaceExperiments(runs, (id) => void openRunLogs(experiments, id));
  const pipelinesTree = new PipelinesTree(experiments);
  const tracking = new TrackingSync(experiments, log);
  const experimentsView = vscode.window.createTreeView('mlpipe.experiments', { treeDataProvider: new ExperimentsTree(experiments, tracking), canSelectMany: true, showCollapseAll: true });
  const panels = registerExperimentPanels(context, experiments);
  const registryTree = new RegistryTree();
  restoreDriftPanels(context, runs);
  const pipelineWatcher = vscode.workspace.createFileSystemWatcher(PIPELINE_GLOB);
  const rediscover = () => void experiments.discover().then(() => pipelinesTree.refresh());
  context.subscriptions.push(
    experiments,
    tracking,
    experimentsView,
    // A run that ends goes to MLflow when a tracking server is configured.
    runs.onDidRunEvent(({ pipeline, event }) => {
      if (event.type === 'run-end' && tracking.uri) void tracking.send(mlpipeRootOf(pipeline), [event.record.id]);
    }),
    vscode.window.createTreeView('mlpipe.pipelines', { treeDataProvider: pipelinesTree }),
    vscode.window.createTreeView('mlpipe.registry', { treeDataProvider: registryTree }),
    pipelineWatcher,
    pipelineWatcher.onDidCreate(rediscover),
    pipelineWatcher.onDidDelete(rediscover),
    pipelineWatcher.onDidChange(() => pipelinesTree.refresh()),
    ...registerRunCommands(experiments, experimentsView, panels, tracking),
  );
  void experiments
    .discover()
    .then(() => tracking.retry())
    .catch((error: unknown) => log.error(`could not read the experiment stores: ${error instanceof Error ? error.message : String(error)}`));
  const runStage = async (uri: unknown, stage: unknown, upstream: boolean) => {
    // From the Pipelines view the argument is the stage's node.
    const node = uri as PipelineNode | undefined;
    if (node && typeof node === 'object' && 'kind' in node && node.kind === 'stage') [uri, stage] = [node.uri, node.name];
    if (node && typeof node === 'object' && 'kind' in node && node.kind === 'pipeline') uri = node.uri;
    const pipeline = await choosePipeline(uri);
    if (!pipeline) return;
    const name = typeof stage === 'string' ? stage : await pickStage(pipeline);
    if (name) await runs.runInTerminal({ pipeline, stages: [name], upstream });
  };

  const commands: Record<string, (...args: unknown[]) => unknown> = {
    'mlpipe.runPipeline': async (uri: unknown) => {
      const node = uri as PipelineNode | undefined;
      const pipeline = await choosePipeline(node && typeof node === 'object' && 'kind' in node && node.kind === 'pipeline' ? node.uri : uri);
      if (pipeline) await runs.runInTerminal({ pipeline, stages: [], upstream: false });
    },
    'mlpipe.runStage': (uri: unknown, stage: unknown) => runStage(uri, stage, false),
    'mlpipe.runStageUpstream': (uri: unknown, stage: unknown) => runStage(uri, stage, true),
    'mlpipe.cancelRun': () => runs.cancel(),
    'mlpipe.showStatus': async (uri: unknown) => {
      const pipeline = await choosePipeline(uri);
      if (pipeline) await runs.showStatus(pipeline);
    },
    'mlpipe.restartServer': async () => {
      await scope?.dispose();
      scope = undefined;
      await startClient();
    },
    'mlpipe.showOutput': () => log.show(),
    'mlpipe.checkDrift': () => checkDrift(context, runs, log),
    'mlpipe.approveModel': () => approveModel(() => registryTree.refresh()),
    'mlpipe.rejectModel': () => rejectModel(() => registryTree.refresh()),
    'mlpipe.pushModel': (uri: unknown) => pushModel(context, uri, () => registryTree.refresh()),
    'mlpipe.setRegistryCredentials': () => setRegistryCredentials(context),
    'mlpipe.copyReference': async (node: unknown) => {
      const record = (node as RegistryNode | undefined)?.kind === 'version' ? (node as Extract<RegistryNode, { kind: 'version' }>).record : undefined;
      if (!record) return;
      await vscode.env.clipboard.writeText(record.reference);
      void vscode.window.showInformationMessage(`MLPipe: copied ${record.reference}`);
    },
    'mlpipe.refreshRegistry': () => registryTree.refresh(),
    'mlpipe.refreshExperiments': async () => {
      await experiments.discover();
      pipelinesTree.refresh();
    },
    'mlpipe.createPipeline': async () => {
      const folder = vscode.workspace.workspaceFolders?.[0];
      if (!folder) return void vscode.window.showInformationMessage('MLPipe: open a folder first.');
      const uri = vscode.Uri.joinPath(folder.uri, 'mlpipe.yaml');
      try {
        await vscode.workspace.fs.stat(uri);
      } catch {
        await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(STARTER_PIPELINE));
      }
      await vscode.window.showTextDocument(uri);
      await experiments.discover();
      pipelinesTree.refresh();
    },
  };
  for (const [id, handler] of Object.entries(commands)) context.subscriptions.push(vscode.commands.registerCommand(id, handler));

  try {
    await startClient();
  } catch (error) {
    const message = `MLPipe could not start its language server: ${error instanceof Error ? error.message : String(error)}`;
    log.error(message);
    void vscode.window.showErrorMessage(message, 'Show Output').then((choice) => choice && log.show());
  }
}

const STARTER_PIPELINE = `# An mlpipe pipeline: stages run in Docker containers; see the README for every field.
version: 1
name: my-pipeline
stages:
  train:
    image: python:3.11-slim
    cmd: python3 train.py
    deps: [train.py]
    outs: [model.bin]
    metrics: [metrics.json]
`;

/** A stage of the pipeline, picked by the user; the plan says which stages (and variants) exist. */
async function pickStage(pipeline: vscode.Uri): Promise<string | undefined> {
  let names: string[];
  try {
    names = Runner.open(pipeline.fsPath).plan().stages.map((stage) => stage.name);
  } catch (error) {
    void vscode.window.showErrorMessage(`MLPipe: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
  return vscode.window.showQuickPick(names, { title: `MLPipe: run which stage of ${vscode.workspace.asRelativePath(pipeline)}?` });
}

export async function deactivate(): Promise<void> {
  await scope?.dispose();
  scope = undefined;
}
