import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type RunRecord } from '../../core/src/runs/records';
import { type RunSummary } from '../../core/src/store/store';
import { seeded } from './random';

/** A run summary with `metrics` metrics m0..mN and three params, deterministic for a seed. */
export function fakeSummary(id: string, seed: number, metrics = 5): RunSummary {
  const random = seeded(seed + 1);
  const values: Record<string, number> = {};
  for (let i = 0; i < metrics; i++) values[`m${i}`] = Math.round(random() * 1e6) / 1e6;
  return {
    v: 1,
    id,
    pipeline: 'mlpipe.yaml',
    name: seed % 3 === 0 ? 'churn' : 'vision',
    status: seed % 10 === 0 ? 'failed' : 'succeeded',
    started: new Date(Date.UTC(2026, 0, 1) + seed * 60_000).toISOString(),
    ended: new Date(Date.UTC(2026, 0, 1) + seed * 60_000 + 30_000).toISOString(),
    durationMs: 30_000,
    commit: (seed % 7).toString(16).padStart(40, 'a'),
    dirty: seed % 2 === 0,
    params: {
      'train.lr': [0.1, 0.01, 0.001][seed % 3],
      'train.epochs': 10 + (seed % 5),
      optimizer: seed % 2 ? 'adam' : 'sgd',
    },
    metrics: values,
    stages: { succeeded: 3 },
    series: [],
  };
}

/** Writes an index of `count` runs directly (what ExperimentStore would have appended). */
export function writeIndex(root: string, count: number, metrics = 50): void {
  mkdirSync(join(root, 'store'), { recursive: true });
  const lines: string[] = [];
  for (let i = 0; i < count; i++)
    lines.push(
      JSON.stringify({ op: 'run', summary: fakeSummary(`20260101-000000-${String(i).padStart(5, '0')}`, i, metrics) }),
    );
  writeFileSync(join(root, 'store', 'index.jsonl'), `${lines.join('\n')}\n`);
}

/** A run record of one stage, as the runner writes it (for store and CLI tests without an engine). */
export function fakeRecord(
  id: string,
  workspace: string,
  options: {
    status?: RunRecord['status'];
    started?: string;
    params?: Record<string, unknown>;
    metrics?: Record<string, Record<string, unknown>>;
    stage?: string;
    key?: string;
    git?: RunRecord['git'];
  } = {},
): RunRecord {
  const status = options.status ?? 'succeeded';
  const started = options.started ?? '2026-01-01T00:00:00.000Z';
  const stage = options.stage ?? 'train';
  return {
    version: 1,
    id,
    pipeline: 'mlpipe.yaml',
    name: 'churn',
    workspace,
    status,
    target: { stages: [], upstream: false, force: false },
    started,
    ended: new Date(Date.parse(started) + 30_000).toISOString(),
    pid: 1,
    ...(options.git ? { git: options.git } : {}),
    params: options.params ?? { 'train.lr': 0.01 },
    stages: [
      {
        name: stage,
        stage: stage.split('@')[0],
        matrix: {},
        status: status === 'failed' ? 'failed' : 'succeeded',
        host: 'local',
        image: 'python:3.11',
        command: 'python3 train.py',
        attempts: 1,
        exitCode: status === 'failed' ? 1 : 0,
        ...(options.key ? { key: options.key } : {}),
        params: {},
        deps: {},
        outputs: {},
        metrics: options.metrics ?? {},
        log: `logs/${stage}.log`,
      },
    ],
  };
}

/**
 * The `.mlpipe/` of a benchmark store of `count` runs x `metrics` metrics under `.bench/store/`,
 * written once and reused (a marker file says it was written whole).
 */
export function benchStore(folder: string, count: number, metrics: number): { root: string; fresh: boolean } {
  const root = join(folder, `runs-${count}x${metrics}`, '.mlpipe');
  const marker = join(root, 'store', `.complete-v1`);
  if (existsSync(marker)) return { root, fresh: false };
  rmSync(join(folder, `runs-${count}x${metrics}`), { recursive: true, force: true });
  writeIndex(root, count, metrics);
  writeFileSync(join(root, '..', 'mlpipe.yaml'), 'version: 1\nstages: {}\n');
  writeFileSync(marker, '');
  return { root, fresh: true };
}
