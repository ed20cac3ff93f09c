import { type Diagnostic } from '../diagnostics/diagnostic';
import { type PipelineCheck, type PipelineCheckInput, type PipelineRule } from './check-context';
import {
  checkDriftData,
  checkModelArtifact,
  checkModelCard,
  checkParamsFiles,
  checkPlotFormats,
  checkStagePaths,
} from './check-files';
import {
  checkCycles,
  checkMatrixBudget,
  checkMatrixOutputCollisions,
  checkNeeds,
  checkOutputProducers,
  checkOverlappingOutputs,
} from './check-graph';
import { checkInterpolations, checkStageParams } from './check-params';
import {
  checkClusterParity,
  checkDefaultImage,
  checkHostsAndImages,
  checkOutputRemotes,
  checkResourceValues,
  checkUndeclaredInputs,
  checkValuesInCode,
} from './check-stages';

/*
 * The semantic checks of a pipeline (what the schema cannot say): a list of rules, each reading
 * the check's input and pushing its findings, run in this order, which is the order the findings
 * are reported in (`mlpipe check` prints them so, and its output is compared in tests).
 */

export { type PipelineCheckInput } from './check-context';
export { insertParam } from './check-fixes';
export { linkMessage } from './check-files';

const PIPELINE_RULES: readonly PipelineRule[] = [
  checkParamsFiles,
  checkNeeds,
  checkCycles,
  checkOutputProducers,
  checkOverlappingOutputs,
  checkMatrixOutputCollisions,
  checkMatrixBudget,
  checkStagePaths,
  checkPlotFormats,
  checkInterpolations,
  checkStageParams,
  checkHostsAndImages,
  checkClusterParity,
  checkOutputRemotes,
  checkResourceValues,
  checkDefaultImage,
  checkUndeclaredInputs,
  checkValuesInCode,
  checkModelArtifact,
  checkModelCard,
  checkDriftData,
];

export function checkPipeline(input: PipelineCheckInput): Diagnostic[] {
  const check: PipelineCheck = { input, out: [], checkedNodes: new Set() };
  for (const rule of PIPELINE_RULES) rule(check);
  return check.out;
}
