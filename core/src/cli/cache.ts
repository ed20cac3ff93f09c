import { type FileHost } from '../workspace/file-host';
import { HostError } from '../runner/engine';
import { RunError, Runner } from '../runner/runner';
import { formatBytes } from '../runner/stage-run';
import {
  cacheStatus,
  findRun,
  latestRun,
  pullPipeline,
  pullRuns,
  pushRuns,
  remoteGc,
  requireRemoteCache,
  type PullSummary,
} from '../runner/remote-cache';
import { type PushSummary, type TransferProgress } from '../remote/sync';
import { type CliIo } from './io';
import { UsageError } from '../errors';
import { findPipeline } from './pipeline-file';

/*
 * `mlpipe cache push | pull | status | gc --remote`: the team cache from the command line. Progress
 * (files, bytes, rate) is one line rewritten on a terminal's stderr, nothing when piped.
 */

export interface CacheCommandOptions {
  sub: 'push' | 'pull' | 'status' | 'gc';
  runs: string[];
  pipeline?: string;
  remote?: string;
  jobs?: number;
  stages: string[];
  format: 'text' | 'json';
  tty: boolean;
  signal: AbortSignal;
  /** gc */
  onRemote?: boolean;
  keepDays?: number;
  dryRun?: boolean;
}

/** A progress line for a terminal: phase, files, bytes and the rate since the phase began. */
export function progressReporter(
  io: CliIo,
  tty: boolean,
): { onProgress(progress: TransferProgress): void; done(): void } {
  if (!tty) return { onProgress: () => undefined, done: () => undefined };
  let started = Date.now();
  let phase = '';
  let last = 0;
  let shown = false;
  return {
    onProgress(progress) {
      const now = Date.now();
      if (progress.phase !== phase) {
        phase = progress.phase;
        started = now;
      } else if (now - last < 100 && progress.filesDone < progress.files) return;
      last = now;
      const seconds = Math.max(0.001, (now - started) / 1000);
      const text =
        progress.phase === 'checking'
          ? `${progress.remote}: checking ${progress.files} objects`
          : `${progress.remote}: ${progress.phase} ${progress.filesDone}/${progress.files} files, ${formatBytes(progress.bytesDone)}/${formatBytes(progress.bytes)}, ${formatBytes(progress.bytesDone / seconds)}/s`;
      io.stderr(`\r\u001b[2K${text}`);
      shown = true;
    },
    done() {
      if (shown) io.stderr('\r\u001b[2K');
      shown = false;
    },
  };
}

export function pushText(summary: PushSummary, seconds: number): string {
  const lines = [
    `pushed to remote '${summary.remote}': ${summary.objectsUploaded} objects (${formatBytes(summary.bytesUploaded)}) uploaded, ${summary.objectsPresent} already there; ${summary.entriesWritten} stage entries and ${summary.runsWritten} runs written, ${summary.entriesPresent} entries already there (${seconds.toFixed(1)} s)`,
  ];
  for (const skipped of summary.skipped) lines.push(`  not pushed: ${skipped}`);
  return `${lines.join('\n')}\n`;
}

function pullText(summary: PullSummary, remote: string, seconds: number): string {
  const lines = [
    `pulled from remote '${remote}': ${summary.objects} objects (${formatBytes(summary.bytes)}) downloaded; ${summary.restored.length} stages restored${summary.restored.length > 0 ? ` (${summary.restored.join(', ')})` : ''} (${seconds.toFixed(1)} s)`,
  ];
  for (const missing of summary.missing) lines.push(`  not restored: ${missing}`);
  return `${lines.join('\n')}\n`;
}

