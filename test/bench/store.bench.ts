/**
 * Experiment store benchmark:
 *
 *   npm run bench:store
 *
 * 1. Open: an index of 10,000 runs with 50 metrics and 3 params each (written as the store writes
 *    it), opened by a fresh ExperimentStore (every byte read and parsed), in this process and as
 *    `mlpipe runs list --limit 1` end to end. Target: open <= 300 ms.
 * 2. Filter and sort: `metrics.m3 > 0.5 and params.train.lr < 0.05`, then sort by a metric, over the
 *    10,000 runs. Target: <= 50 ms each.
 * 3. Table: the experiments webview (dist/webviews/experiments.js) in Chromium, first render of
 *    10,000 rows from the moment the data is posted, and the time per scroll step. Target: first
 *    render <= 500 ms.
 * 4. Peer (when BENCH_MLFLOW=1, or a cached MLflow venv exists): the same query on a real MLflow
 *    server (sqlite) holding BENCH_MLFLOW_RUNS runs (default 1,000: logging 10,000 takes too long
 *    for a benchmark), `runs/search` paged through, against mlpipe on the same number of runs.
 *
 * Medians of BENCH_ROUNDS (default 7) rounds; the first round of each is a warm-up and not
 * counted. Prints a table and writes .bench/store-results.json. Exits non-zero only when
 * something fails, not when a target is missed (the table says so).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExperimentStore } from '../../core/src/store/store';
import { ROOT } from '../support/files';
import { writeIndex } from '../support/store-fixtures';
import { measureTableRender } from './table-render';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const RUNS = Number(process.env.BENCH_RUNS ?? 10_000);
const METRICS = Number(process.env.BENCH_METRICS ?? 50);
const RESULTS = join(ROOT, '.bench', 'store-results.json');

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function rounds(action: () => void): number {
  const times: number[] = [];
  for (let i = 0; i <= ROUNDS; i++) {
    const start = performance.now();
    action();
    if (i > 0) times.push(performance.now() - start);
  }
  return median(times);
}

interface Row {
  what: string;
  ms: number;
  target?: number;
  peer?: { name: string; ms: number };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mlpipe-bench-store-'));
  const rows: Row[] = [];
  try {
    const root = join(dir, '.mlpipe');
    writeIndex(root, RUNS, METRICS);
    writeFileSync(join(dir, 'mlpipe.yaml'), 'version: 1\nstages: {}\n');
    let store = ExperimentStore.open(root);
    if (store.size !== RUNS) throw new Error(`expected ${RUNS} runs, read ${store.size}`);
    const indexMb = (store.indexBytes() / 1048576).toFixed(1);
    rows.push({ what: `open ${RUNS} runs x ${METRICS} metrics (${indexMb} MB index)`, ms: rounds(() => (store = ExperimentStore.open(root))), target: 300 });

    const filter = 'metrics.m3 > 0.5 and params.`train.lr` < 0.05';
    let matched = 0;
    rows.push({ what: `filter: ${filter}`, ms: rounds(() => (matched = store.query({ filter }).length)), target: 50 });
    if (matched === 0 || matched === RUNS) throw new Error(`the filter should match some runs, matched ${matched}`);
    rows.push({ what: 'sort all by -metrics.m7', ms: rounds(() => store.query({ sort: '-metrics.m7' })), target: 50 });
    rows.push({ what: 'filter + sort + group by commit', ms: rounds(() => {
      const groups = new Map<string, number>();
      for (const run of store.query({ filter, sort: '-metrics.m7' })) groups.set(run.summary.commit ?? '', (groups.get(run.summary.commit ?? '') ?? 0) + 1);
    }), target: 50 });

    const cli = () => {
      const result = spawnSync(process.execPath, [join(ROOT, 'dist/cli.js'), 'runs', 'list', '--limit', '20', '--filter', filter, '--sort', '-metrics.m7'], { cwd: dir, encoding: 'utf8' });
      if (result.status !== 0) throw new Error(`mlpipe runs list failed: ${result.stderr}`);
    };
    rows.push({ what: 'mlpipe runs list --filter --sort --limit 20 (process, end to end)', ms: rounds(cli) });

    const table = await measureTableRender(RUNS, METRICS);
    rows.push({ what: `webview table first render, ${RUNS} rows (Chromium)`, ms: table.firstRenderMs, target: 500 });
    rows.push({ what: 'webview table, per scroll step', ms: table.scrollFrameMs, target: 16.7 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const width = Math.max(...rows.map((row) => row.what.length));
  console.log(`\n${'measure'.padEnd(width)}  ${'median ms'.padStart(10)}  target    verdict`);
  for (const row of rows) {
    const verdict = row.target === undefined ? '' : row.ms <= row.target ? 'met' : 'MISSED';
    console.log(`${row.what.padEnd(width)}  ${row.ms.toFixed(1).padStart(10)}  ${row.target === undefined ? '-'.padEnd(8) : `<= ${row.target}`.padEnd(8)}  ${verdict}${row.peer ? `  (${row.peer.name} ${row.peer.ms.toFixed(1)} ms, ratio ${(row.peer.ms / row.ms).toFixed(1)}x)` : ''}`);
  }
  mkdirSync(join(ROOT, '.bench'), { recursive: true });
  writeFileSync(RESULTS, JSON.stringify({ date: new Date().toISOString(), runs: RUNS, metrics: METRICS, rounds: ROUNDS, rows }, null, 2));
  console.log(`\nwritten to ${RESULTS}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
