import { buildPlan, PlanError } from '../../../core/src/runner/plan';
import { nodeFileHost } from '../../../core/src/workspace/file-host';
import { DEFAULT_OPTIONS, Workspace } from '../../../core/src/workspace/workspace';

/**
 * A pipeline's stage instances (`train`, `evaluate@test`), in run order, planned from its files
 * on disk. Views and pickers only read: unlike the runner, nothing is cached in `.mlpipe/plans/`,
 * so drawing a tree writes nothing (in an untrusted workspace neither). Throws PlanError for a
 * pipeline with errors.
 */
export function plannedStages(pipelinePath: string): string[] {
  return plannedStageHosts(pipelinePath).map((stage) => stage.name);
}

/** Each stage instance, with the cluster it runs on when its host is a `kubernetes:` one. */
export function plannedStageHosts(pipelinePath: string): { name: string; cluster?: string }[] {
  const analysis = new Workspace(nodeFileHost, { ...DEFAULT_OPTIONS, fileChecks: false }).analyze(
    pipelinePath,
    'pipeline',
  );
  if (analysis.kind !== 'pipeline') throw new PlanError(`${pipelinePath} is not a pipeline`);
  const plan = buildPlan(analysis);
  return plan.stages.map((stage) =>
    plan.hosts[stage.host]?.kubernetes ? { name: stage.name, cluster: stage.host } : { name: stage.name },
  );
}
