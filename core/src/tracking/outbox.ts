import { closeSync, existsSync, readSync, readdirSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { Boundary } from '../util/boundary';
import { readStateFile, writeFileAtomic } from '../runs/files';
import { MlpipeDir } from '../runs/records';
import { acquireFileLock } from '../runs/file-lock';
import { ExperimentStore, summarize } from '../store/store';
import { type LogRunInput, logRun, MlflowError, type MlflowClient } from './mlflow';
import { redactText } from './transfer';

/*
 * Runs waiting to go to the tracking server. Each is one small file,
 * `.mlpipe/tracking/outbox/<run id>.json`, written atomically: the run id, how often sending
 * failed, the last error and when to try next. The run itself is read from the run record and the
 * experiment store when it is sent, so the outbox never holds a stale copy, and a run is only
 * taken out once the server has all of it: a run the server took only in part (artifacts a server
 * without the artifact proxy refused) stays, marked `partial`, and is sent again with backoff.
 * `.mlpipe/tracking/status.json` keeps the last success, the last error (a partial send is one)
 * and the number waiting, for a status line. Errors are stored redacted, as shown.
 */

export interface OutboxEntry {
  version: 1;
  runId: string;
  /** When it was (last) queued: a run queued again while being sent stays queued. */
  enqueued: string;
  attempts: number;
  lastError?: string;
  /** The last attempt reached the server but not all of the run went (lastError says what is missing). */
  partial?: boolean;
  /** Not sent before this time (ISO), after a failure. */
  nextAttempt?: string;
}

export interface TrackingStatus {
  /** Runs waiting to be sent. */
  pending: number;
  lastSuccess?: { runId: string; at: string; uri: string; experimentId: string; mlflowRunId: string };
  lastError?: { runId?: string; at: string; uri: string; message: string };
}

export interface FlushOptions {
  /** Send runs whose backoff has not ended yet too (a user asked to send now). */
  force?: boolean;
  /** At most this many runs per flush. */
  limit?: number;
  now?: () => number;
  /** Called after each run, for progress lines. */
  onRun?: (event: { runId: string; ok: boolean; partial?: boolean; error?: string; mlflowRunId?: string }) => void;
}

export interface FlushResult {
  /** Runs the server now has all of. */
  sent: string[];
  /** Every run not (fully) logged, each staying queued; `partial` for those the server has in part. */
  failed: { runId: string; error: string; partial?: boolean }[];
  /** Runs logged with values cut to MLflow's limits (the full values are in their mlpipe/run.json). */
  warnings: { runId: string; warning: string }[];
  /** Runs that no longer exist here (deleted since they were queued): taken out of the outbox. */
  dropped: string[];
  pending: number;
  /** Another process was sending at the time; nothing was done. */
  busy?: boolean;
}

/** Backoff after the nth failure: 30 s, 1 min, 2 min, ... up to 30 min. */
export function backoffMs(attempts: number): number {
  return Math.min(30_000 * 2 ** Math.max(0, attempts - 1), 30 * 60_000);
}

function messageOf(error: unknown): string {
  return redactText(error instanceof Error ? error.message : String(error));
}

/** An outbox entry or the status file: small JSON, never read whole beyond this. */
const MAX_STATE_BYTES = 1024 * 1024;

export class TrackingOutbox {
  readonly dir: string;
  /** `.mlpipe/` and its workspace: the outbox is read and written only through real folders in it. */
  private readonly mlpipe: MlpipeDir;

  constructor(readonly mlpipeRoot: string) {
    this.dir = join(mlpipeRoot, 'tracking', 'outbox');
    this.mlpipe = new MlpipeDir(mlpipeRoot);
  }

  private get statusPath(): string {
    return join(this.mlpipeRoot, 'tracking', 'status.json');
  }

  private get lockPath(): string {
    return join(this.mlpipeRoot, 'tracking', 'outbox.lock');
  }

  private entryPath(runId: string): string {
    if (!/^[A-Za-z0-9_.@-]+$/.test(runId) || runId.startsWith('.'))
      throw new Error(`'${runId}' is not an mlpipe run id`);
    return join(this.dir, `${runId}.json`);
  }

  private read(runId: string): OutboxEntry | undefined {
    try {
      const text = readStateFile(this.mlpipe.boundary, this.entryPath(runId), MAX_STATE_BYTES);
      return text === undefined ? undefined : (JSON.parse(text) as OutboxEntry);
    } catch {
      return undefined;
    }
  }

  private write(entry: OutboxEntry): void {
    writeFileAtomic(this.entryPath(entry.runId), `${JSON.stringify(entry)}\n`, this.mlpipe.boundary);
  }

  /** Queues a run to be sent (again: a queued run is sent at the next flush, its failure count kept). */
  enqueue(runId: string, now = Date.now()): void {
    const previous = this.read(runId);
    new MlpipeDir(this.mlpipeRoot).ensure();
    this.write({
      version: 1,
      runId,
      enqueued: new Date(now).toISOString(),
      attempts: previous?.attempts ?? 0,
      ...(previous?.lastError ? { lastError: previous.lastError } : {}),
    });
  }

  /** Runs waiting, oldest run first. */
  pending(): OutboxEntry[] {
    if (!existsSync(this.dir)) return [];
    const entries: OutboxEntry[] = [];
    for (const name of readdirSync(this.dir).sort()) {
      if (!name.endsWith('.json')) continue;
      const entry = this.read(name.slice(0, -'.json'.length));
      if (entry) entries.push(entry);
    }
    return entries;
  }

  status(): TrackingStatus {
    let saved: Partial<TrackingStatus> = {};
    try {
      saved = JSON.parse(
        readStateFile(this.mlpipe.boundary, this.statusPath, MAX_STATE_BYTES) ?? '{}',
      ) as TrackingStatus;
    } catch {
      // nothing sent yet
    }
    return { ...saved, pending: this.pending().length };
  }

  private saveStatus(update: Partial<TrackingStatus>): void {
    const status = { ...this.status(), ...update };
    status.pending = this.pending().length;
    writeFileAtomic(this.statusPath, `${JSON.stringify(status, null, 2)}\n`, this.mlpipe.boundary);
  }

  /**
   * Sends the runs that are due with `logRun`. A run that went is taken out; one that failed stays
   * with its error and a later next attempt. When the server cannot be reached (or refuses the
   * credentials) the flush stops at once rather than trying every run. Only one process flushes
   * at a time; another one finds `busy`.
   */
  async flush(
    client: MlflowClient,
    load: (runId: string) => LogRunInput | undefined,
    options: FlushOptions = {},
  ): Promise<FlushResult> {
    const now = options.now ?? Date.now;
    const result: FlushResult = { sent: [], failed: [], warnings: [], dropped: [], pending: 0 };
    // The lock and the status are written in `.mlpipe/tracking`: it must be a real folder of the workspace.
    this.mlpipe.ensure();
    this.mlpipe.boundary.makeDirs(join(this.mlpipeRoot, 'tracking'));
    let release: () => void;
    try {
      // Uploads can take minutes; a dead owner on this host is noticed by its pid, not by age.
      release = acquireFileLock(this.lockPath, 0, 60 * 60_000);
    } catch (error) {
      if (!existsSync(this.lockPath)) throw error;
      return { ...result, pending: this.pending().length, busy: true };
    }
    try {
      let tried = 0;
      for (const entry of this.pending()) {
        if (options.limit !== undefined && tried >= options.limit) break;
        if (!options.force && entry.nextAttempt && Date.parse(entry.nextAttempt) > now()) continue;
        tried++;
        let input: LogRunInput | undefined;
        try {
          input = load(entry.runId);
        } catch (error) {
          this.fail(entry, `could not read run ${entry.runId}: ${messageOf(error)}`, now(), client.uri, result);
          continue;
        }
        if (!input) {
          this.remove(entry);
          result.dropped.push(entry.runId);
          continue;
        }
        try {
          const logged = await logRun(client, input);
          for (const warning of logged.warnings)
            result.warnings.push({ runId: entry.runId, warning: redactText(warning) });
          if (logged.incomplete.length > 0) {
            // Never called success: it stays queued, marked partial, with what is missing.
            const message = redactText(
              `logged only in part to ${client.uri} (MLflow run ${logged.runId}): ${logged.incomplete.join('; ')}`,
            );
            this.fail(entry, message, now(), client.uri, result, true);
            options.onRun?.({
              runId: entry.runId,
              ok: false,
              partial: true,
              error: message,
              mlflowRunId: logged.runId,
            });
            continue;
          }
          this.remove(entry);
          result.sent.push(entry.runId);
          this.saveStatus({
            lastSuccess: {
              runId: entry.runId,
              at: new Date(now()).toISOString(),
              uri: client.uri,
              experimentId: logged.experimentId,
              mlflowRunId: logged.runId,
            },
          });
          options.onRun?.({ runId: entry.runId, ok: true, mlflowRunId: logged.runId });
        } catch (error) {
          const message = messageOf(error);
          this.fail(entry, message, now(), client.uri, result);
          options.onRun?.({ runId: entry.runId, ok: false, error: message });
          if (error instanceof MlflowError && error.affectsAllRuns) break;
        }
      }
    } finally {
      result.pending = this.pending().length;
      this.saveStatus({});
      release();
    }
    return result;
  }

  private fail(
    entry: OutboxEntry,
    message: string,
    at: number,
    uri: string,
    result: FlushResult,
    partial = false,
  ): void {
    const attempts = entry.attempts + 1;
    const current = this.read(entry.runId);
    // Queued again while it was being sent: keep that, with the failure counted.
    const enqueued = current?.enqueued ?? entry.enqueued;
    this.write({
      version: 1,
      runId: entry.runId,
      enqueued,
      attempts,
      lastError: message,
      ...(partial ? { partial } : {}),
      nextAttempt: new Date(at + backoffMs(attempts)).toISOString(),
    });
    result.failed.push({ runId: entry.runId, error: message, ...(partial ? { partial } : {}) });
    this.saveStatus({ lastError: { runId: entry.runId, at: new Date(at).toISOString(), uri, message } });
  }

  /** Takes a sent run out, unless it was queued again meanwhile (it changed: send it again). */
  private remove(entry: OutboxEntry): void {
    const current = this.read(entry.runId);
    if (current && current.enqueued !== entry.enqueued) {
      this.write({ ...current, attempts: 0, lastError: undefined, partial: undefined, nextAttempt: undefined });
      return;
    }
    rmSync(this.entryPath(entry.runId), { force: true });
  }
}

/** sha256 of a file, read in pieces (metrics and plot files can be large). */
function fileHash(boundary: Boundary, path: string): string {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(1024 * 1024);
  // An output is uploaded only as the plain file the run wrote: never through a link.
  const { fd, stat } = boundary.openRead(path, 'refuse');
  try {
    if (!stat.isFile()) throw new Error(`${path} is not a file`);
    for (;;) {
      const count = readSync(fd, buffer, 0, buffer.length, null);
      if (count === 0) break;
      hash.update(buffer.subarray(0, count));
    }
  } finally {
    closeSync(fd);
  }
  return `sha256:${hash.digest('hex')}`;
}

/**
 * What `logRun` needs for a run of this `.mlpipe/` folder: the run record, its summary, tags and
 * note from the experiment store, its series, and the files to upload: each metrics and plot file
 * the run wrote that still holds what the run recorded (its hash in the record), and `run.json`.
 * Undefined when the run does not exist.
 */
export function loadRunForTracking(mlpipeRoot: string, runId: string): LogRunInput | undefined {
  const dir = new MlpipeDir(mlpipeRoot);
  const record = dir.readRecord(runId);
  if (!record) return undefined;
  const store = ExperimentStore.open(mlpipeRoot);
  const stored = store.get(runId);
  const series = store.series(runId);
  // The workspace is where this .mlpipe/ is, whatever the record says (a record is input too).
  const workspace = dirname(resolve(mlpipeRoot));
  const boundary = new Boundary(workspace);
  const artifacts: { path: string; file: string }[] = [];
  const seen = new Set<string>();
  for (const stage of record.stages) {
    const files = [
      ...Object.keys(stage.metrics ?? {}),
      ...series.filter((one) => one.stage === stage.name).map((one) => one.file),
    ];
    for (const path of files) {
      const expected = stage.outputs?.[path];
      if (!expected || seen.has(path)) continue;
      const file = resolve(workspace, path);
      const inside = relative(workspace, file);
      if (inside.startsWith('..') || isAbsolute(inside)) continue;
      try {
        if (fileHash(boundary, file) !== expected) continue;
      } catch {
        continue;
      }
      seen.add(path);
      artifacts.push({ path: inside.split('\\').join('/'), file });
    }
  }
  artifacts.push({ path: 'mlpipe/run.json', file: join(dir.runDir(runId), 'run.json') });
  return {
    record,
    summary: stored?.summary ?? summarize(record, series),
    tags: stored?.tags ?? {},
    ...(stored?.note ? { note: stored.note } : {}),
    series,
    artifacts,
    workspace,
  };
}
