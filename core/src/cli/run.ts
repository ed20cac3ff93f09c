import { availableParallelism } from 'node:os';
import { relative } from 'node:path';
import { type FileHost } from '../workspace/file-host';
import { HostError } from '../runner/engine';
import { RunError, Runner, type RunEvent } from '../runner/runner';
import { formatDiff, pipelineDiff } from '../runner/diff';
import { pipelineStatus, type StageReport } from '../runner/status';
import { type CliIo } from './io';
import { progressReporter, pushText } from './cache';
import { pushRuns, runIndexOf } from '../runner/remote-cache';
import { type RunRecord } from '../runs/records';
import { UsageError } from '../errors';
import { describeFlush, sendRuns, trackingTarget } from '../tracking/sync';
import { findPipeline } from './pipeline-file';
import { redactText, redactUri } from '../tracking/transfer';
// Runs whose artifacts the server keeps in S3 are written with the remote cache's S3 client (ADR 0018).
import '../remote/mlflow-s3';
import { noticeText, runEndText, runStartText, stageEndText, stageStartText } from '../runner/event-text';

export interface RunCommandOptions {
  stages: string[];
  pipeline?: string;
  upstream: boolean;
  force: boolean;
  host?: string;
  jobs?: number;
  dryRun: boolean;
  /** Consult the default remote's run-cache (--no-pull turns it off). */
  pull?: boolean;
  /** Push the run to the default remote when it ends (also when .mlpipe/config.yaml says push: true). */
  push?: boolean;
  tty: boolean;
  signal: AbortSignal;
}

/** `mlpipe run`: exit 0 when every stage finished, 1 when one failed or was cancelled, 2 for usage errors. */
export async function runCommand(options: RunCommandOptions, io: CliIo, host: FileHost): Promise<number> {
  const runner = Runner.open(findPipeline(io.cwd, options.pipeline), host);
  if (options.jobs !== undefined && !(options.jobs >= 1))
    throw new UsageError('--jobs must be a positive whole number');
  try {
    if (options.dryRun) {
      const remote = options.pull === false ? undefined : runner.openRemote(runner.plan());
      try {
        const reports = await pipelineStatus(runner, {
          stages: options.stages,
          upstream: options.upstream,
          images: true,
          ...(remote ? { remote } : {}),
          onRemoteFailure: (message) => io.stderr(`note: ${message}; said without the remote\n`),
        });
        io.stdout(formatStatus(reports, true));
      } finally {
        remote?.close();
      }
      return 0;
    }
    const width = Math.max(...runner.plan().stages.map((stage) => stage.name.length), 5);
    const label = (stage: string) => (options.tty ? `\u001b[36m${stage.padEnd(width)}\u001b[0m` : stage.padEnd(width));
    // Progress: a line when a stage starts and one when it ends, counted; colours on a terminal only.
    let total = 0;
    let ended = 0;
    const dim = (text: string) => (options.tty ? `\u001b[2m${text}\u001b[0m` : text);
    const onEvent = (event: RunEvent) => {
      switch (event.type) {
        case 'run-start':
          total = event.record.stages.length;
          io.stderr(
            `${runStartText(event.record, { jobs: options.jobs ?? availableParallelism(), logs: relative(io.cwd, runner.mlpipe.runDir(event.record.id)) })}\n`,
          );
          break;
        case 'stage-start':
          io.stderr(`${label(event.stage)} ${dim(stageStartText(event))}\n`);
          break;
        case 'log':
          io.stdout(`${label(event.stage)} | ${event.line}\n`);
          break;
        case 'stage-end':
          ended++;
          io.stderr(`${label(event.stage)} ${stageEndText(event)} ${dim(`[${ended}/${total}]`)}\n`);
          break;
        case 'run-end':
          io.stderr(`${runEndText(event.record)}\n`);
          break;
        case 'notice':
          io.stderr(`${noticeText(event)}\n`);
          break;
        case 'series':
          break;
      }
    };
    const progress = progressReporter(io, Boolean(process.stderr.isTTY));
    const record = await runner.run(
      {
        stages: options.stages,
        upstream: options.upstream,
        force: options.force,
        host: options.host,
        jobs: options.jobs,
        signal: options.signal,
        cancelBySignal: true,
        pull: options.pull !== false,
        remote: { onProgress: progress.onProgress },
      },
      onEvent,
    );
    progress.done();
    await track(runner.mlpipe.root, [record.id], io);
    const pushed = await pushAfterRun(runner, record, options, io);
    return record.status === 'succeeded' && pushed ? 0 : 1;
  } catch (error) {
    if (error instanceof RunError || error instanceof HostError) throw new UsageError(error.message, error.exitCode);
    throw error;
  }
}

