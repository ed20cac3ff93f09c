import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Boundary } from '../util/boundary';
import { readStateFile, writeFileAtomic } from './files';
import {
  isDigest,
  isRecord,
  isRunId,
  isSafeRelativePath,
  isSafeSubpath,
  jsonRecord,
  MetadataError,
  stageFileName,
} from './metadata';
import { type KeyInputs } from './keys';

export type StageStatus =
  'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'restored' | 'cancelled' | 'blocked';
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

/** One stage instance in a run record. Documented in docs/runs.md; change it only with a version bump. */
export interface StageRecord {
  name: string;
  stage: string;
  matrix: Record<string, string | number | boolean | null>;
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

/** The most a run record may weigh when read back (a run of 10,000 stages is about 10 MB). */
const MAX_RECORD_BYTES = 64 * 1024 * 1024;
const MAX_LAST_BYTES = 16 * 1024 * 1024;

const STAGE_STATUSES: readonly string[] = [
  'pending',
  'running',
  'succeeded',
  'failed',
  'skipped',
  'restored',
  'cancelled',
  'blocked',
];
const RUN_STATUSES: readonly string[] = ['running', 'succeeded', 'failed', 'cancelled'];

/** Paths to digests; outputs may not name `.git` or `.mlpipe`, deps may (a stage can read `.git/HEAD`). */
function digestMap(
  value: unknown,
  pathOk: (path: string) => boolean = isSafeRelativePath,
): value is Record<string, string> {
  return isRecord(value) && Object.entries(value).every(([path, hash]) => pathOk(path) && isDigest(hash));
}

/**
 * A run record read back from `.mlpipe/runs/<id>/run.json`, or undefined when it is not one: the id
 * must be the folder's, every stage's key a digest, every output a workspace path with a digest.
 */
export function parseRunRecord(text: string, id: string): RunRecord | undefined {
  const data = jsonRecord(text);
  if (
    !data ||
    data.id !== id ||
    !isRunId(data.id) ||
    !RUN_STATUSES.includes(data.status as string) ||
    typeof data.started !== 'string' ||
    typeof data.pipeline !== 'string'
  )
    return undefined;
  if (!Array.isArray(data.stages) || !isRecord(data.params)) return undefined;
  for (const stage of data.stages as unknown[]) {
    if (!isRecord(stage) || typeof stage.name !== 'string' || !STAGE_STATUSES.includes(stage.status as string))
      return undefined;
    // The log is opened relative to the run's folder (VS Code's Open Run Logs): it must stay below it.
    if (!isSafeSubpath(stage.log)) return undefined;
    if (stage.key !== undefined && !isDigest(stage.key)) return undefined;
    if (
      !digestMap(stage.outputs) ||
      !digestMap(stage.deps, isSafeSubpath) ||
      !isRecord(stage.metrics) ||
      !isRecord(stage.params)
    )
      return undefined;
  }
  return data as unknown as RunRecord;
}

/** A stage's last result read back from `.mlpipe/last/`, or undefined when it is not one. */
export function parseLastResult(text: string): LastResult | undefined {
  const data = jsonRecord(text);
  if (!data || !isDigest(data.key) || !isRunId(data.run) || !digestMap(data.outputs)) return undefined;
  const inputs = data.inputs;
  if (
    !isRecord(inputs) ||
    typeof inputs.command !== 'string' ||
    typeof inputs.image !== 'string' ||
    !isRecord(inputs.params) ||
    !digestMap(inputs.deps, isSafeSubpath) ||
    !isRecord(inputs.env)
  )
    return undefined;
  return data as unknown as LastResult;
}

/** Where a pipeline keeps its runs, cache, state and locks: the `.mlpipe/` folder beside it. */
export function mlpipeRootOf(pipelinePath: string): string {
  return join(dirname(pipelinePath), '.mlpipe');
}

/** The folders of `.mlpipe/` that mlpipe itself makes: a link in their place is refused. */
const LAYOUT = [
  'runs',
  'cache',
  'cache/objects',
  'cache/stages',
  'last',
  'locks',
  'store',
  'plans',
  'tracking',
  'tracking/outbox',
  'registry',
  'registry/blobs',
  'registry/blobs/sha256',
  'trash',
];

/** Where a workspace keeps its runs, cache, state and locks: `.mlpipe/` beside the pipeline. */
export class MlpipeDir {
  /** The pipeline's folder: nothing under `.mlpipe/` is read or written through a link out of it. */
  readonly boundary: Boundary;

