/**
 * Every command the extension contributes, by name; the values are package.json's
 * `contributes.commands` ids (test/unit/project.test.ts keeps the two equal). The code-lens
 * commands are declared with their arguments in core/src/language/commands.ts, which the
 * language server shares: their ids are taken from there.
 */
import {
  RUN_PIPELINE,
  RUN_PIPELINE_ON_HOST,
  RUN_STAGE_UPSTREAM,
  SHOW_PIPELINE_GRAPH,
} from '../../../core/src/language/commands';

export const Cmd = {
  runPipeline: RUN_PIPELINE,
  runStage: 'mlpipe.runStage',
  runStageUpstream: RUN_STAGE_UPSTREAM,
  runPipelineOnHost: RUN_PIPELINE_ON_HOST,
  showPipelineGraph: SHOW_PIPELINE_GRAPH,
  cancelRun: 'mlpipe.cancelRun',
  showStatus: 'mlpipe.showStatus',
  restartServer: 'mlpipe.restartServer',
  showOutput: 'mlpipe.showOutput',
  createPipeline: 'mlpipe.createPipeline',
  openExperiments: 'mlpipe.openExperiments',
  compareRuns: 'mlpipe.compareRuns',
  openRunLogs: 'mlpipe.openRunLogs',
  openRunOutputs: 'mlpipe.openRunOutputs',
  tagRun: 'mlpipe.tagRun',
  markCandidate: 'mlpipe.markCandidate',
  deleteRun: 'mlpipe.deleteRun',
  refreshExperiments: 'mlpipe.refreshExperiments',
  syncRuns: 'mlpipe.syncRuns',
  checkDrift: 'mlpipe.checkDrift',
  approveModel: 'mlpipe.approveModel',
  rejectModel: 'mlpipe.rejectModel',
  pushModel: 'mlpipe.pushModel',
  setRegistryCredentials: 'mlpipe.setRegistryCredentials',
  copyReference: 'mlpipe.copyReference',
  refreshRegistry: 'mlpipe.refreshRegistry',
  pushRuns: 'mlpipe.pushRuns',
  pullFromRemote: 'mlpipe.pullFromRemote',
  refreshRemoteState: 'mlpipe.refreshRemoteState',
  setRemoteCredentials: 'mlpipe.setRemoteCredentials',
} as const;

export type CommandName = keyof typeof Cmd;
export type CommandId = (typeof Cmd)[CommandName];