/** `--push` (or `push: true` in .mlpipe/config.yaml): the run's entries and objects to the default remote; false when that failed. */
async function pushAfterRun(
  runner: Runner,
  record: RunRecord,
  options: RunCommandOptions,
  io: CliIo,
): Promise<boolean> {
  const progress = progressReporter(io, Boolean(process.stderr.isTTY));
  const cache = runner.openRemote(runner.plan(), { signal: options.signal, onProgress: progress.onProgress });
  try {
    if (!cache) {
      if (options.push) io.stderr('note: --push: the pipeline declares no remote, nothing pushed\n');
      return !options.push;
    }
    if (!options.push && !cache.config.push) return true;
    if (runIndexOf(record).stages.length === 0) return true;
    const started = Date.now();
    const summary = await pushRuns(runner, cache, [record]);
    progress.done();
    io.stderr(pushText(summary, (Date.now() - started) / 1000));
    return summary.skipped.length === 0;
  } catch (error) {
    progress.done();
    io.stderr(
      `push after the run failed: ${error instanceof Error ? error.message : String(error)}; mlpipe cache push ${record.id} tries again\n`,
    );
    return false;
  } finally {
    cache?.close();
  }
}

/** Logs runs to MLflow when MLFLOW_TRACKING_URI is set; a server that is down leaves them queued. */
export async function track(
  mlpipeRoot: string,
  runIds: string[],
  io: CliIo,
  options: { force?: boolean; quietWhenNone?: boolean } = {},
): Promise<boolean> {
  const { target, problem } = trackingTarget(undefined);
  if (problem) io.stderr(`note: ${problem}\n`);
  if (!target) return !problem;
  try {
    const result = await sendRuns(mlpipeRoot, target, runIds, options);
    io.stderr(`${describeFlush(result, target.uri)}\n`);
    return result.failed.length === 0 && !result.busy;
  } catch (error) {
    io.stderr(
      `MLflow: could not send to ${redactUri(target.uri)}: ${redactText(error instanceof Error ? error.message : String(error))}; the runs stay queued\n`,
    );
    return false;
  }
}

export function formatStatus(reports: StageReport[], dryRun = false): string {
  if (reports.length === 0) return 'no stages\n';
  const width = Math.max(...reports.map((report) => report.name.length));
  const verb: Record<StageReport['state'], string> = dryRun
    ? { 'up-to-date': 'skip (up to date)', cached: 'restore from cache', stale: 'run', 'never-run': 'run' }
    : { 'up-to-date': 'up to date', cached: 'cached', stale: 'stale', 'never-run': 'never run' };
  return reports
    .map(
      (report) =>
        `${report.name.padEnd(width)}  ${verb[report.state]}${report.remote ? ' (remote)' : ''}${report.cluster ? ` [cluster ${report.host}]` : ''}${report.reasons.length > 0 ? `: ${report.reasons.join('; ')}` : ''}\n`,
    )
    .join('');
}

export async function statusCommand(
  options: { pipeline?: string; format: 'text' | 'json'; stages: string[]; remote?: boolean },
  io: CliIo,
  host: FileHost,
): Promise<number> {
  const runner = Runner.open(findPipeline(io.cwd, options.pipeline), host);
  let remote: ReturnType<Runner['openRemote']>;
  try {
    remote = options.remote === false ? undefined : runner.openRemote(runner.plan());
    const reports = await pipelineStatus(runner, {
      stages: options.stages,
      upstream: false,
      images: true,
      ...(remote ? { remote } : {}),
      onRemoteFailure: (message) => io.stderr(`note: ${message}; the status says what the local cache knows\n`),
    });
    if (options.format === 'json') io.stdout(`${JSON.stringify({ version: 1, stages: reports }, null, 2)}\n`);
    else io.stdout(formatStatus(reports));
    return 0;
  } catch (error) {
    if (error instanceof RunError || error instanceof HostError) throw new UsageError(error.message, error.exitCode);
    throw error;
  } finally {
    remote?.close();
  }
}

export async function cancelCommand(options: { pipeline?: string }, io: CliIo, host: FileHost): Promise<number> {
  const runner = Runner.open(findPipeline(io.cwd, options.pipeline), host);
  const runs = await runner.cancel();
  io.stderr(runs.length === 0 ? 'no run in progress\n' : `asked ${runs.join(', ')} to stop\n`);
  return 0;
}

export async function diffCommand(
  options: { pipeline?: string; revision: string; format: 'text' | 'json' },
  io: CliIo,
): Promise<number> {
  const pipeline = findPipeline(io.cwd, options.pipeline);
  try {
    const report = await pipelineDiff(pipeline, options.revision);
    io.stdout(
      options.format === 'json'
        ? `${JSON.stringify({ version: 1, ...report }, null, 2)}\n`
        : formatDiff(report, relative(io.cwd, pipeline) || pipeline),
    );
    return 0;
  } catch (error) {
    if (error instanceof RunError) throw new UsageError(error.message, 2);
    throw error;
  }
}

export function checkoutCommand(options: { pipeline?: string; run: string }, io: CliIo, host: FileHost): number {
  const runner = Runner.open(findPipeline(io.cwd, options.pipeline), host);
  try {
    const restored = runner.checkout(options.run);
    io.stderr(
      `restored ${restored.length} output${restored.length === 1 ? '' : 's'} of run ${options.run}: ${restored.join(', ')}\n`,
    );
    return 0;
  } catch (error) {
    if (error instanceof RunError) throw new UsageError(error.message, 1);
    throw error;
  }
}