  constructor(readonly root: string) {
    this.boundary = new Boundary(dirname(root), { trash: join(root, 'trash') });
  }

  get runs(): string {
    return join(this.root, 'runs');
  }

  /** A run's folder; the id must be a run id (an id read from a planted file could say `../..`). */
  runDir(id: string): string {
    if (!isRunId(id))
      throw new MetadataError(`'${String(id).slice(0, 80)}' is not an mlpipe run id (YYYYMMDD-HHMMSS-mmm-xxxx)`);
    return join(this.runs, id);
  }

  logPath(id: string, stage: string): string {
    return join(this.runDir(id), 'logs', `${stage.replace(/[^A-Za-z0-9_.@=-]/g, '_').replace(/^\./, '_')}.log`);
  }

  writeRecord(record: RunRecord): void {
    writeFileAtomic(join(this.runDir(record.id), 'run.json'), `${JSON.stringify(record, null, 2)}\n`, this.boundary);
  }

  /** A run record, or undefined when there is none or the file is not a valid record. */
  readRecord(id: string): RunRecord | undefined {
    if (!isRunId(id)) return undefined;
    try {
      const text = readStateFile(this.boundary, join(this.runDir(id), 'run.json'), MAX_RECORD_BYTES);
      return text === undefined ? undefined : parseRunRecord(text, id);
    } catch {
      return undefined;
    }
  }

  /** Run ids, newest first (folders whose names are not run ids are ignored). */
  runIds(): string[] {
    if (!existsSync(this.runs)) return [];
    return readdirSync(this.runs)
      .filter((name) => isRunId(name) && existsSync(join(this.runs, name, 'run.json')))
      .sort()
      .reverse();
  }

  private lastPath(stage: string): string {
    return join(this.root, 'last', `${stageFileName(stage)}.json`);
  }

  lastResult(stage: string): LastResult | undefined {
    try {
      const text = readStateFile(this.boundary, this.lastPath(stage), MAX_LAST_BYTES);
      return text === undefined ? undefined : parseLastResult(text);
    } catch {
      return undefined;
    }
  }

  saveLastResult(stage: string, result: LastResult): void {
    writeFileAtomic(this.lastPath(stage), JSON.stringify(result, null, 2), this.boundary);
  }

  /**
   * Makes `.mlpipe/` (and its `.gitignore`) when missing, and refuses one that is a link, or whose
   * own folders are links: a cloned repository may carry `.mlpipe -> ~` to make mlpipe write there.
   */
  ensure(): void {
    this.checkLayout();
    this.boundary.makeDirs(this.root);
    const ignore = join(this.root, '.gitignore');
    // Runs, cache and state are local to this machine; keep them out of git without asking.
    if (!existsSync(ignore)) writeFileAtomic(ignore, '*\n', this.boundary);
  }

  /** Throws MetadataError naming the first part of `.mlpipe/`'s layout that is not a real folder. */
  checkLayout(): void {
    for (const part of ['', ...LAYOUT]) {
      const path = part ? join(this.root, part) : this.root;
      let link = false;
      try {
        const stat = lstatSync(path);
        link = stat.isSymbolicLink() || !stat.isDirectory();
      } catch {
        continue;
      }
      if (link)
        throw new MetadataError(
          `${this.boundary.show(path)} is not a real folder (a symbolic link or a file); mlpipe keeps its state only in real folders inside the workspace. Remove it and run again.`,
        );
    }
  }
}

/** A metrics file's values, flattened: `{"test": {"auc": 0.9}}` gives `test.auc: 0.9`. */
export function flattenMetrics(
  value: unknown,
  prefix = '',
  into: Record<string, unknown> = {},
  depth = 0,
): Record<string, unknown> {
  if (value && typeof value === 'object' && !Array.isArray(value) && depth < 8) {
    for (const [key, child] of Object.entries(value))
      flattenMetrics(child, prefix ? `${prefix}.${key}` : key, into, depth + 1);
  } else if (prefix && (value === null || typeof value !== 'object')) {
    into[prefix] = value;
  }
  return into;
}
