/**
 * Drift benchmark (issue 13, "drift near the hardware"):
 *
 *   npm run bench:drift                               # MLPIPE_BENCH_SIZE=full (default)
 *   MLPIPE_BENCH_SIZE=quick npm run bench:drift       # what `npm run bench` runs (<= 150 s with warm data)
 *
 * Every figure is `mlpipe drift REF CUR --format json` as a whole process (the production build:
 * start, reading, type inference, every test, the report on stdout): wall time, and peak RSS
 * (VmHWM of the process, polled every 20 ms). Data is generated once into .bench/drift-data/ and
 * reused.
 *
 * 1. Narrow: two CSV files of 1,000,000 rows x 20 columns (15 numeric, 5 categorical; 146 MB
 *    each, test/support/drift-data.ts; the current side shifted so that some columns drift and
 *    others do not). mlpipe BENCH_ROUNDS times (default 5) after a warm-up, median. Targets:
 *    <= 1.0 s, <= 500 MB. The peer, in the same run: Evidently 0.7.23's DataDriftPreset on the same
 *    files with pandas (test/bench/evidently_drift.py, a venv under .bench/evidently-venv made
 *    once from PyPI), once; its methods and drift scores are compared with mlpipe's.
 * 2. Wide tables (numbers only, 4 decimals, written by pyarrow from evidently_drift.py generate):
 *    full: 1,000,000 rows x 500 columns in Parquet (row groups of 100,000 rows, Snappy; 3.75 GB
 *    each), targets <= 60 s and <= 1.5 GB; 200,000 rows x 2,000 columns in CSV (3 GB each), target
 *    <= 60 s. quick: 100,000 x 500 Parquet and 20,000 x 2,000 CSV (a tenth of the rows), whose
 *    figures are shown but are not the targets' (value null, with the quick figure in the note).
 * 3. Evidently on the largest table (full only): the 1,000,000 x 500 Parquet files with a
 *    wall-clock limit of 10 minutes (and 12 GB of RSS, to spare the machine), and before it on
 *    the first 10,000 and 50,000 rows of the same files, whose times give an extrapolation to the
 *    whole table (linear in rows, labelled as such) when the whole run hits its limit.
 * 4. full only: the sketches forced in this process (an exact limit of 20,000 numbers per column)
 *    on the narrow files: how far RSS grows against the files' size.
 *
 * Ends with writeBenchResult (bench 'drift'); also .bench/drift-results.json as before. Exits
 * non-zero only when a tool fails, not when a target is missed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { computeDrift } from '../../core/src/drift/engine';
import { printTargets, writeBenchResult, type BenchRatio, type BenchTarget } from '../support/bench-result';
import { writeDriftCsv } from '../support/drift-data';
import { ROOT } from '../support/files';
import { median } from '../support/stats';

const SIZE = process.env.MLPIPE_BENCH_SIZE === 'quick' ? 'quick' : 'full';
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** How far the current data moves (test/support/drift-data.ts): 0.5 makes some columns drift and not others. */
const SHIFT = Number(process.env.BENCH_SHIFT ?? 0.5);
const DATA = join(ROOT, '.bench', 'drift-data');
const WIDE = join(DATA, 'wide');
const VENV = join(ROOT, '.bench', 'evidently-venv');
const EVIDENTLY = 'evidently==0.7.23';
const RESULTS = join(ROOT, '.bench', 'drift-results.json');
const EVIDENTLY_LIMIT_MS = 10 * 60 * 1000;
const EVIDENTLY_LIMIT_MB = 12 * 1024;
const WIDE_SLICES = [10_000, 50_000];

/** The wide tables at this size: the targets' sizes in full, a tenth of the rows in quick. */
const WIDE_TABLES = [
  { format: 'parquet', rows: SIZE === 'full' ? 1_000_000 : 100_000, columns: 500, targetRows: 1_000_000 },
  { format: 'csv', rows: SIZE === 'full' ? 200_000 : 20_000, columns: 2_000, targetRows: 200_000 },
] as const;

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
  /** Set when the process was stopped at a limit: which one. */
  stopped?: string;
}

/**
 * Runs a process to the end (or to a limit: wall time, peak RSS), polling its peak RSS (VmHWM
 * only grows, so the last read is the peak).
 */
