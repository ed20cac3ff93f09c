/**
 * Drift benchmark:
 *
 *   npm run bench:drift
 *
 * Two CSV files of BENCH_ROWS (default 1,000,000) rows x 20 columns (15 numeric, 5 categorical),
 * the current one shifted by BENCH_SHIFT (default 0.5), are generated once into .bench/drift-data/. Then, in the same run:
 *
 * - mlpipe: `mlpipe drift REF CUR --format json` as a process (reading, inferring, every test, the
 *   report), BENCH_ROUNDS times (default 3) after a warm-up; wall time and peak RSS (VmHWM, polled).
 *   Targets: <= 3 s and <= 500 MB.
 * - Evidently (the peer): DataDriftPreset on the same files with pandas, in a venv this script makes
 *   under .bench/evidently-venv (PyPI: evidently 0.7.23, pandas < 3), timed the same way (the
 *   process), with its own split into reading and computing.
 *
 * - In this process, the sketches forced (an exact limit of 20,000 numbers per column): how far RSS
 *   grows reading the same files, against their size. Memory must not grow with the file.
 *
 * Prints both, the ratio, and the largest difference between the two in any column's drift score,
 * with the methods each chose. Writes .bench/drift-results.json. Exits non-zero only when a tool
 * fails, not when a target is missed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { computeDrift } from '../../core/src/drift/engine';
import { ROOT } from '../support/files';
import { writeDriftCsv } from '../support/drift-data';
import { median } from '../support/stats';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** How far the current data moves (test/support/drift-data.ts): 0.5 makes some columns drift and not others. */
const SHIFT = Number(process.env.BENCH_SHIFT ?? 0.5);
const DATA = join(ROOT, '.bench', 'drift-data');
const VENV = join(ROOT, '.bench', 'evidently-venv');
const EVIDENTLY = 'evidently==0.7.23';
const RESULTS = join(ROOT, '.bench', 'drift-results.json');

/** Evidently's method names, as mlpipe names them. */
const EVIDENTLY_METHODS: Record<string, string> = {
  'Wasserstein distance (normed)': 'wasserstein',
  'Jensen-Shannon distance': 'jensenshannon',
  'K-S p_value': 'ks',
  'chi-square p_value': 'chisquare',
  'Z-test p_value': 'z',
  PSI: 'psi',
  'Kullback-Leibler divergence': 'kl',
};

interface Timed {
  ms: number;
  peakMb: number;
  stdout: string;
}

