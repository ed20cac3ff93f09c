/**
 * Start-up benchmark (issue 13):
 *
 *   npm run bench:startup                          # MLPIPE_BENCH_SIZE=full (default) or quick
 *
 * 1. `mlpipe check` on sample-workspace as a whole process (the production bundle, as the VSIX
 *    and npm ship it), against `node -e 0` (the floor: starting Node itself) and, as a peer,
 *    `dvc --version` (DVC from PyPI in .bench/dvc-venv, when npm run bench:runner made it).
 *    Runs alternate; medians. Target: <= 150 ms.
 * 2. The extension's activation in a real VS Code (code-server 4.100.3 in Chromium, as the e2e
 *    tier runs it): the extension logs, into the MLPipe output, how long after its `activate`
 *    was called the language client was running (the server started and initialized), and how
 *    much of that the extension host spent registering views and commands before the first
 *    await. Each sample is a fresh window (a fresh extension host). Target: <= 100 ms.
 * 3. Loading the client bundle (compile and evaluate) in plain Node with a stand-in vscode
 *    module: what the extension host pays before `activate` is called.
 * 4. The bundles: sizes, and what is in them by package (esbuild's metafile).
 *
 * The bundles are built once with --production and copied to .bench/startup/, so a build by
 * someone else during the run does not change what is measured. Ends with writeBenchResult
 * (.bench/results/startup.json).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { launchChromium } from '../support/chromium';
import { CODE_SERVER_VERSION, developmentUrl, startVsCode } from '../../scripts/vscode-web';
import { CHROMIUM } from '../e2e/harness';
import {
  printTargets,
  writeBenchResult,
  type BenchRatio,
  type BenchTable,
  type BenchTarget,
} from '../support/bench-result';
import { ROOT } from '../support/files';
import { bundledServer, LspClient } from '../support/lsp-client';
import { median } from '../support/stats';

const SIZE = process.env.MLPIPE_BENCH_SIZE === 'quick' ? 'quick' : 'full';
const CLI_RUNS = Number(process.env.BENCH_CLI_RUNS ?? (SIZE === 'quick' ? 12 : 40));
const PEER_RUNS = SIZE === 'quick' ? 4 : 15;
const LOAD_RUNS = SIZE === 'quick' ? 6 : 30;
const WINDOWS = Number(process.env.BENCH_WINDOWS ?? (SIZE === 'quick' ? 2 : 8));
const WORK = join(ROOT, '.bench', 'startup');
const EXTENSION = join(WORK, 'extension');
const CLI = join(EXTENSION, 'dist', 'cli.js');
const DVC = join(ROOT, '.bench', 'dvc-venv', 'bin', 'dvc');
const ACTIVATED =
  /activated: views and commands registered in ([\d.]+) ms, language client running ([\d.]+) ms after activate, extension host CPU ([\d.]+) ms/;
/** GNU time, for the CPU time of each process (user + system): steadier than wall time on a shared machine. */
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

const ms = (value: number) => Math.round(value * 10) / 10;
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};

/** Builds the production bundles with their metafiles and copies what the extension needs. */
function buildAndCopy(): void {
  rmSync(WORK, { recursive: true, force: true });
  const build = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), '--production'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, MLPIPE_BUILD_METAFILES: join(WORK, 'meta') },
  });
  if (build.status !== 0) throw new Error(`the production build failed:\n${build.stderr}${build.stdout}`);
  mkdirSync(join(EXTENSION, 'dist'), { recursive: true });
  for (const name of readdirSync(join(ROOT, 'dist')))
    if (name.endsWith('.js')) cpSync(join(ROOT, 'dist', name), join(EXTENSION, 'dist', name));
  cpSync(join(ROOT, 'dist', 'webviews'), join(EXTENSION, 'dist', 'webviews'), { recursive: true });
  for (const entry of ['package.json', 'language-configuration.json', 'schemas', 'syntaxes', 'images'])
    cpSync(join(ROOT, entry), join(EXTENSION, entry), { recursive: true });
}

