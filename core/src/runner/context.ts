import { type ContentStore } from '../runs/content-cache';
import { type RemoteCache, type RemoteCacheOptions } from '../remote/sync';
import { type HashState } from '../runs/hash';
import { type MlpipeDir, type RunRecord, type StageRecord, type StageStatus } from '../runs/records';
import { type Series } from '../store/series';
import { EXIT, UserError } from '../errors';
import { type Executor } from './executor';
import { type Plan, type PlannedStage } from './plan';

export interface RunOptions {
  stages: string[];
  upstream: boolean;
  force: boolean;
  /** Run every stage on this host instead of its own. */
  host?: string;
  jobs?: number;
  signal?: AbortSignal;
  /** The process stops cleanly on SIGINT (the CLI does), so `mlpipe cancel` may signal it. */
  cancelBySignal?: boolean;
  /** Look stage keys up in the default remote's run-cache too (default: true when a remote is declared). */
  pull?: boolean;
  /** Progress and notes of remote transfers. */
  remote?: Omit<RemoteCacheOptions, 'signal'>;
}

export type RunEvent =
  | { type: 'run-start'; record: RunRecord }
  | { type: 'stage-start'; stage: string; host: string; attempt: number }
  | { type: 'log'; stage: string; line: string; stream: 'stdout' | 'stderr' }
  | { type: 'stage-end'; stage: string; status: StageStatus; reason?: string }
  /** A stage's metric series, whole: when it finishes, and while it runs as its plot files grow. */
  | { type: 'series'; stage: string; series: Series[] }
  | { type: 'notice'; message: string }
  | { type: 'run-end'; record: RunRecord };

/** A user-facing reason a run cannot start (bad pipeline, lock held, unknown stage). */
export class RunError extends UserError {
  constructor(message: string, exitCode: number = EXIT.usage) {
    super(message, exitCode);
  }
}

/** One run in progress: what every stage of it shares. */
export interface RunContext {
  /** The pipeline's folder: the workspace. */
  dir: string;
  mlpipe: MlpipeDir;
  store: ContentStore;
  plan: Plan;
  record: RunRecord;
  options: RunOptions;
  /** Content hashes known from earlier (`.mlpipe/state.json`), saved when the run ends. */
  state: HashState;
  /** Aborted by a cancel (signal, cancel file, the caller's own signal). */
  signal: AbortSignal;
  /** Writes the record as it is now. */
  save(): void;
  onEvent(event: RunEvent): void;
  /** The executor of a host, connected once per runner. */
  executor(host: string): Promise<Executor>;
  /** Hosts whose orphans this run has removed already (once per host and run). */
  cleaned: Set<string>;
  /** The team cache, when a remote is declared (stages look keys up there unless the run says --no-pull; cluster stages move their data through it). */
  remote?: RemoteCache;
}

/** One stage instance of a run: its plan, its entry in the record, its log. */
export interface StageContext {
  run: RunContext;
  stage: PlannedStage;
  entry: StageRecord;
  /** Writes a line to the stage's log file and sends it as a `log` event. */
  line(text: string, stream?: 'stdout' | 'stderr'): void;
}
