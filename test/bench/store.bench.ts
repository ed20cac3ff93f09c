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
 *    And the comparison of 100 runs x 4 curves x 5,000 steps: time to the first chart drawn, and a
 *    live update of one run's curves to the next frame ("100 runs without freezing").
 *    Before drawing, the comparison aligns and decimates its curves (webviews/src/compare/model.ts
 *    alignSeries): 100 runs x up to 20,000 steps to 4,000 points, in process, against uPlot.join (the
 *    chart library's own alignment of the same curves, not decimated). Target: <= 1,000 ms.
 * 4. Peer (unless BENCH_MLFLOW=0; needs python3-venv, MLflow is installed from PyPI once): the same
 *    runs on a real MLflow server (sqlite) holding BENCH_MLFLOW_RUNS runs (default 1,000: logging
 *    10,000 takes too long for a benchmark), `runs/search` with a filter and an order paged
 *    through, against mlpipe opening and querying a store of the same size.
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
import { MlflowClient } from '../../core/src/tracking/mlflow';
import { MLFLOW_VERSION, mlflowMissing, startMlflow } from '../support/mlflow-server';
import { fakeSummary, writeIndex } from '../support/store-fixtures';
import uPlot from 'uplot';
import { alignSeries } from '../../webviews/src/compare/model';
import type { Series } from '../../webviews/src/contract';
import { measureCompareRender, measureTableRender } from './table-render';
import { median } from '../support/stats';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const RUNS = Number(process.env.BENCH_RUNS ?? 10_000);
const METRICS = Number(process.env.BENCH_METRICS ?? 50);
const RESULTS = join(ROOT, '.bench', 'store-results.json');

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

/**
 * The peer: the same runs on a real MLflow server, and MLflow's search (what its UI calls) against
 * mlpipe's query over a store of the same size. MLflow's filters compare params as text, so the
 * query is on metrics only: `metrics.m3 > 0.5`, ordered by m7, every matching run fetched.
 */
async function mlflowPeer(dir: string): Promise<Row[]> {
  const count = Number(process.env.BENCH_MLFLOW_RUNS ?? 1000);
  const server = await startMlflow();
  try {
    const client = new MlflowClient(server.uri);
    const experiment = await client.ensureExperiment('bench');
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const summary = fakeSummary(`run-${i}`, i, METRICS);
      const run = await client.createRun({
        experimentId: experiment.experimentId,
        runName: summary.id,
        startTime: Date.parse(summary.started),
      });
      await client.logBatch(run.info.runId, {
        metrics: Object.entries(summary.metrics).map(([key, value]) => ({
          key,
          value: Number(value),
          timestamp: Date.parse(summary.started),
          step: 0,
        })),
        params: Object.entries(summary.params).map(([key, value]) => ({ key, value: String(value) })),
        tags: [],
      });
    }
    console.log(
      `(logged ${count} runs to MLflow ${server.uri} in ${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );
    const search = async () => {
      let matched = 0;
      let pageToken: string | undefined;
      do {
        const page = await client.searchRuns({
          experimentIds: [experiment.experimentId],
          filter: 'metrics.m3 > 0.5',
          orderBy: ['metrics.m7 DESC'],
          maxResults: 1000,
          ...(pageToken ? { pageToken } : {}),
        });
        matched += page.runs.length;
        pageToken = page.nextPageToken;
      } while (pageToken);
      return matched;
    };
    const times: number[] = [];
    let mlflowMatched = 0;
    for (let i = 0; i <= Math.min(ROUNDS, 5); i++) {
      const start = performance.now();
      mlflowMatched = await search();
      if (i > 0) times.push(performance.now() - start);
    }
    const root = join(dir, `.mlpipe-peer-${count}`);
    writeIndex(root, count, METRICS);
    let store = ExperimentStore.open(root);
    let matched = 0;
    const ours = rounds(() => {
      store = ExperimentStore.open(root);
      matched = store.query({ filter: 'metrics.m3 > 0.5', sort: '-metrics.m7' }).length;
    });
    if (matched !== mlflowMatched)
      throw new Error(`MLflow matched ${mlflowMatched} runs, mlpipe ${matched}: not the same query`);
    return [
      {
        what: `open + filter + sort ${count} runs (peer: MLflow ${MLFLOW_VERSION} runs/search, sqlite)`,
        ms: ours,
        peer: { name: 'MLflow', ms: median(times) },
      },
    ];
  } finally {
    await server.stop();
  }
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
    rows.push({
      what: `open ${RUNS} runs x ${METRICS} metrics (${indexMb} MB index)`,
      ms: rounds(() => (store = ExperimentStore.open(root))),
      target: 300,
    });

    const filter = 'metrics.m3 > 0.5 and params.`train.lr` < 0.05';
    let matched = 0;
    rows.push({ what: `filter: ${filter}`, ms: rounds(() => (matched = store.query({ filter }).length)), target: 50 });
    if (matched === 0 || matched === RUNS) throw new Error(`the filter should match some runs, matched ${matched}`);
    rows.push({ what: 'sort all by -metrics.m7', ms: rounds(() => store.query({ sort: '-metrics.m7' })), target: 50 });
    rows.push({
      what: 'filter + sort + group by commit',
      ms: rounds(() => {
        const groups = new Map<string, number>();
        for (const run of store.query({ filter, sort: '-metrics.m7' }))
          groups.set(run.summary.commit ?? '', (groups.get(run.summary.commit ?? '') ?? 0) + 1);
      }),
      target: 50,
    });

    const cli = () => {
      const result = spawnSync(
        process.execPath,
        [join(ROOT, 'dist/cli.js'), 'runs', 'list', '--limit', '20', '--filter', filter, '--sort', '-metrics.m7'],
        { cwd: dir, encoding: 'utf8' },
      );
      if (result.status !== 0) throw new Error(`mlpipe runs list failed: ${result.stderr}`);
    };
    rows.push({ what: 'mlpipe runs list --filter --sort --limit 20 (process, end to end)', ms: rounds(cli) });

    if (process.env.BENCH_MLFLOW !== '0' && !mlflowMissing()) rows.push(...(await mlflowPeer(dir)));

    // Runs stopped at different steps: uPlot.join takes a shortcut when every run has the same steps.
    const curves: Series[] = Array.from({ length: 100 }, (_, r) => {
      const steps = Array.from({ length: 20_000 - 37 * r }, (_, i) => i * 3);
      return {
        name: 'loss',
        stage: 'train',
        file: 'metrics/loss.csv',
        x: 'step',
        steps,
        values: steps.map((step) => Math.exp(-step / 10_000) + r / 100),
      };
    });
    let points = 0;
    const aligned = rounds(() => (points = alignSeries(curves).x.length));
    const joined = rounds(() => uPlot.join(curves.map((curve) => [curve.steps, curve.values])));
    rows.push({
      what: `compare: align + decimate 100 runs x up to 20,000 steps to ${points} points`,
      ms: aligned,
      target: 1000,
      peer: { name: 'uPlot.join, not decimated', ms: joined },
    });

    const table = await measureTableRender(RUNS, METRICS);
    rows.push({ what: `webview table first render, ${RUNS} rows (Chromium)`, ms: table.firstRenderMs, target: 500 });
    rows.push({ what: 'webview table, per scroll step', ms: table.scrollFrameMs, target: 16.7 });
    const compare = await measureCompareRender(100, 4, 5000);
    if (compare.cspViolations.length > 0)
      throw new Error(`CSP violations in the compare view: ${compare.cspViolations.join(', ')}`);
    rows.push({ what: 'compare 100 runs x 4 curves x 5,000 steps: first chart (Chromium)', ms: compare.firstChartMs });
    rows.push({ what: 'compare 100 runs: a live series update, to the next frame', ms: compare.liveUpdateMs });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const width = Math.max(...rows.map((row) => row.what.length));
  console.log(`\n${'measure'.padEnd(width)}  ${'median ms'.padStart(10)}  target    verdict`);
  for (const row of rows) {
    const verdict = row.target === undefined ? '' : row.ms <= row.target ? 'met' : 'MISSED';
    console.log(
      `${row.what.padEnd(width)}  ${row.ms.toFixed(1).padStart(10)}  ${row.target === undefined ? '-'.padEnd(8) : `<= ${row.target}`.padEnd(8)}  ${verdict}${row.peer ? `  (${row.peer.name} ${row.peer.ms.toFixed(1)} ms, ratio ${(row.peer.ms / row.ms).toFixed(1)}x)` : ''}`,
    );
  }
  mkdirSync(join(ROOT, '.bench'), { recursive: true });
  writeFileSync(
    RESULTS,
    JSON.stringify({ date: new Date().toISOString(), runs: RUNS, metrics: METRICS, rounds: ROUNDS, rows }, null, 2),
  );
  console.log(`\nwritten to ${RESULTS}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
