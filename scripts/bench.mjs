#!/usr/bin/env node
// `npm run bench`: every benchmark in turn at MLPIPE_BENCH_SIZE=quick (about 11 minutes in all on
// the 2-core CI machine), or at the issue's target sizes with `npm run bench -- --full`. Each
// bench's time is printed against its budget. The figures each bench wrote
// (.bench/results/<bench>.json, test/support/bench-result.ts) go into docs/performance.json,
// replacing that bench's previous entry; a bench that was not run, or failed, keeps its last one.
// The last run at the target sizes is kept besides (`full`), so a quick run does not hide it.
// Then docs/performance.md and the README are generated from the JSON (scripts/bench-docs.mjs).
//
//   npm run bench                        all, quick
//   npm run bench -- --full              all, target sizes (hours: the drift and runner data)
//   npm run bench -- --only lsp,startup  some
//   npm run bench -- --no-docs           measure, gather into the JSON, leave the docs alone
//   npm run bench -- --gather            run nothing: gather the figures benches run one by one
//                                        (npm run bench:NAME) left in .bench/results/, when newer
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const full = process.argv.includes('--full');
const gatherOnly = process.argv.includes('--gather');
const size = full ? 'full' : 'quick';
/** Seconds each bench may take at the quick size: 870 in all. */
const BUDGETS = {
  lsp: 200,
  drift: 150,
  store: 120,
  runner: 70,
  push: 20,
  remote: 90,
  cluster: 120,
  graph: 60,
  startup: 40,
};
const TOTAL_BUDGET = Object.values(BUDGETS).reduce((sum, seconds) => sum + seconds, 0);
const resultsDir = process.env.MLPIPE_BENCH_RESULTS ?? join(root, '.bench', 'results');
const jsonPath = join(root, 'docs', 'performance.json');

function selected() {
  const index = process.argv.indexOf('--only');
  if (index === -1) return Object.keys(BUDGETS);
  const names = (process.argv[index + 1] ?? '').split(',').filter(Boolean);
  const unknown = names.filter((name) => !(name in BUDGETS));
  if (names.length === 0 || unknown.length > 0) {
    console.error(`--only takes bench names from: ${Object.keys(BUDGETS).join(', ')}`);
    process.exit(2);
  }
  return names;
}

/** Runs `npm run bench:NAME` with the size set; resolves with its exit code and seconds. */
function runBench(name) {
  return new Promise((done) => {
    const started = Date.now();
    const child = spawn('npm', ['run', '--silent', `bench:${name}`], {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, MLPIPE_BENCH_SIZE: size, MLPIPE_BENCH_RESULTS: resultsDir },
    });
    child.on('exit', (code, signal) =>
      done({ code: code ?? (signal ? 128 : 1), seconds: (Date.now() - started) / 1000 }),
    );
  });
}

/** A run at the issue's target sizes (`npm run bench -- --full`, or a bench run on its own at its default size). */
const isFull = (result) => /^full\b/.test(result.size) || /MLPIPE_BENCH_SIZE=full/.test(result.command);
const sorted = (record) =>
  Object.fromEntries(
    Object.keys(record ?? {})
      .sort()
      .map((name) => [name, record[name]]),
  );

const fmt = (seconds) => `${seconds.toFixed(0)} s`;

async function main() {
  const names = selected();
  const started = Date.now();
  const report = [];
  mkdirSync(resultsDir, { recursive: true });
  for (const name of gatherOnly ? [] : names) {
    const resultFile = join(resultsDir, `${name}.json`);
    rmSync(resultFile, { force: true });
    console.log(`\n=== bench:${name} (${size}${full ? '' : `, budget ${BUDGETS[name]} s`})`);
    const { code, seconds } = await runBench(name);
    const wrote = existsSync(resultFile);
    report.push({ name, code, seconds, wrote });
    console.log(
      `=== bench:${name}: ${code === 0 ? 'done' : `FAILED (exit ${code})`} in ${fmt(seconds)}${full ? '' : ` of ${BUDGETS[name]} s${seconds > BUDGETS[name] ? ' (OVER BUDGET)' : ''}`}${wrote ? '' : ', wrote no figures'}`,
    );
  }

  // Gather: this run's figures replace each bench's previous entry.
  const previous = existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, 'utf8')) : { benches: {} };
  const benches = { ...previous.benches };
  const fullRuns = { ...previous.full };
  const keep = (name, result) => {
    benches[name] = result;
    if (isFull(result)) fullRuns[name] = result;
  };
  for (const entry of report) {
    if (!entry.wrote || entry.code !== 0) continue;
    keep(entry.name, JSON.parse(readFileSync(join(resultsDir, `${entry.name}.json`), 'utf8')));
  }
  if (gatherOnly)
    for (const name of names) {
      const file = join(resultsDir, `${name}.json`);
      if (!existsSync(file)) continue;
      const result = JSON.parse(readFileSync(file, 'utf8'));
      if (benches[name] && benches[name].date >= result.date) continue;
      keep(name, result);
      console.log(`gathered ${file} (${result.date}, ${result.size})`);
    }
  const json = {
    note: 'Generated by npm run bench (scripts/bench.mjs); docs/performance.md and the README tables are generated from it by npm run bench:docs. Do not edit by hand.',
    updated: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
    },
    benches: sorted(benches),
    full: sorted(fullRuns),
  };
  const temporary = `${jsonPath}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(json, null, 2)}\n`);
  renameSync(temporary, jsonPath);

  console.log(
    `\n=== ${size} benchmarks, ${fmt((Date.now() - started) / 1000)} in all${full ? '' : ` (budget ${TOTAL_BUDGET} s)`}:`,
  );
  for (const entry of report) {
    const result = entry.wrote ? JSON.parse(readFileSync(join(resultsDir, `${entry.name}.json`), 'utf8')) : undefined;
    const targets = result ? `, targets met ${result.targetsPassed} of ${result.targetsTotal}` : '';
    console.log(
      `  ${entry.name.padEnd(8)} ${entry.code === 0 ? 'ok    ' : 'FAILED'} ${fmt(entry.seconds).padStart(6)}${full ? '' : ` of ${String(BUDGETS[entry.name]).padStart(3)} s`}${targets}`,
    );
  }
  console.log(`figures gathered into ${jsonPath}`);

  if (!process.argv.includes('--no-docs')) {
    const docs = await new Promise((done) =>
      spawn(process.execPath, [join(root, 'scripts', 'bench-docs.mjs')], { cwd: root, stdio: 'inherit' }).on(
        'exit',
        done,
      ),
    );
    if (docs !== 0) process.exitCode = 1;
  }
  if (report.some((entry) => entry.code !== 0)) process.exitCode = 1;
}

await main();
