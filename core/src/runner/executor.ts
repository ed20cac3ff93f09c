import { EXIT, UserError } from '../errors';
import { type PlannedStage } from './plan';
import { type RemoteCache } from '../remote/sync';

/**
 * Where and how stage instances run: one executor per host of a pipeline. The runner decides what
 * runs (cache keys, skips, restores, records, retries, timeouts); an executor only runs one
 * attempt of a stage when asked. The Docker/Podman engine (`docker-executor.ts`) is the first
 * implementation; a cluster (a Kubernetes Job per stage instance) is another file beside it.
 */
export interface Executor {
  /** The host's name in the pipeline (`local`, `gpu-box`). */
  readonly host: string;
  /** What runs the stages, as records and logs show it (`docker 27.5.1`, `podman 4.9.3`). */
  readonly version: string;
  /**
   * Whether stages see the workspace's files where they are (a bind mount): then deps are not
   * copied in, outputs need no copying back, and plot files can be followed while a stage runs.
   */
  readonly sharesFiles: boolean;
  /** What this host cannot give the stage (GPUs without a GPU runtime), phrased for the user; checked before an attempt starts anything. */
  unsupported(stage: PlannedStage): UserError | undefined;
  /** The image's digest where stages run, making the image available first (a pull) and saying so through `onLine`. */
  resolveImage(image: string, onLine: (line: string) => void): Promise<string>;
  /** The image's digest as the host has it now, without pulling; undefined when it has none or cannot say. */
  imageDigest(image: string): Promise<string | undefined>;
  /**
   * Removes what killed runs of this workspace left on the host: only this machine's (another
   * machine may run the same workspace path on a shared host), never those of `liveRuns`.
   */
  removeOrphans(liveRuns: ReadonlySet<string>): Promise<void>;
  /** Sets up one attempt of a stage; nothing runs until `start`. */
  create(attempt: AttemptSpec): Promise<StageExecution>;
  /**
   * Whether a failure came from the host going away rather than from the stage: asked when an
   * attempt threw (`exitCode` undefined) or the stage exited with `exitCode`. A user error saying
   * so, or undefined when the failure is the stage's own.
   */
  lost(exitCode?: number): Promise<UserError | undefined>;
}

/** One attempt of one stage instance, as the runner asks for it. */
export interface AttemptSpec {
  stage: PlannedStage;
  runId: string;
  /** Who the stage runs as, so that its outputs are the user's. */
  owner: { uid: number; gid: number };
  /** Workspace paths the stage reads (deps, params files): copied in unless the executor shares the workspace's files. */
  inputs: string[];
  /** Which try of the stage this is (1 for the first). */
  attempt?: number;
  /** The run's team cache: a cluster's pods move data through it. */
  remote?: RemoteCache;
}

/** One attempt on a host, driven step by step by `runAttempt` (`attempt.ts`). */
export interface StageExecution {
  /** Puts the inputs where the stage sees them: copied in (paths proven inside the workspace), or nothing when files are shared. */
  prepareInputs(): Promise<void>;
  start(): Promise<void>;
  /** Follows the stage's output; lines arrive through `onLine` until `wait` resolves. */
  followLogs(onLine: (line: string, stream: 'stdout' | 'stderr') => void): Promise<void>;
  /** The stage's exit code, once it ended and its last log line was delivered. */
  wait(): Promise<number>;
  /** Brings a succeeded attempt's outputs into the workspace (copied back and checked against sums taken there) or nothing when files are shared. */
  collectOutputs(): Promise<{ warning?: string }>;
  /** Stops the stage now (cancel, timeout); `wait` then resolves. Never throws. */
  kill(): void;
  /** Removes what the attempt left on the host. Never throws. */
  remove(): Promise<void>;
}

/** How an attempt ended. */
export interface AttemptResult {
  outcome: 'exited' | 'cancelled' | 'timeout';
  exitCode?: number;
  warning?: string;
}

/** A problem reaching or using a host, phrased for the user. */
export class HostError extends UserError {
  constructor(message: string, exitCode: number = EXIT.usage) {
    super(message, exitCode);
  }
}

/** An error's text for the user: an API's own message (`json.message`, as dockerode gives it) when it has one. */
export function reason(error: unknown): string {
  if (error instanceof Error) {
    const status = (error as { statusCode?: number; json?: { message?: string } }).json?.message;
    return status ?? error.message;
  }
  return String(error);
}