function timed(command: string, args: string[], limits: { ms?: number; mb?: number } = {}): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let peakKb = 0;
    let stopped: string | undefined;
    const stop = (why: string): void => {
      if (stopped) return;
      stopped = why;
      child.kill('SIGKILL');
    };
    const poll = setInterval(() => {
      try {
        const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (match) peakKb = Math.max(peakKb, Number(match[1]));
      } catch {
        // exited
      }
      if (limits.mb !== undefined && peakKb / 1024 > limits.mb) stop(`peak RSS over ${limits.mb} MB`);
      if (limits.ms !== undefined && performance.now() - start > limits.ms) stop(`over ${limits.ms / 1000} s`);
    }, 20);
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(poll);
      const ms = performance.now() - start;
      if (stopped) return resolve({ ms, peakMb: peakKb / 1024, stdout: '', stopped });
      if (code !== 0)
        return reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${err.slice(-3000)}`));
      resolve({ ms, peakMb: peakKb / 1024, stdout: Buffer.concat(out).toString('utf8') });
    });
  });
}

async function narrowData(): Promise<{ reference: string; current: string }> {
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

/** The wide table's two files, generated by evidently_drift.py (pyarrow) once. */
function wideData(python: string, table: (typeof WIDE_TABLES)[number]): { reference: string; current: string } {
  mkdirSync(WIDE, { recursive: true });
  const name = (side: string): string => join(WIDE, `${side}-${table.rows}x${table.columns}.${table.format}`);
  const files = { reference: name('ref'), current: name('cur') };
  const marker = join(WIDE, `ready-${table.rows}x${table.columns}.${table.format}`);
  if (!existsSync(marker)) {
    console.log(
      `generating ${table.rows.toLocaleString('en')} rows x ${table.columns} columns (${table.format}), twice ...`,
    );
    const seeds = table.format === 'parquet' ? [1, 2] : [3, 4];
    for (const [path, seed, shift] of [
      [files.reference, seeds[0], 0],
      [files.current, seeds[1], SHIFT],
    ] as const) {
      const script = join(ROOT, 'test', 'bench', 'evidently_drift.py');
      const args = [script, 'generate', path, String(table.rows), String(table.columns), String(seed), String(shift)];
      const result = spawnSync(python, args, { stdio: 'inherit' });
      if (result.status !== 0) throw new Error(`generating ${path} failed`);
    }
    writeFileSync(marker, '');
  }
  return files;
}

function evidentlyPython(): string {
  const python = join(VENV, 'bin', 'python');
  const marker = join(VENV, '.installed');
  if (!existsSync(marker)) {
    console.log(`installing ${EVIDENTLY} into ${VENV} (PyPI) ...`);
    const steps: [string, string[]][] = [
      ['python3', ['-m', 'venv', VENV]],
      [join(VENV, 'bin', 'pip'), ['install', '--quiet', EVIDENTLY, 'pandas<3', 'pyarrow']],
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
  // venvs made before the wide tables: pyarrow writes their data and reads their Parquet
  if (spawnSync(python, ['-c', 'import pyarrow']).status !== 0) {
    const result = spawnSync(join(VENV, 'bin', 'pip'), ['install', '--quiet', 'pyarrow'], { stdio: 'inherit' });
    if (result.status !== 0) throw new Error('pip install pyarrow failed');
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

interface EvidentlyRun {
  rows: number;
  read_s: number;
  compute_s: number;
  columns: Record<string, { method: string; score: number; threshold: number }>;
}

const mlpipe = (reference: string, current: string): Promise<Timed> =>
  timed(process.execPath, [join(ROOT, 'dist', 'cli.js'), 'drift', reference, current, '--format', 'json']);

const seconds = (ms: number | null): number | null => (ms === null ? null : Math.round(ms / 10) / 100);
const megabytes = (mb: number | null): number | null => (mb === null ? null : Math.round(mb));
const ratio = (a: number | null, b: number | null): number | null =>
  a === null || b === null || b === 0 ? null : Math.round((a / b) * 10) / 10;

async function main(): Promise<void> {
  const python = evidentlyPython();
  const narrow = await narrowData();
  const wide = WIDE_TABLES.map((table) => ({ table, files: wideData(python, table) }));

  // 1. narrow: mlpipe, then Evidently
  const ours: Timed[] = [];
  for (let i = 0; i <= ROUNDS; i++) {
    const run = await mlpipe(narrow.reference, narrow.current);
    if (i > 0) ours.push(run);
  }
  const report = JSON.parse(ours[0].stdout) as {
    columns: { column: string; method: string; score: number; drifted: boolean }[];
    number_of_drifted_columns: number;
    number_of_columns: number;
  };
  const evidentlyScript = join(ROOT, 'test', 'bench', 'evidently_drift.py');
  const theirs = await timed(python, [evidentlyScript, narrow.reference, narrow.current]);
  const evidently = JSON.parse(theirs.stdout) as EvidentlyRun;
  let largest = { column: '', difference: 0, ours: 0, theirs: 0 };
  const methodMismatches: string[] = [];
  for (const column of report.columns) {
    const other = evidently.columns[column.column];
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
  const narrowMs = median(ours.map((run) => run.ms));
  const narrowMb = Math.max(...ours.map((run) => run.peakMb));
  console.log(
    `\n${ROWS.toLocaleString('en')} x 20 CSV: mlpipe ${(narrowMs / 1000).toFixed(2)} s (median of ${ROUNDS}: ${ours.map((run) => (run.ms / 1000).toFixed(2)).join(', ')}), ${narrowMb.toFixed(0)} MB; Evidently ${(theirs.ms / 1000).toFixed(1)} s (reading ${evidently.read_s.toFixed(1)} s, computing ${evidently.compute_s.toFixed(1)} s), ${theirs.peakMb.toFixed(0)} MB`,
  );
  console.log(
    `largest difference in a drift score: ${largest.difference.toExponential(2)} (${largest.column}); methods: ${methodMismatches.length === 0 ? 'the same for every column' : methodMismatches.join('; ')}`,
  );

  // 2. wide tables: mlpipe once each
  const wideRuns: { table: (typeof WIDE_TABLES)[number]; run: Timed; drifted: number; compared: number }[] = [];
  for (const { table, files } of wide) {
    const run = await mlpipe(files.reference, files.current);
    const result = JSON.parse(run.stdout) as { number_of_drifted_columns: number; number_of_columns: number };
    wideRuns.push({ table, run, drifted: result.number_of_drifted_columns, compared: result.number_of_columns });
    console.log(
      `${table.rows.toLocaleString('en')} x ${table.columns.toLocaleString('en')} ${table.format}: mlpipe ${(run.ms / 1000).toFixed(1)} s, ${run.peakMb.toFixed(0)} MB (${result.number_of_drifted_columns} of ${result.number_of_columns} columns drifted)`,
    );
  }

  // 3. Evidently on the largest table (full): slices, then the whole with its limits
  const largestTable = wide[0];
  const slices: { rows: number; run: Timed; computeS: number }[] = [];
  let whole: Timed | null = null;
  if (SIZE === 'full') {
    for (const rows of WIDE_SLICES) {
      const run = await timed(
        python,
        [evidentlyScript, largestTable.files.reference, largestTable.files.current, '--rows', String(rows)],
        {
          ms: EVIDENTLY_LIMIT_MS,
          mb: EVIDENTLY_LIMIT_MB,
        },
      );
      const computeS = run.stopped ? NaN : (JSON.parse(run.stdout) as EvidentlyRun).compute_s;
      slices.push({ rows, run, computeS });
      console.log(
        `Evidently, first ${rows.toLocaleString('en')} rows x 500 (Parquet): ${run.stopped ? `stopped (${run.stopped})` : `${(run.ms / 1000).toFixed(1)} s, ${run.peakMb.toFixed(0)} MB`}`,
      );
    }
    whole = await timed(python, [evidentlyScript, largestTable.files.reference, largestTable.files.current], {
      ms: EVIDENTLY_LIMIT_MS,
      mb: EVIDENTLY_LIMIT_MB,
    });
    console.log(
      `Evidently, ${largestTable.table.rows.toLocaleString('en')} x 500 (Parquet): ${whole.stopped ? `stopped after ${(whole.ms / 1000).toFixed(0)} s (${whole.stopped}), ${whole.peakMb.toFixed(0)} MB by then` : `${(whole.ms / 1000).toFixed(1)} s, ${whole.peakMb.toFixed(0)} MB`}`,
    );
  }
  // linear in rows from the two slices (Evidently's per-column tests are O(rows) to O(rows log rows))
  let extrapolatedS: number | null = null;
  if (slices.length === 2 && slices.every((slice) => !slice.run.stopped)) {
    const [a, b] = slices;
    const perRow = (b.run.ms - a.run.ms) / 1000 / (b.rows - a.rows);
    extrapolatedS = b.run.ms / 1000 + perRow * (largestTable.table.targetRows - b.rows);
  }

  // 4. sketches forced, in process (full)
  const filesMb = (statSync(narrow.reference).size + statSync(narrow.current).size) / 1048576;
  const sketchedMb = SIZE === 'full' ? await sketchedGrowthMb(narrow.reference, narrow.current) : null;
  if (sketchedMb !== null)
    console.log(
      `in process, sketches forced: RSS grew ${sketchedMb.toFixed(0)} MB reading ${filesMb.toFixed(0)} MB of files (${(sketchedMb / filesMb).toFixed(2)} of their size)`,
    );

  const parquet = wideRuns[0];
  const csv = wideRuns[1];
  const atTarget = (entry: (typeof wideRuns)[number]): boolean => entry.table.rows === entry.table.targetRows;
  const quickNote = (entry: (typeof wideRuns)[number], what: string): string =>
    `measured at MLPIPE_BENCH_SIZE=full; quick ran ${entry.table.rows.toLocaleString('en')} x ${entry.table.columns.toLocaleString('en')}: ${what}`;
  const targets: BenchTarget[] = [
    {
      name: `drift ${ROWS.toLocaleString('en')} x 20 CSV, whole process`,
      value: seconds(narrowMs),
      unit: 's',
      op: '<=',
      target: 1.0,
    },
    {
      name: `drift ${ROWS.toLocaleString('en')} x 20 CSV, peak RSS`,
      value: megabytes(narrowMb),
      unit: 'MB',
      op: '<=',
      target: 500,
    },
    {
      name: 'drift 1,000,000 x 500 Parquet, whole process',
      value: atTarget(parquet) ? seconds(parquet.run.ms) : null,
      unit: 's',
      op: '<=',
      target: 60,
      ...(atTarget(parquet) ? {} : { note: quickNote(parquet, `${(parquet.run.ms / 1000).toFixed(1)} s`) }),
    },
    {
      name: 'drift 1,000,000 x 500 Parquet, peak RSS',
      value: atTarget(parquet) ? megabytes(parquet.run.peakMb) : null,
      unit: 'MB',
      op: '<=',
      target: 1536,
      ...(atTarget(parquet) ? {} : { note: quickNote(parquet, `${parquet.run.peakMb.toFixed(0)} MB`) }),
    },
    {
      name: 'drift 200,000 x 2,000 CSV, whole process',
      value: atTarget(csv) ? seconds(csv.run.ms) : null,
      unit: 's',
      op: '<=',
      target: 60,
      ...(atTarget(csv)
        ? {}
        : { note: quickNote(csv, `${(csv.run.ms / 1000).toFixed(1)} s, ${csv.run.peakMb.toFixed(0)} MB`) }),
    },
  ];
  console.log('\nTargets:');
  printTargets(targets);

  const wholeS = whole && !whole.stopped ? whole.ms / 1000 : null;
  const stoppedByTime = whole?.stopped?.startsWith('over') ?? false;
  const lastSlice = slices.at(-1);
  const extrapolation =
    extrapolatedS !== null && lastSlice
      ? `extrapolated linearly from its ${WIDE_SLICES.map((rows) => rows.toLocaleString('en')).join(' and ')}-row slices it would take about ${(extrapolatedS / 60).toFixed(0)} minutes, ${ratio(extrapolatedS * 1000, parquet.run.ms)}x mlpipe (an extrapolation, not a measurement; its memory grows with the rows too: ${(lastSlice.run.peakMb / 1024).toFixed(1)} GB at ${lastSlice.rows.toLocaleString('en')} rows)`
      : 'no extrapolation (a slice did not finish)';
  const ratios: BenchRatio[] = [
    { name: `Evidently / mlpipe, wall time, ${ROWS.toLocaleString('en')} x 20 CSV`, value: ratio(theirs.ms, narrowMs) },
    {
      name: `Evidently / mlpipe, peak RSS, ${ROWS.toLocaleString('en')} x 20 CSV`,
      value: ratio(theirs.peakMb, narrowMb),
    },
    whole === null
      ? {
          name: 'Evidently / mlpipe, wall time, 1,000,000 x 500 Parquet',
          value: null,
          note: 'measured at MLPIPE_BENCH_SIZE=full',
        }
      : wholeS !== null
        ? {
            name: 'Evidently / mlpipe, wall time, 1,000,000 x 500 Parquet',
            value: ratio(wholeS * 1000, parquet.run.ms),
          }
        : {
            // stopped by the time limit: the limit is a lower bound of its time; by memory: no figure
            name: `Evidently / mlpipe, wall time, 1,000,000 x 500 Parquet${stoppedByTime ? ' (at least: Evidently stopped at its time limit)' : ''}`,
            value: stoppedByTime ? ratio(whole.ms, parquet.run.ms) : null,
            note: `Evidently was stopped after ${(whole.ms / 1000).toFixed(0)} s (${whole.stopped}); ${extrapolation}`,
          },
  ];

  const rows: (string | number | null)[][] = [
    [
      `${ROWS.toLocaleString('en')} x 20 CSV (15 numeric, 5 categorical)`,
      seconds(narrowMs),
      megabytes(narrowMb),
      seconds(theirs.ms),
      megabytes(theirs.peakMb),
      ratio(theirs.ms, narrowMs),
    ],
    ...wideRuns.map((entry) => [
      `${entry.table.rows.toLocaleString('en')} x ${entry.table.columns.toLocaleString('en')} ${entry.table.format === 'parquet' ? 'Parquet' : 'CSV'} (numbers)`,
      seconds(entry.run.ms),
      megabytes(entry.run.peakMb),
      entry === parquet && whole
        ? whole.stopped
          ? `> ${(whole.ms / 1000).toFixed(0)} (stopped: ${whole.stopped})`
          : seconds(whole.ms)
        : null,
      entry === parquet && whole ? megabytes(whole.peakMb) : null,
      entry === parquet && whole && (!whole.stopped || stoppedByTime) ? ratio(whole.ms, entry.run.ms) : null,
    ]),
    ...slices.map((slice) => [
      `Evidently alone: first ${slice.rows.toLocaleString('en')} rows x 500 of the Parquet files`,
      null,
      null,
      slice.run.stopped ? `stopped: ${slice.run.stopped}` : seconds(slice.run.ms),
      megabytes(slice.run.peakMb),
      null,
    ]),
  ];
  writeBenchResult({
    bench: 'drift',
    command: `MLPIPE_BENCH_SIZE=${SIZE} npm run bench:drift`,
    size: `${SIZE}: ${ROWS.toLocaleString('en')} x 20 CSV (${ROUNDS} rounds); ${wideRuns.map((entry) => `${entry.table.rows.toLocaleString('en')} x ${entry.table.columns.toLocaleString('en')} ${entry.table.format}`).join(', ')} (1 round)${SIZE === 'full' ? '; Evidently on the 1,000,000 x 500 Parquet with a 10-minute limit' : ''}`,
    tables: [
      {
        title: 'mlpipe drift (whole process) and Evidently DataDriftPreset, same files, same run',
        columns: ['data', 'mlpipe s', 'mlpipe peak MB', 'Evidently s', 'Evidently peak MB', 'Evidently / mlpipe'],
        rows,
        notes: [
          `mlpipe: \`mlpipe drift REF CUR --format json\` (production build) as a process, wall time and peak RSS (VmHWM); the ${ROWS.toLocaleString('en')} x 20 row is the median of ${ROUNDS} rounds after a warm-up, the wide tables one round`,
          `Evidently ${EVIDENTLY.split('==')[1]}: evidently_drift.py (pandas reads the files, then Report([DataDriftPreset()]).run), the whole process; ${ROWS.toLocaleString('en')} x 20: reading ${evidently.read_s.toFixed(1)} s, computing ${evidently.compute_s.toFixed(1)} s`,
          `largest difference between the two in any drift score, ${ROWS.toLocaleString('en')} x 20: ${largest.difference.toExponential(2)} (${largest.column}); methods ${methodMismatches.length === 0 ? 'the same for every column' : `differ: ${methodMismatches.join('; ')}`}; mlpipe found ${report.number_of_drifted_columns} of ${report.number_of_columns} columns drifted`,
          ...(whole
            ? [
                `Evidently on the largest table ran with limits of ${EVIDENTLY_LIMIT_MS / 60000} minutes and ${EVIDENTLY_LIMIT_MB / 1024} GB of RSS`,
              ]
            : []),
          ...(sketchedMb !== null
            ? [
                `in process with the sketches forced (20,000 exact numbers per column), RSS grew ${sketchedMb.toFixed(0)} MB reading ${filesMb.toFixed(0)} MB of files`,
              ]
            : []),
        ],
      },
    ],
    targets,
    ratios,
    peers: { evidently: EVIDENTLY.split('==')[1] },
  });
  writeFileSync(
    RESULTS,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        size: SIZE,
        rows: ROWS,
        mlpipe: { ms: narrowMs, peakMb: narrowMb },
        evidently: { ms: theirs.ms, peakMb: theirs.peakMb, readS: evidently.read_s, computeS: evidently.compute_s },
        largestDifference: largest,
        methodMismatches,
        wide: wideRuns.map((entry) => ({ ...entry.table, ms: entry.run.ms, peakMb: entry.run.peakMb })),
        evidentlyWide: whole
          ? {
              ms: whole.ms,
              peakMb: whole.peakMb,
              stopped: whole.stopped ?? null,
              extrapolatedS,
              slices: slices.map((slice) => ({ rows: slice.rows, ms: slice.run.ms, computeS: slice.computeS })),
            }
          : null,
        sketched: sketchedMb === null ? null : { filesMb, rssGrowthMb: sketchedMb },
      },
      null,
      2,
    ),
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
