import { type RunRecord, type StageStatus } from '../runs/records';
import { type RunEvent } from './runner';

/**
 * How a run's events read, in the terminal of `mlpipe run` and in VS Code's run terminal and
 * notifications alike. Only the words live here; colours, padding and counters are the caller's.
 */

/** A stage's status in words (`train  ok`, `evaluate@val  up to date`). */
export const STAGE_STATUS_WORDS: Record<StageStatus, string> = {
  pending: 'pending',
  running: 'running',
  succeeded: 'ok',
  skipped: 'up to date',
  restored: 'restored from cache',
  failed: 'FAILED',
  cancelled: 'cancelled',
  blocked: 'blocked',
};

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/** `run ID: 4 stages`, with how many run at once and where the logs go when the caller knows. */
export function runStartText(record: RunRecord, options: { jobs?: number; logs?: string } = {}): string {
  const parts = [plural(record.stages.length, 'stage')];
  if (options.jobs !== undefined) parts.push(`up to ${options.jobs} at once`);
  return `run ${record.id}: ${parts.join(', ')}${options.logs !== undefined ? `; logs in ${options.logs}` : ''}`;
}

/** After the stage's name: `started on gpu-box, attempt 2`. */
export function stageStartText(event: Extract<RunEvent, { type: 'stage-start' }>): string {
  return `started on ${event.host}${event.attempt > 1 ? `, attempt ${event.attempt}` : ''}`;
}

/** After the stage's name: `ok`, `up to date`, `FAILED: exited with code 1`. */
export function stageEndText(event: Pick<Extract<RunEvent, { type: 'stage-end' }>, 'status' | 'reason'>): string {
  return `${STAGE_STATUS_WORDS[event.status] ?? event.status}${event.reason ? `: ${event.reason}` : ''}`;
}

/** The stages of a run by status, in words, in the order they first appear: `1 ok, 3 up to date`. */
export function stageCountsText(record: RunRecord): string {
  const counts = new Map<string, number>();
  for (const stage of record.stages) counts.set(stage.status, (counts.get(stage.status) ?? 0) + 1);
  return [...counts]
    .map(([status, count]) => `${count} ${STAGE_STATUS_WORDS[status as StageStatus] ?? status}`)
    .join(', ');
}

/** How a run ended: `succeeded`, `cancelled`, `failed in stage train: exited with code 1`, `failed: <why>`. */
export function runOutcomeText(record: RunRecord): string {
  if (record.status !== 'failed') return record.status;
  const failed = record.stages.find((stage) => stage.status === 'failed');
  if (failed)
    return `failed in stage ${failed.name}${failed.reason || failed.error ? `: ${failed.reason ?? failed.error}` : ''}`;
  return `failed${record.error ? `: ${record.error}` : ''}`;
}

/** `run ID succeeded (4 ok)`, `run ID failed in stage train: exited with code 1 (1 ok, 1 FAILED, 2 blocked)`. */
export function runEndText(record: RunRecord): string {
  const counts = stageCountsText(record);
  return `run ${record.id} ${runOutcomeText(record)}${counts ? ` (${counts})` : ''}`;
}

/** A notice the runner gives during a run. */
export function noticeText(event: Extract<RunEvent, { type: 'notice' }>): string {
  return `note: ${event.message}`;
}