/** Wall time of one process, start to exit, and its CPU time when GNU time is there. */
function wall(command: string, args: string[], cwd: string): { wall: number; cpu?: number } {
  const timeFile = join(WORK, 'time.txt');
  const [program, argv] = TIME ? [TIME, ['-o', timeFile, '-f', '%U %S', command, ...args]] : [command, args];
  const start = performance.now();
  const result = spawnSync(program, argv, { cwd, encoding: 'utf8', env: { ...process.env, DVC_NO_ANALYTICS: '1' } });
  const elapsed = performance.now() - start;
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(' ')} exited with ${result.status}:\n${result.stderr}${result.stdout}`);
  if (!TIME) return { wall: elapsed };
  const [user, system] = readFileSync(timeFile, 'utf8').trim().split(/\s+/).slice(-2).map(Number);
  return { wall: elapsed, cpu: (user + system) * 1000 };
}

interface Series {
  label: string;
  values: number[];
  cpu: number[];
}

function add(series: Series, measured: { wall: number; cpu?: number }): void {
  series.values.push(measured.wall);
  if (measured.cpu !== undefined) series.cpu.push(measured.cpu);
}

function cli(): { rows: Series[]; dvcVersion?: string } {
  const sample = join(ROOT, 'sample-workspace');
  const floor: Series = { label: '`node -e 0` (the floor)', values: [], cpu: [] };
  const check: Series = { label: '`mlpipe check` on sample-workspace', values: [], cpu: [] };
  const version: Series = { label: '`mlpipe --version`', values: [], cpu: [] };
  const peer: Series = { label: '`dvc --version` (peer)', values: [], cpu: [] };
  const hasDvc = existsSync(DVC);
  // Warm-up: the page cache, and Python's bytecode for DVC.
  wall(process.execPath, [CLI, 'check', '.'], sample);
  if (hasDvc) wall(DVC, ['--version'], ROOT);
  for (let run = 0; run < CLI_RUNS; run++) {
    add(floor, wall(process.execPath, ['-e', '0'], ROOT));
    add(check, wall(process.execPath, [CLI, 'check', '.'], sample));
    add(version, wall(process.execPath, [CLI, '--version'], ROOT));
    if (hasDvc && run < PEER_RUNS) add(peer, wall(DVC, ['--version'], ROOT));
  }
  const dvcVersion = hasDvc
    ? spawnSync(DVC, ['--version'], { encoding: 'utf8', env: { ...process.env, DVC_NO_ANALYTICS: '1' } }).stdout.trim()
    : undefined;
  return { rows: hasDvc ? [floor, check, version, peer] : [floor, check, version], dvcVersion };
}

/** The client bundle required in plain Node with a stand-in for `vscode`: compile and evaluate. */
function clientLoad(): number[] {
  const script = `
