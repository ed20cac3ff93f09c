import { type TransferProgress } from '../../../core/src/remote/sync';
import { formatBytes } from '../../../core/src/runner/stage-run';

/*
 * What a team cache transfer is doing, in words, for the notification and the status bar. No
 * editor here: the unit tests load it in plain Node (test/unit/client-remote.test.ts).
 */

/** The long form: `team: uploading 3/10 files, 12.0 MB of 40.0 MB, 5.1 MB/s`. */
export function transferText(progress: TransferProgress, bytesPerSecond: number | undefined): string {
  if (progress.phase === 'checking') return `${progress.remote}: checking ${progress.files} objects`;
  if (progress.files === 0)
    return `${progress.remote}: nothing to ${progress.phase === 'uploading' ? 'upload' : 'download'}`;
  const rate = bytesPerSecond === undefined ? '' : `, ${formatBytes(bytesPerSecond)}/s`;
  return `${progress.remote}: ${progress.phase} ${progress.filesDone}/${progress.files} files, ${formatBytes(progress.bytesDone)} of ${formatBytes(progress.bytes)}${rate}`;
}

/** The status bar's short form: `team 3/10 · 5.1 MB/s`. */
export function shortTransferText(progress: TransferProgress, bytesPerSecond: number | undefined): string {
  if (progress.phase === 'checking') return `${progress.remote} checking`;
  if (progress.files === 0) return `${progress.remote} done`;
  return `${progress.remote} ${progress.filesDone}/${progress.files}${bytesPerSecond === undefined ? '' : ` · ${formatBytes(bytesPerSecond)}/s`}`;
}

/** Whether a batch is over: every file of an upload or download done. */
export function batchDone(progress: TransferProgress): boolean {
  return progress.phase !== 'checking' && progress.filesDone >= progress.files;
}

export interface MeterReading {
  text: string;
  short: string;
  done: boolean;
  bytesPerSecond: number | undefined;
}

/**
 * Turns the core's progress callbacks (one per chunk, the same object mutated) into readings at
 * most every `intervalMs`, with the rate since the batch began. A batch is one phase of one call
 * (a download of one entry's objects, an upload to one remote): a new one restarts the clock.
 */
export class TransferMeter {
  private batch = '';
  private started = 0;
  private startBytes = 0;
  private lastBytes = 0;
  private shown = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly intervalMs = 250,
  ) {}

  /** A reading to show now, or undefined to skip this callback (the end of a batch is always shown). */
  read(progress: TransferProgress): MeterReading | undefined {
    const now = this.now();
    const batch = `${progress.remote}\0${progress.phase}\0${progress.files}\0${progress.bytes}`;
    // Bytes that go back are an object sent again after a failure: the rate is measured anew.
    const restarted = progress.bytesDone < this.lastBytes;
    this.lastBytes = progress.bytesDone;
    if (batch !== this.batch || restarted) {
      this.batch = batch;
      this.started = now;
      this.startBytes = progress.bytesDone;
    } else if (now - this.shown < this.intervalMs && !batchDone(progress)) return undefined;
    this.shown = now;
    const seconds = (now - this.started) / 1000;
    // No rate before a quarter of a second of data: the first chunk alone would say anything.
    const bytesPerSecond =
      progress.phase === 'checking' || seconds < 0.25 ? undefined : (progress.bytesDone - this.startBytes) / seconds;
    return {
      text: transferText(progress, bytesPerSecond),
      short: shortTransferText(progress, bytesPerSecond),
      done: batchDone(progress),
      bytesPerSecond,
    };
  }
}
