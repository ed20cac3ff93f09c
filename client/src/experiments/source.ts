import { dirname } from 'node:path';
import * as vscode from 'vscode';
import { markCandidate, tagRun, type TagChange } from '../../../core/src/approval/candidate';
import { mlpipeRootOf, type RunRecord } from '../../../core/src/runs/records';
import { type Series } from '../../../core/src/store/series';
import { type ExperimentStore, type StoredRun } from '../../../core/src/store/store';
import { type RunRow } from '../../../webviews/src/contract';
import { findPipelines } from '../pipelines/find';
import { type RunController } from '../run-controller';
import { type TrustGate } from '../trust';
import { type ExperimentSource } from '../webviews';
import { openStore } from './stores';

/** Live progress of a run this window started, from its events. */
interface Progress {
  done: number;
  total: number;
  running: Set<string>;
}

/**
 * The runs of every pipeline in the workspace, from their experiment stores (`.mlpipe/store`),
 * kept current by run events (runs this window starts) and by a watcher on each store's index
 * (runs the CLI or another window starts). Nothing polls.
 */
export class WorkspaceExperiments implements ExperimentSource, vscode.Disposable {
  private stores = new Map<string, ExperimentStore>();
  private readonly progress = new Map<string, Progress>();
  private readonly liveSeries = new Map<string, Map<string, Series[]>>();
  private readonly changed = new vscode.EventEmitter<{ changed?: string[]; removed?: string[] } | undefined>();
  private readonly seriesEmitter = new vscode.EventEmitter<{ run: string; stage: string; series: Series[] }>();
  private readonly disposables: vscode.Disposable[] = [];
  private rowCache: RunRow[] | undefined;
  /** The run in progress per pipeline file (events carry no run id after run-start). */
  private readonly current = new Map<string, string>();
  readonly onDidChangeRuns = this.changed.event;
  private markReady!: () => void;
  /** Settles after the first discovery of the workspace's stores. */
  readonly ready = new Promise<void>((resolve) => (this.markReady = resolve));
  readonly onDidUpdateSeries = this.seriesEmitter.event;

  constructor(
    runs: RunController,
    private readonly trust: TrustGate,
    private readonly openLogs: (id: string) => void,
  ) {
    this.disposables.push(
      this.changed,
      this.seriesEmitter,
      runs.onDidRunEvent(({ pipeline, event }) => {
        switch (event.type) {
          case 'run-start':
            this.progress.set(event.record.id, { done: 0, total: event.record.stages.length, running: new Set() });
            this.current.set(pipeline, event.record.id);
            this.reload(mlpipeRootOf(pipeline), [event.record.id]);
            break;
          case 'stage-start':
            this.bump(pipeline, (progress) => progress.running.add(event.stage));
            break;
          case 'stage-end':
            this.bump(pipeline, (progress) => {
              progress.running.delete(event.stage);
              progress.done++;
            });
            break;
          case 'series': {
            const run = this.current.get(pipeline);
            if (!run) break;
            const perRun = this.liveSeries.get(run) ?? new Map<string, Series[]>();
            perRun.set(event.stage, event.series);
            this.liveSeries.set(run, perRun);
            this.seriesEmitter.fire({ run, stage: event.stage, series: event.series });
            break;
          }
          case 'run-end':
            this.current.delete(pipeline);
            this.progress.delete(event.record.id);
            this.liveSeries.delete(event.record.id);
            this.reload(mlpipeRootOf(pipeline), [event.record.id]);
            break;
          default:
            break;
        }
      }),
    );
    const watcher = vscode.workspace.createFileSystemWatcher('**/.mlpipe/store/index.jsonl');
    const onIndex = (uri: vscode.Uri) => this.reload(dirname(dirname(uri.fsPath)));
    this.disposables.push(
      watcher,
      watcher.onDidChange(onIndex),
      watcher.onDidCreate(onIndex),
      watcher.onDidDelete(() => this.changed.fire(undefined)),
    );
  }

  private bump(pipeline: string, change: (progress: Progress) => void): void {
    const run = this.current.get(pipeline);
    const progress = run ? this.progress.get(run) : undefined;
    if (!progress || !run) return;
    change(progress);
    this.rowCache = undefined;
    this.changed.fire({ changed: [run] });
  }

  /** Finds the pipelines' stores; call once at start and when pipelines come or go. */
  async discover(): Promise<void> {
    try {
      const roots = new Set((await findPipelines()).map((uri) => mlpipeRootOf(uri.fsPath)));
      const stores = new Map<string, ExperimentStore>();
      for (const root of roots) {
        const store = this.stores.get(root) ?? this.open(root);
        if (store) stores.set(root, store);
      }
      this.stores = stores;
      this.rowCache = undefined;
      this.changed.fire(undefined);
    } finally {
      this.markReady();
    }
  }