const Module = require('module');
const load = Module._load;
const vscode = new Proxy({}, { get: (target, key) => (key in target ? target[key] : (target[key] = class {})) });
Module._load = function (request, ...rest) { return request === 'vscode' ? vscode : load.call(this, request, ...rest); };
const start = performance.now();
require(process.argv[1]);
process.stdout.write(String(performance.now() - start));
`;
  const values: number[] = [];
  for (let run = 0; run < LOAD_RUNS; run++) {
    const result = spawnSync(process.execPath, ['-e', script, join(EXTENSION, 'dist', 'client.js')], {
      encoding: 'utf8',
    });
    if (result.status !== 0) throw new Error(`loading the client bundle failed:\n${result.stderr}`);
    values.push(Number(result.stdout));
  }
  return values;
}

/** The language server as the extension starts it: process spawned to `initialize` answered. */
async function serverStart(): Promise<number[]> {
  const values: number[] = [];
  for (let run = 0; run < LOAD_RUNS; run++) {
    const start = performance.now();
    const client = new LspClient(bundledServer(EXTENSION));
    await client.initialize(join(ROOT, 'sample-workspace'));
    values.push(performance.now() - start);
    await client.shutdown();
  }
  return values;
}

function activationLines(folder: string): string[] {
  const lines: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const stat = statSync(path, { throwIfNoEntry: false });
      if (stat?.isDirectory()) walk(path);
      else if (stat?.isFile() && name.endsWith('.log'))
        for (const line of readFileSync(path, 'utf8').split('\n')) if (ACTIVATED.test(line)) lines.push(line);
    }
  };
  if (existsSync(folder)) walk(folder);
  return lines;
}

interface Activations {
  registered: number[];
  running: number[];
  hostCpu: number[];
}

async function activation(): Promise<Activations | string> {
  if (!existsSync(CHROMIUM)) return `Chromium is not installed at ${CHROMIUM}`;
  const folder = join(WORK, 'workspace');
  cpSync(join(ROOT, 'sample-workspace'), folder, { recursive: true });
  const vscode = await startVsCode({ folder });
  const browser = await launchChromium();
  const registered: number[] = [];
  const running: number[] = [];
  const hostCpu: number[] = [];
  try {
    // One window first, not counted: code-server's first window also warms its own caches.
    for (let window = 0; window <= WINDOWS; window++) {
      const before = activationLines(vscode.userDataDir).length;
      const page = await browser.newPage();
      await page.goto(developmentUrl(vscode, EXTENSION));
      const deadline = Date.now() + 90_000;
      let lines = activationLines(vscode.userDataDir);
      while (lines.length <= before) {
        if (Date.now() > deadline)
          throw new Error(
            `the extension did not log its activation within 90 s; code-server said:\n${vscode.output.join('').slice(-3000)}`,
          );
        await new Promise((resolve) => setTimeout(resolve, 100));
        lines = activationLines(vscode.userDataDir);
      }
      await page.close();
      if (window === 0) continue;
      const match = ACTIVATED.exec(lines[lines.length - 1])!;
      registered.push(Number(match[1]));
      running.push(Number(match[2]));
      hostCpu.push(Number(match[3]));
      console.log(`  window ${window}: ${lines[lines.length - 1].replace(/^.*activated: /, '')}`);
    }
  } finally {
    await browser.close();
    await vscode.stop();
  }
  return { registered, running, hostCpu };
}

/** The bundle's size and its largest parts by package, from esbuild's metafile. */
function bundleRows(): (string | number)[][] {
  const rows: (string | number)[][] = [];
  const labels: Record<string, string> = {
    cli: 'dist/cli.js',
    'cli-commands': 'dist/cli-commands.js: the commands other than check, required when one runs',
    dockerode: 'dist/dockerode.js: required on the first new Docker()',
    client: 'dist/client.js',
    server: 'dist/server.js',
    'drift-worker': 'dist/drift-worker.js',
  };
  for (const bundle of Object.keys(labels)) {
    const metaPath = join(WORK, 'meta', `${bundle}.json`);
    if (!existsSync(metaPath)) continue;
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as {
      bytes: number;
      inputs: Record<string, { bytesInOutput: number }>;
    };
    const parts = new Map<string, number>();
    for (const [input, { bytesInOutput }] of Object.entries(meta.inputs)) {
      const pkg = input.startsWith('lazy-cli-commands:')
        ? 'require of dist/cli-commands.js'
        : input.startsWith('lazy-dockerode:')
          ? 'require of dist/dockerode.js'
          : (/node_modules\/((@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? input.split('/').slice(0, 3).join('/'));
      parts.set(pkg, (parts.get(pkg) ?? 0) + bytesInOutput);
    }
    const largest = [...parts]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 6)
      .map(([name, bytes]) => `${name} ${Math.round(bytes / 1024)}`)
      .join(', ');
    rows.push([labels[bundle], Math.round(meta.bytes / 1024), largest]);
  }
  return rows;
}

async function main(): Promise<void> {
  console.log(`Start-up benchmark, size ${SIZE}`);
  buildAndCopy();

  const { rows, dvcVersion } = cli();
  const stat = (series: Series) => ({
    median: median(series.values),
    p90: percentile(series.values, 90),
    cpu: series.cpu.length ? ms(median(series.cpu)) : null,
  });
  console.log(`\nWhole processes, ${CLI_RUNS} runs each, alternating (dvc: ${PEER_RUNS}), ms:`);
  for (const series of rows)
    console.log(
      `  ${series.label.padEnd(40)} median ${ms(stat(series).median)}  p90 ${ms(stat(series).p90)}  CPU ${stat(series).cpu ?? '-'}  (n ${series.values.length})`,
    );
  const [floor, check, , peer] = rows;

  const load = clientLoad();
  console.log(`\nLoading dist/client.js in Node (vscode stubbed), ${LOAD_RUNS} runs: median ${ms(median(load))} ms`);
  const server = await serverStart();
  console.log(`Language server, spawn to initialize answered, ${LOAD_RUNS} runs: median ${ms(median(server))} ms`);

  console.log(`\nActivation in code-server ${CODE_SERVER_VERSION} (browser VS Code), ${WINDOWS} windows:`);
  const activated = await activation();
  if (typeof activated === 'string') console.log(`  not measured: ${activated}`);

  const tables: BenchTable[] = [
    {
      title: 'Start-up: whole processes',
      columns: ['command', 'wall median ms', 'wall p90 ms', 'CPU median ms', 'runs'],
      rows: rows.map((series) => [
        series.label,
        ms(stat(series).median),
        ms(stat(series).p90),
        stat(series).cpu === null ? null : ms(stat(series).cpu!),
        series.values.length,
      ]),
      notes: [
        `The production bundle (dist/cli.js), alternating runs; sample-workspace has 3 files (pipeline, params, model card).${dvcVersion ? ` DVC ${dvcVersion} from PyPI.` : ''}`,
      ],
    },
    {
      title: 'Start-up: the extension',
      columns: ['measure', 'median ms', 'min ms', 'max ms', 'n'],
      rows: [
        [
          'dist/client.js loaded (compile and evaluate) in Node, vscode stubbed',
          ms(median(load)),
          ms(Math.min(...load)),
          ms(Math.max(...load)),
          load.length,
        ],
        [
          'dist/server.js (as the extension starts it) spawned to `initialize` answered, over stdio',
          ms(median(server)),
          ms(Math.min(...server)),
          ms(Math.max(...server)),
          server.length,
        ],
        ...(typeof activated === 'string'
          ? []
          : [
              [
                '`activate` to views and commands registered (host busy)',
                ms(median(activated.registered)),
                ms(Math.min(...activated.registered)),
                ms(Math.max(...activated.registered)),
                activated.registered.length,
              ],
              [
                '`activate` to language client running, wall (server process started and initialized)',
                ms(median(activated.running)),
                ms(Math.min(...activated.running)),
                ms(Math.max(...activated.running)),
                activated.running.length,
              ],
              [
                '`activate` to language client running, extension host CPU',
                ms(median(activated.hostCpu)),
                ms(Math.min(...activated.hostCpu)),
                ms(Math.max(...activated.hostCpu)),
                activated.hostCpu.length,
              ],
            ]),
      ],
      notes: [
        `Activation in code-server ${CODE_SERVER_VERSION} (VS Code 1.100.3) with Chromium, a fresh window (extension host) per sample, as the extension logs it in the MLPipe output.`,
      ],
    },
    {
      title: 'Bundles (production build)',
      columns: ['bundle', 'KB', 'largest parts, KB'],
      rows: bundleRows(),
      notes: [
        'dockerode (with docker-modem, ssh2, grpc-js, protobufjs) stays in the bundles but is evaluated on first use.',
      ],
    },
  ];
  const targets: BenchTarget[] = [
    {
      name: '`mlpipe check` on sample-workspace, whole process, median',
      value: ms(median(check.values)),
      unit: 'ms',
      op: '<=',
      target: 150,
      note: `node -e 0 alone, same run: ${ms(median(floor.values))} ms${stat(check).cpu === null ? '' : `; CPU time (steadier on a shared machine): mlpipe check ${stat(check).cpu} ms, node -e 0 ${stat(floor).cpu} ms`}`,
    },
    {
      name: 'extension activation, `activate` to language client running, extension host CPU, median',
      value: typeof activated === 'string' ? null : ms(median(activated.hostCpu)),
      unit: 'ms',
      op: '<=',
      target: 100,
      note:
        typeof activated === 'string'
          ? `not measured: ${activated}`
          : `wall ${ms(median(activated.running))} ms, most of it the server process starting (Node, its bundle) and answering initialize`,
    },
  ];
  const ratios: BenchRatio[] = [
    {
      name: '`mlpipe check` over `node -e 0` (1 = nothing but Node)',
      value: Math.round((median(check.values) / median(floor.values)) * 100) / 100,
      note: 'mlpipe / node',
    },
  ];
  if (peer)
    ratios.push({
      name: '`dvc --version` / `mlpipe check`',
      value: Math.round((median(peer.values) / median(check.values)) * 100) / 100,
    });
  console.log('\nTargets:');
  printTargets(targets);
  writeBenchResult({
    bench: 'startup',
    command: `MLPIPE_BENCH_SIZE=${SIZE} npm run bench:startup`,
    size:
      SIZE === 'quick'
        ? `quick: ${CLI_RUNS} CLI runs, ${WINDOWS} VS Code windows`
        : `full: ${CLI_RUNS} CLI runs, ${WINDOWS} VS Code windows`,
    tables,
    targets,
    ratios,
    peers: { ...(dvcVersion ? { dvc: dvcVersion.replace(/^dvc\s*/i, '') } : {}), 'code-server': CODE_SERVER_VERSION },
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
