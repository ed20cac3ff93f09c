import * as vscode from 'vscode';
import { type RemoteCacheOptions, type TransferProgress } from '../../../core/src/remote/sync';
import { Cmd } from '../commands/ids';
import { TransferMeter, type MeterReading } from './transfer-meter';

/** One transfer the status bar follows: a push, a pull, or the remote fetches of a run. */
export interface Transfer {
  /** The core's progress callback; a reading is shown at most every 250 ms. */
  onProgress(progress: TransferProgress): MeterReading | undefined;
  end(): void;
}

/**
 * The status bar item shown while any transfer to or from a team cache remote runs, whatever
 * started it: the files, bytes and rate of the latest reading of each.
 */
export class TransferStatus implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('mlpipe.transfer', vscode.StatusBarAlignment.Left, 9);
  private readonly active = new Map<number, { label: string; reading?: MeterReading; phase?: string }>();
  private next = 0;

  constructor() {
    this.item.name = 'MLPipe remote transfer';
    this.item.command = Cmd.showOutput;
  }

  begin(label: string): Transfer {
    const id = this.next++;
    const meter = new TransferMeter();
    return {
      onProgress: (progress) => {
        const reading = meter.read(progress);
        if (!reading) return undefined;
        // A batch that is over leaves the status bar until the next one (a run fetches stage by stage).
        if (reading.done) this.active.delete(id);
        else this.active.set(id, { label, reading, phase: progress.phase });
        this.refresh();
        return reading;
      },
      end: () => {
        this.active.delete(id);
        this.refresh();
      },
    };
  }

  private refresh(): void {
    const shown = [...this.active.values()];
    if (shown.length === 0) {
      this.item.hide();
      return;
    }
    const [first] = shown;
    const icon =
      shown.length > 1 || first.phase === 'checking'
        ? 'sync~spin'
        : first.phase === 'uploading'
          ? 'cloud-upload'
          : 'cloud-download';
    this.item.text = `$(${icon}) MLPipe: ${shown.length > 1 ? `${shown.length} transfers` : (first.reading?.short ?? first.label)}`;
    this.item.tooltip = `${shown.map((one) => `${one.label}: ${one.reading?.text ?? 'starting'}`).join('\n')}\nClick for the MLPipe output.`;
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}

/** What a cancellable transfer hands the core: the signal, progress and notes. */
export type TransferOptions = Required<Pick<RemoteCacheOptions, 'signal' | 'onProgress' | 'onNote'>>;

/**
 * Runs a transfer with a cancellable notification (files, bytes, rate) and the status bar item;
 * notes (retries) go to the MLPipe output.
 */
export function withTransfer<T>(
  status: TransferStatus,
  log: vscode.LogOutputChannel,
  title: string,
  work: (options: TransferOptions) => Promise<T>,
): Thenable<T> {
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title, cancellable: true },
    async (progress, token) => {
      const controller = new AbortController();
      const cancel = token.onCancellationRequested(() => controller.abort());
      const transfer = status.begin(title.replace(/^MLPipe: /, ''));
      try {
        return await work({
          signal: controller.signal,
          onProgress: (event) => {
            const reading = transfer.onProgress(event);
            if (reading) progress.report({ message: reading.text });
          },
          onNote: (message) => log.info(message),
        });
      } finally {
        cancel.dispose();
        transfer.end();
      }
    },
  );
}
