import * as vscode from 'vscode';
import { type Command, type Ctx } from '../ctx';
import { checkDrift } from '../drift';
import {
  compareRuns,
  deleteRuns,
  markCandidate,
  openRunLogsCommand,
  openRunOutputs,
  syncRuns,
  tagRun,
  type ExperimentsUi,
} from '../experiments/commands';
import { createPipeline, runPipeline, runPipelineOnHost, runStage, showGraph, showStatus } from '../pipelines/commands';
import { type PipelinesTree } from '../pipelines/tree';
import { approveModel, rejectModel } from '../registry/approval';
import { setRegistryCredentials } from '../registry/credentials';
import { pushModel } from '../registry/push';
import { copyReference, type RegistryTree } from '../registry/tree';
import {
  pullCommand,
  pushRunsCommand,
  refreshRemoteState,
  setRemoteCredentialsCommand,
  type RemoteUi,
} from '../remote/commands';
import { type RemoteService } from '../remote/service';
import { type RunController } from '../run-controller';
import { type CommandName } from './ids';

/** What the commands work with, made once at activation. */
export interface Services {
  ctx: Ctx;
  runs: RunController;
  experiments: ExperimentsUi;
  pipelinesTree: PipelinesTree;
  registryTree: RegistryTree;
  remotes: RemoteService;
}

export type CommandTable = { [K in CommandName]: Command };

/**
 * Every command of the extension, by name (the ids are in ./ids.ts): one table, registered by
 * Ctx.registerCommands, which logs and shows whatever a command throws.
 */
export function commandTable({ ctx, runs, experiments, pipelinesTree, registryTree, remotes }: Services): CommandTable {
  const rediscover = async () => {
    await experiments.source.discover();
    pipelinesTree.refresh();
  };
  const registryChanged = () => registryTree.refresh();
  const remoteUi: RemoteUi = { ctx, remotes, source: experiments.source, onPulled: () => pipelinesTree.refresh() };
  return {
    runPipeline: { run: (...args) => runPipeline(ctx, runs, args) },
    runStage: { run: (...args) => runStage(ctx, runs, args, false) },
    runStageUpstream: { run: (...args) => runStage(ctx, runs, args, true) },
    runPipelineOnHost: { run: (...args) => runPipelineOnHost(ctx, runs, args) },
    cancelRun: { run: () => runs.cancel() },
    showStatus: { run: (...args) => showStatus(ctx, args) },
    showPipelineGraph: { run: (...args) => showGraph(ctx, runs, args) },
    restartServer: { run: () => ctx.restartServer() },
    showOutput: { run: () => ctx.log.show() },
    createPipeline: { run: () => createPipeline().then(rediscover) },
    openExperiments: { run: () => experiments.panels.openTable() },
    compareRuns: { run: (item, items) => compareRuns(experiments, item, items) },
    openRunLogs: { run: (item) => openRunLogsCommand(experiments, item) },
    openRunOutputs: { run: (item) => openRunOutputs(experiments, item) },
    tagRun: { run: (item) => tagRun(experiments, item) },
    markCandidate: { run: (item) => markCandidate(experiments, item) },
    deleteRun: { run: (item, items) => deleteRuns(experiments, item, items) },
    // The view's Refresh asks the remotes too, each at most once a minute (Refresh Remote State asks now).
    refreshExperiments: { run: () => rediscover().then(() => void remotes.refresh(false)) },
    syncRuns: { run: () => syncRuns(experiments) },
    checkDrift: { run: () => checkDrift(ctx, runs) },
    approveModel: { run: () => approveModel(ctx, registryChanged) },
    rejectModel: { run: () => rejectModel(ctx, registryChanged) },
    pushModel: { run: (given) => pushModel(ctx, given instanceof vscode.Uri ? given : undefined, registryChanged) },
    setRegistryCredentials: { run: () => setRegistryCredentials(ctx.extension.secrets) },
    copyReference: { run: (node) => copyReference(node) },
    refreshRegistry: { run: registryChanged },
    pushRuns: { run: (item, items) => pushRunsCommand(remoteUi, item, items) },
    pullFromRemote: { run: (given) => pullCommand(remoteUi, given) },
    refreshRemoteState: { run: () => refreshRemoteState(remoteUi) },
    setRemoteCredentials: { run: (given) => setRemoteCredentialsCommand(remoteUi, given) },
  };
}