/** Runs a process to the end, polling its peak RSS (VmHWM only grows, so the last read is the peak). */
function timed(command: string, args: string[]): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let peakKb = 0;
    const poll = setInterval(() => {
      try {
        const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (match) peakKb = Math.max(peakKb, Number(match[1]));
      } catch {
        // exited
      }
    }, 20);
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(poll);
      const ms = performance.now() - start;
      if (code !== 0)
        return reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${err.slice(-3000)}`));
      resolve({ ms, peakMb: peakKb / 1024, stdout: Buffer.concat(out).toString('utf8') });
    });
  });
}

async function data(): Promise<{ reference: string; current: string }> {
  mkdirSync(DATA, { recursive: true });
  const reference = join(DATA, `reference-${ROWS}.csv`);
  const current = join(DATA, `current-${ROWS}-shift${SHIFT}.csv`);
  const marker = join(DATA, `ready-${ROWS}-shift${SHIFT}`);
  if (!existsSync(marker)) {
    console.log(`generating ${ROWS.toLocaleString('en')} rows x 20 columns, twice, into ${DATA} ...`);
    if (!existsSync(reference))
      await writeDriftCsv(reference, { rows: ROWS, numeric: 15, categorical: 5, seed: 1, shift: 0 });
    await writeDriftCsv(current, { rows: ROWS, numeric: 15, categorical: 5, seed: 2, shift: SHIFT });
    writeFileSync(marker, '');
  }
  return { reference, current };
}

function evidentlyPython(): string {
  const python = join(VENV, 'bin', 'python');
  const marker = join(VENV, '.installed');
  if (!existsSync(marker)) {
    console.log(`installing ${EVIDENTLY} into ${VENV} (PyPI) ...`);
    const steps: [string, string[]][] = [
      ['python3', ['-m', 'venv', VENV]],
      [join(VENV, 'bin', 'pip'), ['install', '--quiet', EVIDENTLY, 'pandas<3']],
    ];
    for (const [command, args] of steps) {
      const result = spawnSync(command, args, { stdio: 'inherit' });
      if (result.status !== 0)
        throw new Error(
          `${command} ${args.join(' ')} failed (python3 and python3-venv are needed: apt-get install -y python3 python3-venv)`,
        );
    }
    writeFileSync(marker, EVIDENTLY);
  }
  return python;
}

/** Peak RSS growth of computeDrift in this process with the sketches forced, polled every 10 ms. */
async function sketchedGrowthMb(reference: string, current: string): Promise<number> {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  try {
    await computeDrift(reference, current, { _exactLimit: 20_000, _sketchK: 2048, details: false });
  } finally {
    clearInterval(timer);
  }
  return (Math.max(peak, process.memoryUsage().rss) - before) / 1048576;
}

async function main(): Promise<void> {
  const { reference, current } = await data();
  const filesMb = (statSync(reference).size + statSync(current).size) / 1048576;
  const sketchedMb = await sketchedGrowthMb(reference, current);
  const cli = join(ROOT, 'dist', 'cli.js');
  const ours: Timed[] = [];
  for (let i = 0; i <= ROUNDS; i++) {
    const run = await timed(process.execPath, [cli, 'drift', reference, current, '--format', 'json']);
    if (i > 0) ours.push(run);
  }
  const report = JSON.parse(ours[0].stdout) as {
    columns: { column: string; method: string; score: number; drifted: boolean }[];
    number_of_drifted_columns: number;
    number_of_columns: number;
  };

  const python = evidentlyPython();
  const theirs: Timed[] = [];
  for (let i = 0; i < Math.max(1, Math.min(ROUNDS, 2)); i++)
    theirs.push(await timed(python, [join(ROOT, 'test', 'bench', 'evidently_drift.py'), reference, current]));
  const evidently = theirs.map(
    (run) =>
      JSON.parse(run.stdout) as {
        read_s: number;
        compute_s: number;
        columns: Record<string, { method: string; score: number; threshold: number }>;
      },
  );

  let largest = { column: '', difference: 0, ours: 0, theirs: 0 };
  const methodMismatches: string[] = [];
  for (const column of report.columns) {
    const other = evidently[0].columns[column.column];
    if (!other) {
      methodMismatches.push(`${column.column}: Evidently did not compare it`);
      continue;
    }
    const method = EVIDENTLY_METHODS[other.method] ?? other.method;
    if (method !== column.method)
      methodMismatches.push(`${column.column}: mlpipe ${column.method}, Evidently ${other.method}`);
    const difference = Math.abs(column.score - other.score);
    if (difference >= largest.difference)
      largest = { column: column.column, difference, ours: column.score, theirs: other.score };
  }

  const oursMs = median(ours.map((run) => run.ms));
  const oursMb = Math.max(...ours.map((run) => run.peakMb));
  const theirsMs = median(theirs.map((run) => run.ms));
  const theirsMb = Math.max(...theirs.map((run) => run.peakMb));
  const rows = [
    ['', 'mlpipe drift', 'Evidently DataDriftPreset', 'ratio', 'target'],
    [
      'wall time (process)',
      `${(oursMs / 1000).toFixed(2)} s`,
      `${(theirsMs / 1000).toFixed(2)} s`,
      `${(theirsMs / oursMs).toFixed(1)}x`,
      '<= 3 s',
    ],
    [
      '  of which reading CSV / computing',
      '(streamed together)',
      `${median(evidently.map((run) => run.read_s)).toFixed(2)} s / ${median(evidently.map((run) => run.compute_s)).toFixed(2)} s`,
      '',
      '',
    ],
    [
      'peak RSS',
      `${oursMb.toFixed(0)} MB`,
      `${theirsMb.toFixed(0)} MB`,
      `${(theirsMb / oursMb).toFixed(1)}x`,
      '<= 500 MB',
    ],
  ];
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  console.log(
    `\n${ROWS.toLocaleString('en')} rows x 20 columns (15 numeric, 5 categorical); medians of ${ROUNDS} rounds for mlpipe, ${theirs.length} for Evidently\n`,
  );
  for (const row of rows) console.log(row.map((cell, column) => cell.padEnd(widths[column])).join('  '));
  console.log(
    `\nin process, sketches forced: RSS grew ${sketchedMb.toFixed(0)} MB reading ${filesMb.toFixed(0)} MB of files (${(sketchedMb / filesMb).toFixed(2)} of their size; target < 0.5: ${sketchedMb < filesMb / 2 ? 'met' : 'MISSED'})`,
  );
  console.log(`targets: time ${oursMs <= 3000 ? 'met' : 'MISSED'}, memory ${oursMb <= 500 ? 'met' : 'MISSED'}`);
  console.log(`drift: mlpipe ${report.number_of_drifted_columns} of ${report.number_of_columns} columns drifted`);
  console.log(
    `largest difference in a drift score: ${largest.difference.toExponential(2)} (${largest.column}: mlpipe ${largest.ours}, Evidently ${largest.theirs})`,
  );
  console.log(
    methodMismatches.length === 0
      ? 'methods: the same for every column'
      : `methods that differ:\n  ${methodMismatches.join('\n  ')}`,
  );
  writeFileSync(
    RESULTS,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        rows: ROWS,
        mlpipe: { ms: oursMs, peakMb: oursMb },
        evidently: { ms: theirsMs, peakMb: theirsMb, readS: evidently[0].read_s, computeS: evidently[0].compute_s },
        largestDifference: largest,
        methodMismatches,
        sketched: { filesMb, rssGrowthMb: sketchedMb },
      },
      null,
      2,
    ),
  );
  console.log(`\nwritten to ${RESULTS}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
