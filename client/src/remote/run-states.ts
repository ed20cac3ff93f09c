import { type CacheStatus } from '../../../core/src/runner/remote-cache';
import { formatBytes } from '../../../core/src/runner/stage-run';

/*
 * Which runs of each `.mlpipe` folder the default remote holds, as the Experiments view shows it:
 * what the last `cacheStatus` said, or why it could not be asked. No editor here (unit-tested in
 * plain Node).
 */

export type RemoteState =
  /** The folder's pipelines declare no remote. */
  | { kind: 'none'; at: number }
  | {
      kind: 'known';
      at: number;
      remote: string;
      shown: string;
      /** Local run id -> whether the remote holds its index. */
      runs: Map<string, boolean>;
      remoteRuns: number;
      entriesLocalOnly: number;
      bytesLocalOnly: number;
    }
  | { kind: 'failed'; at: number; message: string };

export type RunRemoteState = 'local + remote' | 'local only';

export class RemoteStates {
  private readonly states = new Map<string, RemoteState>();

  constructor(
    private readonly now: () => number = Date.now,
    /** A view refresh asks a remote again only this long after the last time. */
    readonly intervalMs = 60_000,
  ) {}

  /** Whether the remote of a `.mlpipe` folder may be asked: never asked yet, or not for intervalMs. */
  due(root: string): boolean {
    const state = this.states.get(root);
    return !state || this.now() - state.at >= this.intervalMs;
  }

  get(root: string): RemoteState | undefined {
    return this.states.get(root);
  }

  none(root: string): void {
    this.states.set(root, { kind: 'none', at: this.now() });
  }

  known(root: string, status: CacheStatus): void {
    this.states.set(root, {
      kind: 'known',
      at: this.now(),
      remote: status.remote,
      shown: status.shown,
      runs: new Map(status.runs.map((run) => [run.id, run.remote])),
      remoteRuns: status.remoteRuns,
      entriesLocalOnly: status.entries.localOnly,
      bytesLocalOnly: status.objects.bytesLocalOnly,
    });
  }

  failed(root: string, message: string): void {
    this.states.set(root, { kind: 'failed', at: this.now(), message });
  }

  /** Runs just pushed to `remote`: shown as on it without asking again (when it is the one shown). */
  markPushed(root: string, remote: string, ids: string[]): boolean {
    const state = this.states.get(root);
    if (state?.kind !== 'known' || state.remote !== remote) return false;
    for (const id of ids) {
      if (state.runs.get(id) !== true) state.remoteRuns++;
      state.runs.set(id, true);
    }
    return true;
  }

  /** Where a run is, when the folder's remote was asked after the run was made. */
  runState(root: string, id: string): RunRemoteState | undefined {
    const state = this.states.get(root);
    if (state?.kind !== 'known' || !state.runs.has(id)) return undefined;
    return state.runs.get(id) ? 'local + remote' : 'local only';
  }

  /** The folders with a remote to show (asked, or failed), in a stable order. */
  shown(): [string, Exclude<RemoteState, { kind: 'none' }>][] {
    return [...this.states]
      .filter((entry): entry is [string, Exclude<RemoteState, { kind: 'none' }>] => entry[1].kind !== 'none')
      .sort(([a], [b]) => a.localeCompare(b));
  }

  /** Forgets the folders no longer in the workspace. */
  retain(roots: Iterable<string>): void {
    const keep = new Set(roots);
    for (const root of [...this.states.keys()]) if (!keep.has(root)) this.states.delete(root);
  }
}

/** `3 of 10 runs pushed · 12.0 MB local only`, for the view's remote item. */
export function remoteSummary(state: Extract<RemoteState, { kind: 'known' }>): string {
  const pushed = [...state.runs.values()].filter(Boolean).length;
  const local = state.bytesLocalOnly > 0 ? ` · ${formatBytes(state.bytesLocalOnly)} local only` : '';
  return `${pushed} of ${state.runs.size} runs pushed${local}`;
}
