import { MlflowClient, trackingUri, trackingUriProblem } from './mlflow';
import { loadRunForTracking, TrackingOutbox, type FlushResult } from './outbox';
import { redactText, redactUri } from './transfer';

/**
 * Sending runs to MLflow, as the CLI and the extension both do it: queue the run in the workspace
 * (`.mlpipe/tracking/outbox`), then flush the queue. A server that is down leaves every run
 * queued with its error; the next flush (the next run, `mlpipe runs sync`, the editor's retry)
 * sends it. Nothing is lost and the run itself never fails because of tracking.
 */
export interface TrackingTarget {
  uri: string;
  client: MlflowClient;
}

/** The tracking server to use, or why the configured one cannot be used (undefined for both: none configured). */
export function trackingTarget(
  setting: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): { target?: TrackingTarget; problem?: string } {
  const uri = trackingUri(setting, env);
  if (uri) {
    const client = new MlflowClient(uri, { env });
    // client.uri has any user:password@ taken out: it is what messages and logs show.
    return { target: { uri: client.uri, client } };
  }
  const problem = trackingUriProblem(setting, env);
  return problem ? { problem } : {};
}

export async function sendRuns(
  mlpipeRoot: string,
  target: TrackingTarget,
  runIds: string[],
  options: { force?: boolean } = {},
): Promise<FlushResult> {
  const outbox = new TrackingOutbox(mlpipeRoot);
  for (const id of runIds) outbox.enqueue(id);
  return outbox.flush(target.client, (id) => loadRunForTracking(mlpipeRoot, id), { force: options.force ?? true });
}

/**
 * What a flush did, for a terminal or a log: what went, what went only in part (PARTIAL), what
 * did not, values cut, what waits and why. Never calls a partial send "logged".
 */
export function describeFlush(result: FlushResult, uri: string): string {
  const shown = redactUri(uri);
  if (result.busy) return `MLflow: another mlpipe process is sending runs to ${shown}; yours are queued and go with it`;
  const parts: string[] = [];
  const runs = (list: { runId: string }[] | string[]) =>
    list.length === 1 ? `run ${typeof list[0] === 'string' ? list[0] : list[0].runId}` : `${list.length} runs`;
  const partial = result.failed.filter((failure) => failure.partial);
  const failed = result.failed.filter((failure) => !failure.partial);
  if (result.sent.length > 0) parts.push(`logged ${runs(result.sent)} to ${shown}`);
  if (partial.length > 0) parts.push(`PARTIAL: ${runs(partial)} ${partial[0].error}`);
  if (failed.length > 0) parts.push(`could not log ${runs(failed)}: ${failed[0].error}`);
  for (const { runId, warning } of result.warnings.slice(0, 3)) parts.push(`note for run ${runId}: ${warning}`);
  if (result.warnings.length > 3) parts.push(`${result.warnings.length - 3} more notes`);
  if (result.pending > 0)
    parts.push(
      `${result.pending} run${result.pending === 1 ? '' : 's'} queued in .mlpipe/tracking/outbox; \`mlpipe runs sync\` sends ${result.pending === 1 ? 'it' : 'them'}`,
    );
  if (parts.length === 0) parts.push(`nothing to send to ${shown}`);
  return redactText(`MLflow: ${parts.join('; ')}`);
}
