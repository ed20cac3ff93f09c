import {
  approvalMetrics,
  GateError,
  loadCandidate,
  nowIso,
  writeApproval,
  type ApprovalBlock,
  type Candidate,
  type GateResult,
} from './gate';

/**
 * Approving and rejecting a model version: the one action behind `mlpipe approve | reject` and
 * VS Code's "Approve/Reject Model Version...". Each writes the approval block into the model card
 * (docs/registry.md), where the pull request reviews it.
 */

export interface Reviewer {
  /** Who approves or rejects; goes into the card. */
  by: string;
  note?: string;
}

/** Approves the candidate of a gate that passed; a gate that failed approves nothing (GateError). */
export function approve(result: GateResult, reviewer: Reviewer): ApprovalBlock {
  const { candidate } = result;
  if (!result.passed) {
    const failed = result.conditions.filter((condition) => !condition.ok).map((condition) => condition.name);
    throw new GateError(`not approved: the gate failed for run ${candidate.run.id} (${failed.join(', ')})`);
  }
  const by = reviewer.by.trim();
  if (!by)
    throw new GateError('an approval names who approves (it goes into the model card, reviewed in the pull request)');
  const note = reviewer.note?.trim();
  const block: ApprovalBlock = {
    status: 'approved',
    by,
    at: nowIso(),
    run: candidate.run.id,
    artifact_digest: candidate.artifactDigest,
    ...(note ? { note } : {}),
    metrics: approvalMetrics(candidate),
  };
  writeApproval(candidate.cardPath, block);
  return block;
}

/** Rejects a run's model (the candidate when no run is named), saying why in the card. */
export function reject(
  pipelinePath: string,
  runId: string | undefined,
  reviewer: Reviewer,
): { candidate: Candidate; block: ApprovalBlock } {
  const by = reviewer.by.trim();
  const note = reviewer.note?.trim();
  if (!by) throw new GateError('a rejection names who rejects');
  if (!note) throw new GateError('a rejection says why: the reason goes into the model card');
  const candidate = loadCandidate(pipelinePath, runId);
  const block: ApprovalBlock = {
    status: 'rejected',
    by,
    at: nowIso(),
    run: candidate.run.id,
    ...(candidate.artifactDigest ? { artifact_digest: candidate.artifactDigest } : {}),
    note,
  };
  writeApproval(candidate.cardPath, block);
  return { candidate, block };
}
