/**
 * One format for what every benchmark measured, so `npm run bench` can gather the figures into
 * one JSON and docs/performance.md and the README can be generated from it instead of copied by
 * hand. A benchmark calls `writeBenchResult` once at its end; the file goes to
 * `.bench/results/<bench>.json` (or `MLPIPE_BENCH_RESULTS`/<bench>.json).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';

/** A table as the benchmark prints it: the generator renders it as Markdown. */
export interface BenchTable {
  title: string;
  columns: string[];
  rows: (string | number | null)[][];
  /** What the columns mean, printed under the table. */
  notes?: string[];
}

/** A target the issue named, with the figure measured against it. */
export interface BenchTarget {
  /** What is measured, in words: "edit -> diagnostics p95, 1,000 stages, plain". */
  name: string;
  value: number | null;
  unit: string;
  op: '<=' | '>=';
  target: number;
  /** Why there is no value, or what explains a miss (the profile). */
  note?: string;
}

/** A ratio against a peer measured in the same run: value = peer / mlpipe unless said. */
export interface BenchRatio {
  name: string;
  value: number | null;
  note?: string;
}

export interface BenchResult {
  /** The bench's name: lsp, drift, store, runner, push, startup. */
  bench: string;
  /** How it was run, for the reader to rerun: "npm run bench:lsp" with the size variables. */
  command: string;
  /** The size it ran at, in words ("quick: 1,000 and 10,000 stages", "full"). */
  size: string;
  tables: BenchTable[];
  targets: BenchTarget[];
  ratios: BenchRatio[];
  /** Peers and their versions: { "yaml-language-server": "1.25.0" }. */
  peers?: Record<string, string>;
}

export interface WrittenBenchResult extends BenchResult {
  date: string;
  commit: string;
  machine: { cpus: number; model: string; memoryGiB: number; node: string; platform: string };
  seconds: number;
  targetsPassed: number;
  targetsTotal: number;
}

const startedAt = Date.now();
const root = resolve(__dirname, '../..');

function commitOf(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: root,
      encoding: 'utf8',
    }).trim();
    return dirty ? `${head}-dirty` : head;
  } catch {
    return 'unknown';
  }
}

export function passes(target: BenchTarget): boolean {
  if (target.value === null || !Number.isFinite(target.value)) return false;
  return target.op === '<=' ? target.value <= target.target : target.value >= target.target;
}

/** Prints the targets as PASS/MISS lines (what a reader of the console sees). */
export function printTargets(targets: BenchTarget[]): void {
  for (const target of targets) {
    const value = target.value === null ? 'n/a' : `${round(target.value)} ${target.unit}`;
    const verdict = passes(target) ? 'PASS' : 'MISS';
    const note = target.note ? ` (${target.note})` : '';
    console.log(`  ${verdict}  ${target.name}: ${value} (target ${target.op} ${target.target} ${target.unit})${note}`);
  }
}

function round(value: number): number {
  if (Math.abs(value) >= 100) return Math.round(value);
  if (Math.abs(value) >= 10) return Math.round(value * 10) / 10;
  return Math.round(value * 100) / 100;
}

/** Writes the result atomically and returns the path. */
export function writeBenchResult(result: BenchResult): string {
  const written: WrittenBenchResult = {
    ...result,
    date: new Date().toISOString(),
    commit: commitOf(),
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
    },
    seconds: Math.round((Date.now() - startedAt) / 100) / 10,
    targetsPassed: result.targets.filter(passes).length,
    targetsTotal: result.targets.length,
  };
  const folder = process.env.MLPIPE_BENCH_RESULTS ?? join(root, '.bench', 'results');
  mkdirSync(folder, { recursive: true });
  const path = join(folder, `${result.bench}.json`);
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(written, null, 2)}\n`);
  renameSync(temporary, path);
  console.log(`\nfigures written to ${path}`);
  return path;
}