export async function cacheCommand(options: CacheCommandOptions, io: CliIo, host: FileHost): Promise<number> {
  const runner = Runner.open(findPipeline(io.cwd, options.pipeline), host);
  const progress = progressReporter(io, options.tty);
  if (options.jobs !== undefined && !(options.jobs >= 1 && Number.isInteger(options.jobs)))
    throw new UsageError('--jobs must be a positive whole number');
  const cache = requireRemoteCache(runner, {
    signal: options.signal,
    onProgress: progress.onProgress,
    onNote: (message) => {
      progress.done();
      io.stderr(`note: ${message}\n`);
    },
    ...(options.jobs ? { jobs: options.jobs } : {}),
  });
  const started = Date.now();
  const elapsed = () => (Date.now() - started) / 1000;
  try {
    switch (options.sub) {
      case 'push': {
        const records = options.runs.length > 0 ? options.runs.map((id) => findRun(runner, id)) : [latestRun(runner)];
        const missing = options.runs.filter((_, index) => !records[index]);
        if (missing.length > 0 || !records[0])
          throw new UsageError(
            missing.length > 0
              ? `no run ${missing.join(', ')} in this workspace (mlpipe runs list)`
              : 'no finished run to push yet: run the pipeline first',
          );
        const summary = await pushRuns(
          runner,
          cache,
          records as NonNullable<(typeof records)[number]>[],
          options.remote,
        );
        progress.done();
        if (options.format === 'json') io.stdout(`${JSON.stringify({ version: 1, ...summary }, null, 2)}\n`);
        else io.stderr(pushText(summary, elapsed()));
        return summary.skipped.length > 0 ? 1 : 0;
      }
      case 'pull': {
        const summary =
          options.runs.length > 0
            ? await pullRuns(runner, cache, options.runs, {
                ...(options.remote ? { remote: options.remote } : {}),
                ...(options.stages.length > 0 ? { stages: options.stages } : {}),
              })
            : await pullPipeline(runner, cache, {
                ...(options.remote ? { remote: options.remote } : {}),
                ...(options.stages.length > 0 ? { stages: options.stages } : {}),
              });
        progress.done();
        if (options.format === 'json') io.stdout(`${JSON.stringify({ version: 1, ...summary }, null, 2)}\n`);
        else io.stderr(pullText(summary, cache.spec(options.remote).name, elapsed()));
        return summary.missing.length > 0 ? 1 : 0;
      }
      case 'status': {
        const status = await cacheStatus(runner, cache, options.remote);
        progress.done();
        if (options.format === 'json') {
          io.stdout(`${JSON.stringify({ version: 1, ...status }, null, 2)}\n`);
          return 0;
        }
        const lines = [
          `remote '${status.remote}': ${status.shown}`,
          `stage entries: ${status.entries.both} on both, ${status.entries.localOnly} local only, ${status.entries.remoteOnly} remote only`,
          `objects of the local entries: ${status.objects.both} on the remote, ${status.objects.localOnly} local only (${formatBytes(status.objects.bytesLocalOnly)}; mlpipe cache push sends them)`,
          `runs: ${status.runs.filter((run) => run.remote).length} of the ${status.runs.length} local runs pushed; the remote indexes ${status.remoteRuns} runs`,
          ...status.runs.slice(-10).map((run) => `  ${run.id}  ${run.remote ? 'local + remote' : 'local only'}`),
        ];
        io.stdout(`${lines.join('\n')}\n`);
        return 0;
      }
      case 'gc': {
        if (!options.onRemote)
          throw new UsageError('cache gc cleans a remote: say --remote [NAME]; mlpipe runs gc cleans the local cache');
        const report = await remoteGc(runner, cache, {
          ...(options.remote ? { remote: options.remote } : {}),
          ...(options.keepDays !== undefined ? { keepDays: options.keepDays } : {}),
          dryRun: Boolean(options.dryRun),
        });
        if (options.format === 'json') {
          io.stdout(`${JSON.stringify({ version: 1, ...report }, null, 2)}\n`);
          return 0;
        }
        const verb = report.dryRun ? 'would remove' : 'removed';
        const lines = [
          `remote '${report.remote}': ${verb} ${report.runsRemoved.length} run indexes, ${report.entriesRemoved} stage entries (${report.entriesKept} kept) and ${report.objectsRemoved} objects (${formatBytes(report.bytesRemoved)})`,
          ...report.protectedRuns.map((run) => `  kept run ${run.id}: ${run.why}`),
        ];
        if (!report.objectsDeletedHere)
          lines.push(
            "  the registry's own garbage collection frees the blobs no tag references now (registry garbage-collect)",
          );
        io.stdout(`${lines.join('\n')}\n`);
        return 0;
      }
    }
  } catch (error) {
    progress.done();
    if (error instanceof RunError || error instanceof HostError) throw new UsageError(error.message, error.exitCode);
    throw error;
  } finally {
    cache.close();
  }
}
