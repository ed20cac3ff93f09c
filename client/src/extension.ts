import * as vscode from 'vscode';
import { mlpipeRootOf } from '../../core/src/runs/records';
import { PIPELINE_GLOB } from '../../core/src/util/file-kinds';
import { commandTable } from './commands/table';
import { registerGraphSerializer } from './webviews/graph-panel';
import { Ctx } from './ctx';
import { restoreDriftPanels } from './drift';
import { logTextOf, messageOf } from './errors';
import { openRunLogs } from './experiments/commands';
import { WorkspaceExperiments } from './experiments/source';
import { TrackingSync } from './experiments/tracking';
import { ExperimentsTree } from './experiments/tree';
import { MlpipeTaskProvider, TASK_TYPE } from './pipelines/tasks';
import { PipelinesTree } from './pipelines/tree';
import { RegistryTree } from './registry/tree';
import { RemoteService } from './remote/service';
import { RunController } from './run-controller';
import { registerExperimentPanels } from './webviews';

let current: Ctx | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const activateCalled = performance.now();
  const cpuAtActivate = process.cpuUsage();
  const ctx = new Ctx(context);
  current = ctx;

  const remotes = new RemoteService(ctx);
  const runs = new RunController(ctx, remotes);
  // The sidebar: Pipelines, Experiments and Registry, fed by the workspace's experiment stores and run events.
  const source = new WorkspaceExperiments(runs, ctx.trust, (id) => void openRunLogs(source, id));
  const tracking = new TrackingSync(ctx, source);
  const pipelinesTree = new PipelinesTree(source.onDidChangeRuns);
  const experimentsTree = new ExperimentsTree(source, tracking, remotes);
  const registryTree = new RegistryTree();
  const view = vscode.window.createTreeView('mlpipe.experiments', {
    treeDataProvider: experimentsTree,
    canSelectMany: true,
    showCollapseAll: true,
  });
  const panels = registerExperimentPanels(context, source);
  const pipelineWatcher = vscode.workspace.createFileSystemWatcher(PIPELINE_GLOB);
  const rediscover = () => void source.discover().then(() => pipelinesTree.refresh());
  ctx.pushExtCleanup(
    remotes,
    runs,
    source,
    tracking,
    pipelinesTree,
    experimentsTree,
    registryTree,
    view,
    vscode.tasks.registerTaskProvider(TASK_TYPE, new MlpipeTaskProvider(runs)),
    vscode.window.createTreeView('mlpipe.pipelines', { treeDataProvider: pipelinesTree }),
    vscode.window.createTreeView('mlpipe.registry', { treeDataProvider: registryTree }),
    // A run that ends goes to MLflow when a tracking server is configured.
    runs.onDidRunEvent(({ pipeline, event }) => {
      if (event.type === 'run-end' && tracking.uri) void tracking.send(mlpipeRootOf(pipeline), [event.record.id]);
    }),
    pipelineWatcher,
    pipelineWatcher.onDidCreate(rediscover),
    pipelineWatcher.onDidDelete(rediscover),
    pipelineWatcher.onDidChange(() => pipelinesTree.refresh()),
    // Stores an untrusted workspace left unopened, and the tracking server, once it is trusted.
    vscode.workspace.onDidGrantWorkspaceTrust(() => void source.discover().then(() => tracking.retry())),
  );
  restoreDriftPanels(ctx, runs);
  registerGraphSerializer(ctx, runs);
  ctx.registerCommands(
    commandTable({
      ctx,
      runs,
      experiments: { ctx, source, view, panels, tracking },
      pipelinesTree,
      registryTree,
      remotes,
    }),
  );
  void source
    .discover()
    .then(() => tracking.retry())
    .catch((error: unknown) => ctx.log.error(`could not read the experiment stores: ${logTextOf(error)}`));

  try {
    const registered = performance.now();
    await ctx.startServer();
    // npm run bench:startup reads this line from the MLPipe output (test/bench/startup.bench.ts).
    // The host's CPU time is its own thread's work; the rest of the wall time is the server
    // process starting and answering `initialize`.
    const cpu = process.cpuUsage(cpuAtActivate);
    ctx.log.info(
      `activated: views and commands registered in ${(registered - activateCalled).toFixed(1)} ms, language client running ${(performance.now() - activateCalled).toFixed(1)} ms after activate, extension host CPU ${((cpu.user + cpu.system) / 1000).toFixed(1)} ms`,
    );
  } catch (error) {
    const message = `MLPipe could not start its language server: ${messageOf(error)}`;
    ctx.log.error(message);
    ctx.showError(message);
  }
}

export async function deactivate(): Promise<void> {
  await current?.stopServer();
  current = undefined;
}
