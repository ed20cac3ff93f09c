import type * as vscode from 'vscode';
import { type RunRow, type Series } from '../../../webviews/src/contract';

/** What the panels read runs from; the client implements it over the experiment store. */
export interface ExperimentSource {
  /** All runs, newest first. */
  rows(): RunRow[];
  row(id: string): RunRow | undefined;
  /** A run's metric series. */
  series(id: string): Series[];
  /** `undefined`: everything may have changed. */
  readonly onDidChangeRuns: vscode.Event<{ changed?: string[]; removed?: string[] } | undefined>;
  readonly onDidUpdateSeries: vscode.Event<{ run: string; stage: string; series: Series[] }>;
  /** Shows a run (its logs, say). */
  openRun(id: string): void;
  /** Settles once the runs are loaded: panels restored after a reload wait for it. */
  readonly ready?: Promise<void>;
}
