import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type ScalarValue } from '../yaml/nodes';
import { writeFileAtomic } from './fsutil';
import { type KeyInputs } from './plan';

export type StageStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'restored' | 'cancelled' | 'blocked';
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

/** One stage instance in a run record. Documented in docs/runs.md; change it only with a version bump. */
export interface StageRecord {
  name: string;
  stage: string;
  matrix: Record<string, ScalarValue>;
  status: StageStatus;
  /** Why it ran, was skipped or failed, in words. */
  reason?: string;
  host: string;
  engine?: string;
  image: string;
  imageDigest?: string;
  command: string;
  key?: string;
  attempts: number;
  exitCode?: number;
  started?: string;
  ended?: string;
  durationMs?: number;
  params: Record<string, unknown>;
  deps: Record<string, string>;
  outputs: Record<string, string>;
  /** Metrics files by path, each flattened to `key: value` (`test.auc: 0.91`). */
  metrics: Record<string, Record<string, unknown>>;
  /** Log file, relative to the run's folder. */
  log: string;
  error?: string;
}

export interface RunRecord {
  version: 1;
  id: string;
  /** Pipeline file, relative to the workspace folder. */
  pipeline: string;
  /** The pipeline's `name:`, when it has one. */
  name?: string;
  workspace: string;
  status: RunStatus;
  target: { stages: string[]; upstream: boolean; force: boolean; host?: string };
  started: string;
  ended?: string;
  pid: number;
  /** The machine mlpipe ran on (with pid: whether a run still marked running is alive). */
  host?: string;
  git?: { commit: string; dirty: boolean };
  /** Every param the run's stages read, resolved. */
  params: Record<string, unknown>;
  stages: StageRecord[];
  error?: string;
}

/** The last successful result of a stage instance: what `mlpipe status` compares against. */
export interface LastResult {
  version: 1;
  key: string;
  inputs: KeyInputs;
  outputs: Record<string, string>;
  run: string;
  ended: string;
}

/** `YYYYMMDD-HHMMSS-mmm-xxxx` (UTC, milliseconds, 4 random hex digits): ids sort by start time. */
export function newRunId(now = new Date()): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const stamp = `${now.getUTCFullYear()}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}-${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}${pad(now.getUTCSeconds())}-${pad(now.getUTCMilliseconds(), 3)}`;
  return `${stamp}-${Math.random().toString(16).slice(2, 6).padEnd(4, '0')}`;
}

/** Where a workspace keeps its runs, cache, state and locks: `.mlpipe/` beside the pipeline. */
export class MlpipeDir {
  constructor(readonly root: string) {}

  get runs(): string {
    return join(this.root, 'runs');
  }

  runDir(id: string): string {
    return join(this.runs, id);
  }

  logPath(id: string, stage: string): string {
    return join(this.runDir(id), 'logs', `${stage.replace(/[^A-Za-z0-9_.@=-]/g, '_')}.log`);
  }

  writeRecord(record: RunRecord): void {
    writeFileAtomic(join(this.runDir(record.id), 'run.json'), `${JSON.stringify(record, null, 2)}\n`);
  }

  readRecord(id: string): RunRecord | undefined {
    try {
      return JSON.parse(readFileSync(join(this.runDir(id), 'run.json'), 'utf8')) as RunRecord;
    } catch {
      return undefined;
    }
  }

  /** Run ids, newest first. */
  runIds(): string[] {
    if (!existsSync(this.runs)) return [];
    return readdirSync(this.runs).filter((name) => existsSync(join(this.runs, name, 'run.json'))).sort().reverse();
  }

  lastResult(stage: string): LastResult | undefined {
    try {
      return JSON.parse(readFileSync(join(this.root, 'last', `${stage}.json`), 'utf8')) as LastResult;
    } catch {
      return undefined;
    }
  }

  saveLastResult(stage: string, result: LastResult): void {
    writeFileAtomic(join(this.root, 'last', `${stage}.json`), JSON.stringify(result, null, 2));
  }

  ensure(): void {
    mkdirSync(this.root, { recursive: true });
    const ignore = join(this.root, '.gitignore');
    // Runs, cache and state are local to this machine; keep them out of git without asking.
    if (!existsSync(ignore)) writeFileAtomic(ignore, '*\n');
  }
}

/** A metrics file's values, flattened: `{"test": {"auc": 0.9}}` gives `test.auc: 0.9`. */
export function flattenMetrics(value: unknown, prefix = '', into: Record<string, unknown> = {}, depth = 0): Record<string, unknown> {
  if (value && typeof value === 'object' && !Array.isArray(value) && depth < 8) {
    for (const [key, child] of Object.entries(value)) flattenMetrics(child, prefix ? `${prefix}.${key}` : key, into, depth + 1);
  } else if (prefix && (value === null || typeof value !== 'object')) {
    into[prefix] = value;
  }
  return into;
}