  /** The `.mlpipe` folders of the workspace's pipelines. */
  roots(): string[] {
    return [...this.stores.keys()];
  }

  /** The `.mlpipe` folder that holds a run. */
  rootOf(id: string): string | undefined {
    return this.locate(id)?.store.root;
  }

  private open(root: string): ExperimentStore | undefined {
    return openStore(root, this.trust);
  }

  private reload(root: string, ids?: string[]): void {
    const store = this.stores.get(root) ?? this.open(root);
    if (!store) return;
    this.stores.set(root, store);
    if (!store.refresh() && !ids) return;
    this.rowCache = undefined;
    this.changed.fire(ids ? { changed: ids } : undefined);
  }

  private locate(id: string): { store: ExperimentStore; run: StoredRun } | undefined {
    for (const store of this.stores.values()) {
      const run = store.get(id);
      if (run) return { store, run };
    }
    return undefined;
  }

  storedRuns(): { store: ExperimentStore; run: StoredRun }[] {
    const all: { store: ExperimentStore; run: StoredRun }[] = [];
    for (const store of this.stores.values()) for (const run of store.runs()) all.push({ store, run });
    return all.sort((a, b) => (a.run.summary.id < b.run.summary.id ? 1 : a.run.summary.id > b.run.summary.id ? -1 : 0));
  }

  rows(): RunRow[] {
    if (!this.rowCache) this.rowCache = this.storedRuns().map(({ run }) => this.toRow(run));
    return this.rowCache;
  }

  row(id: string): RunRow | undefined {
    const found = this.locate(id);
    return found ? this.toRow(found.run) : undefined;
  }

  stored(id: string): { store: ExperimentStore; run: StoredRun } | undefined {
    return this.locate(id);
  }

  record(id: string): RunRecord | undefined {
    return this.locate(id)?.store.fullRecord(id);
  }

  series(id: string): Series[] {
    const live = this.liveSeries.get(id);
    const stored = this.locate(id)?.store.series(id) ?? [];
    if (!live) return stored;
    const liveStages = new Set(live.keys());
    return [...stored.filter((one) => !liveStages.has(one.stage)), ...[...live.values()].flat()];
  }

  progressOf(id: string): { done: number; total: number; running: string[] } | undefined {
    const progress = this.progress.get(id);
    return progress ? { done: progress.done, total: progress.total, running: [...progress.running] } : undefined;
  }

  openRun(id: string): void {
    this.openLogs(id);
  }

  /** Tags a run with core's rules (one model candidate per pipeline); undefined for an unknown run. */
  tag(id: string, set: Record<string, string>, remove: string[] = []): TagChange | undefined {
    return this.change(id, (store) => tagRun(store, id, set, remove));
  }

  /** Makes a run its pipeline's model candidate (core's rule, as `mlpipe runs tag RUN mlpipe.candidate`). */
  markCandidate(id: string): TagChange | undefined {
    return this.change(id, (store) => markCandidate(store, id));
  }

  private change(id: string, apply: (store: ExperimentStore) => TagChange): TagChange | undefined {
    const found = this.locate(id);
    if (!found) return undefined;
    const change = apply(found.store);
    this.rowCache = undefined;
    this.changed.fire({ changed: [change.id, ...change.uncandidated] });
    return change;
  }

  delete(ids: string[]): void {
    for (const id of ids) this.locate(id)?.store.delete([id]);
    this.rowCache = undefined;
    this.changed.fire({ removed: ids });
  }

  private toRow(run: StoredRun): RunRow {
    const s = run.summary;
    const progress = this.progressOf(s.id);
    const total = Object.values(s.stages).reduce((sum, count) => sum + (count ?? 0), 0);
    const pending = (s.stages.pending ?? 0) + (s.stages.running ?? 0);
    return {
      id: s.id,
      name: s.name ?? s.pipeline,
      pipeline: s.pipeline,
      status: run.status,
      started: s.started,
      ...(s.ended ? { ended: s.ended } : {}),
      ...(s.durationMs !== undefined ? { durationMs: s.durationMs } : {}),
      ...(s.commit ? { commit: s.commit, dirty: s.dirty } : {}),
      params: s.params,
      metrics: s.metrics,
      tags: run.tags,
      ...(run.note ? { note: run.note } : {}),
      stages: progress ?? { done: total - pending, total, running: [] },
    };
  }

  dispose(): void {
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }
}
