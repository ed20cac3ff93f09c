/**
 * Runner benchmark, against a real Docker Engine (dockerd from Debian's docker.io, started here on
 * a private socket) and DVC (from PyPI, in a venv this script makes under .bench/):
 *
 *   npm run bench:runner                          # MLPIPE_BENCH_SIZE=full (default)
 *   MLPIPE_BENCH_SIZE=quick npm run bench:runner  # npm run bench: 1 overhead round, 20 stages for status
 *
 * 1. Overhead: a pipeline of 20 independent trivial stages (busybox, `echo N > out/sNN.txt`) run by
 *    `mlpipe run --force --jobs 1` against the same 20 containers started one by one with
 *    `docker run --rm` (same image, bind mount, user, network, working dir). Rounds alternate
 *    between the two; the medians are compared. Target: mlpipe / docker CLI <= 1.15.
 * 2. Status: a generated project of 1,000 stages reading 10,000 dep files (2 GB in all), each
 *    stage writing one output. mlpipe runs it once (real containers), DVC records the same stages
 *    (`dvc commit`, which hashes every dep without running anything); then, warm, `mlpipe status`
 *    and `dvc status` are each timed several times (the first call of each is a warm-up and not
 *    counted). Targets: mlpipe <= 0.5 s and >= 10x faster than DVC. Both must report every stage up
 *    to date, and both must notice one changed dep file (a sanity check: a tool that reads nothing
 *    would be fast too). Also timed: mlpipe status without its plan cache, as after an edit of
 *    the pipeline or a params file.
 *
 * Prints a table and the ratios, and writes them with writeBenchResult (.bench/results/runner.json).
 * Exit code 0 whether or not the targets are met; non-zero when a tool fails or a sanity check
 * does not hold. The status targets are set for 1,000 stages: at the quick size they are left
 * without a value (the table still has the quick figures).
 *
 * Knobs (environment): BENCH_PARTS=overhead,status; BENCH_ROUNDS (5, quick 1); BENCH_STAGES (1000,
 * quick 20), BENCH_FILES_PER_STAGE (10), BENCH_FILE_BYTES (200000); BENCH_STATUS_REPEAT (5, quick 3);
 * DVC_SPEC (pip requirement, default "dvc").
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUSYBOX_IMAGE, ensureImages } from '../../scripts/sample-image';
import { enginesMissing, startDockerd, type RunningEngine } from '../support/engines';
import { ROOT } from '../support/files';
import { median } from '../support/stats';
import { printTargets, writeBenchResult, type BenchRatio, type BenchTarget } from '../support/bench-result';

const CLI = join(ROOT, 'dist', 'cli.js');
const VENV = join(ROOT, '.bench', 'dvc-venv');
const SIZE = process.env.MLPIPE_BENCH_SIZE === 'quick' ? 'quick' : 'full';
const PARTS = new Set((process.env.BENCH_PARTS ?? 'overhead,status').split(',').map((part) => part.trim()));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (SIZE === 'quick' ? 1 : 5));
const STAGES = Number(process.env.BENCH_STAGES ?? (SIZE === 'quick' ? 20 : 1000));
const FILES_PER_STAGE = Number(process.env.BENCH_FILES_PER_STAGE ?? 10);
const FILE_BYTES = Number(process.env.BENCH_FILE_BYTES ?? 200_000);
const STATUS_REPEAT = Number(process.env.BENCH_STATUS_REPEAT ?? (SIZE === 'quick' ? 3 : 5));
/** The status targets' size (the issue's): 1,000 stages x 10 files of 200 KB. */
const TARGET_STAGES = 1000;
const OVERHEAD_STAGES = 20;

interface Timed {
  ms: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion and times it; a non-zero exit (unless allowed) ends the benchmark. */
function timed(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; allow?: number[] },
): Timed {
  const start = performance.now();
  const result = spawnSync(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  const ms = performance.now() - start;
  if (result.error) throw new Error(`${command} ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0 && !(options.allow ?? []).includes(result.status ?? -1)) {
    throw new Error(
      `${command} ${args.join(' ')} exited with ${result.status}:\n${result.stderr.slice(-3000)}${result.stdout.slice(-2000)}`,
    );
  }
  return { ms, stdout: result.stdout, stderr: result.stderr };
}

const fmt = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`);
const pad = (text: string, width: number) => text.padEnd(width);

interface OverheadResult {
  stages: number;
  rounds: number;
  mlpipeMs: number[];
  dockerMs: number[];
  parallelMs: number;
  ratio: number;
}

interface StatusResult {
  stages: number;
  files: number;
  bytes: number;
  dvcVersion: string;
  mlpipeMs: number[];
  dvcMs: number[];
  ratio: number;
  coldPlanMs: number[];
  afterChange: { mlpipeMs: number; dvcMs: number };
}

async function overhead(engine: RunningEngine): Promise<OverheadResult> {
  const workspace = mkdtempSync(join(tmpdir(), 'mlpipe-bench-overhead-'));
  try {
    const names = Array.from({ length: OVERHEAD_STAGES }, (_, index) => `s${String(index + 1).padStart(2, '0')}`);
    const stages = names
      .map((name, index) => `  ${name}:\n    cmd: echo ${index + 1} > out/${name}.txt\n    outs: [out/${name}.txt]\n`)
      .join('');
    writeFileSync(
      join(workspace, 'mlpipe.yaml'),
      `version: 1\nname: overhead\ndefaults:\n  image: ${BUSYBOX_IMAGE}\nstages:\n${stages}`,
    );
    mkdirSync(join(workspace, 'out'));
    const env = { DOCKER_HOST: engine.address };
    const user = `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`;
    const dockerCli = () => {
      const start = performance.now();
      names.forEach((name, index) => {
        timed(
          'docker',
          [
            'run',
            '--rm',
            '--network',
            'none',
            '--user',
            user,
            '-e',
            'HOME=/tmp',
            '-v',
            `${workspace}:/workspace`,
            '-w',
            '/workspace',
            BUSYBOX_IMAGE,
            'sh',
            '-c',
            `echo ${index + 1} > out/${name}.txt`,
          ],
          { cwd: workspace, env: { DOCKER_HOST: engine.address } },
        );
      });
      return performance.now() - start;
    };
    const mlpipe = () => {
      const run = timed(process.execPath, [CLI, 'run', '--force', '--jobs', '1'], { cwd: workspace, env });
      if (!/ succeeded \(20 ok\)/.test(run.stderr)) throw new Error(`mlpipe did not run all 20 stages:\n${run.stderr}`);
      return run.ms;
    };
    // One of each first: images into the page cache, .mlpipe created.
    mlpipe();
    dockerCli();
    const mlpipeMs: number[] = [];
    const dockerMs: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      mlpipeMs.push(mlpipe());
      dockerMs.push(dockerCli());
    }
    // --jobs default, for information: independent stages overlap.
    const parallel = timed(process.execPath, [CLI, 'run', '--force'], { cwd: workspace, env }).ms;
    const ratio = median(mlpipeMs) / median(dockerMs);
    console.log(`\nOverhead: ${OVERHEAD_STAGES} trivial stages, ${ROUNDS} rounds, medians`);
    console.log(
      `  ${pad('mlpipe run --force --jobs 1', 40)} ${fmt(median(mlpipeMs))}  (${mlpipeMs.map(fmt).join(', ')})`,
    );
    console.log(
      `  ${pad('docker run --rm, one by one', 40)} ${fmt(median(dockerMs))}  (${dockerMs.map(fmt).join(', ')})`,
    );
    console.log(`  ${pad(`mlpipe run --force (--jobs ${availableParallelism()})`, 40)} ${fmt(parallel)}`);
    console.log(
      `  ratio mlpipe / docker CLI: ${ratio.toFixed(3)}  (target <= 1.15: ${ratio <= 1.15 ? 'met' : 'NOT met'})`,
    );
    return { stages: OVERHEAD_STAGES, rounds: ROUNDS, mlpipeMs, dockerMs, parallelMs: parallel, ratio };
  } finally {
    rmSync(workspace, { recursive: true, force: true });
  }
}

/** DVC from PyPI in .bench/dvc-venv, made on first use. */
function ensureDvc(): string {
  const dvc = join(VENV, 'bin', 'dvc');
  if (!existsSync(dvc)) {
    console.log(`installing ${process.env.DVC_SPEC ?? 'dvc'} from PyPI into ${VENV} ...`);
    execFileSync('python3', ['-m', 'venv', VENV], { stdio: 'inherit' });
    execFileSync(join(VENV, 'bin', 'pip'), ['install', '--quiet', process.env.DVC_SPEC ?? 'dvc'], { stdio: 'inherit' });
  }
  return dvc;
}

/** The 2 GB project: data/sNNNN/fN.bin, random content, in `dir`. */
function generateData(dir: string): void {
  const buffer = Buffer.alloc(FILE_BYTES);
  for (let stage = 0; stage < STAGES; stage++) {
    const folder = join(dir, 'data', stageName(stage));
    mkdirSync(folder, { recursive: true });
    for (let file = 0; file < FILES_PER_STAGE; file++)
      writeFileSync(join(folder, `f${file}.bin`), randomFillSync(buffer));
  }
}

const stageName = (index: number) => `s${String(index + 1).padStart(4, '0')}`;
const depsOf = (index: number) =>
  Array.from({ length: FILES_PER_STAGE }, (_, file) => `data/${stageName(index)}/f${file}.bin`);

async function status(engine: RunningEngine): Promise<StatusResult> {
  const dvc = ensureDvc();
  const dvcVersion = timed(dvc, ['--version'], { cwd: ROOT }).stdout.trim();
  const root = mkdtempSync(join(tmpdir(), 'mlpipe-bench-status-'));
  const mlpipeDir = join(root, 'mlpipe');
  const dvcDir = join(root, 'dvc');
  try {
    let start = performance.now();
    generateData(mlpipeDir);
    // The same bytes for DVC, as hard links: no second 2 GB, and neither tool writes to deps.
    for (let stage = 0; stage < STAGES; stage++) {
      mkdirSync(join(dvcDir, 'data', stageName(stage)), { recursive: true });
      for (const dep of depsOf(stage)) linkSync(join(mlpipeDir, dep), join(dvcDir, dep));
    }
    const gigabytes = (STAGES * FILES_PER_STAGE * FILE_BYTES) / 1e9;
    console.log(
      `\nStatus: ${STAGES} stages, ${STAGES * FILES_PER_STAGE} dep files, ${gigabytes.toFixed(2)} GB (generated in ${fmt(performance.now() - start)})`,
    );

    const mlpipeStages = Array.from(
      { length: STAGES },
      (_, index) =>
        `  ${stageName(index)}:\n    cmd: echo ${index + 1} > out/${stageName(index)}.txt\n    deps:\n${depsOf(index)
          .map((dep) => `      - ${dep}\n`)
          .join('')}    outs: [out/${stageName(index)}.txt]\n`,
    ).join('');
    writeFileSync(
      join(mlpipeDir, 'mlpipe.yaml'),
      `version: 1\nname: status-bench\ndefaults:\n  image: ${BUSYBOX_IMAGE}\nstages:\n${mlpipeStages}`,
    );
    const dvcStages = Array.from(
      { length: STAGES },
      (_, index) =>
        `  ${stageName(index)}:\n    cmd: echo ${index + 1} > out/${stageName(index)}.txt\n    deps:\n${depsOf(index)
          .map((dep) => `      - ${dep}\n`)
          .join('')}    outs:\n      - out/${stageName(index)}.txt\n`,
    ).join('');
    writeFileSync(join(dvcDir, 'dvc.yaml'), `stages:\n${dvcStages}`);

    const env = { DOCKER_HOST: engine.address };
    start = performance.now();
    timed(process.execPath, [CLI, 'run', '--jobs', String(Math.max(4, availableParallelism() * 2))], {
      cwd: mlpipeDir,
      env,
    });
    console.log(`  mlpipe run (first, ${STAGES} containers): ${fmt(performance.now() - start)}`);

    start = performance.now();
    timed(dvc, ['init', '--no-scm', '--quiet'], { cwd: dvcDir });
    timed(dvc, ['config', 'core.analytics', 'false'], { cwd: dvcDir });
    mkdirSync(join(dvcDir, 'out'));
    for (let stage = 0; stage < STAGES; stage++)
      writeFileSync(join(dvcDir, 'out', `${stageName(stage)}.txt`), `${stage + 1}\n`);
    timed(dvc, ['commit', '--force', '--quiet'], { cwd: dvcDir });
    console.log(`  dvc commit (first, hashes every dep): ${fmt(performance.now() - start)}`);

    const dvcEnv = { DVC_NO_ANALYTICS: '1', DVC_NO_UPDATER: '1' };
    const mlpipeStatus = () => timed(process.execPath, [CLI, 'status', '--format', 'json'], { cwd: mlpipeDir, env });
    const dvcStatus = () => timed(dvc, ['status', '--json'], { cwd: dvcDir, env: dvcEnv });
    const upToDate = (run: Timed) =>
      (JSON.parse(run.stdout) as { stages: { state: string }[] }).stages.filter((stage) => stage.state === 'up-to-date')
        .length;
    const dvcChanged = (run: Timed) => Object.keys(JSON.parse(run.stdout || '{}') as object).length;

    // Warm-up: each tool's own state (mlpipe's .mlpipe/state.json, DVC's .dvc/tmp) and the page cache.
    const firstMlpipe = mlpipeStatus();
    const firstDvc = dvcStatus();
    if (upToDate(firstMlpipe) !== STAGES)
      throw new Error(`mlpipe status: ${upToDate(firstMlpipe)} of ${STAGES} stages up to date`);
    if (dvcChanged(firstDvc) !== 0)
      throw new Error(`dvc status reports changes after dvc commit:\n${firstDvc.stdout.slice(0, 2000)}`);
    const mlpipeMs: number[] = [];
    const dvcMs: number[] = [];
    for (let round = 0; round < STATUS_REPEAT; round++) {
      mlpipeMs.push(mlpipeStatus().ms);
      dvcMs.push(dvcStatus().ms);
    }

    // The first status after the pipeline or a params file changed plans again (no plan cache).
    const coldPlanMs: number[] = [];
    for (let round = 0; round < Math.min(3, STATUS_REPEAT); round++) {
      rmSync(join(mlpipeDir, '.mlpipe', 'plans'), { recursive: true, force: true });
      coldPlanMs.push(mlpipeStatus().ms);
    }

    // Sanity: one dep file changes in place; both must see that exactly that stage is out of date.
    const victim = depsOf(STAGES >> 1)[3];
    writeFileSync(join(mlpipeDir, victim), randomFillSync(Buffer.alloc(FILE_BYTES))); // a hard link: DVC's copy changes too
    const changedMlpipe = mlpipeStatus();
    const changedDvc = dvcStatus();
    const stale = (
      JSON.parse(changedMlpipe.stdout) as { stages: { name: string; state: string; reasons: string[] }[] }
    ).stages.filter((stage) => stage.state !== 'up-to-date');
    if (
      stale.length !== 1 ||
      stale[0].name !== stageName(STAGES >> 1) ||
      !stale[0].reasons.some((reason) => reason.includes(victim))
    ) {
      throw new Error(
        `mlpipe status did not single out ${stageName(STAGES >> 1)}: ${JSON.stringify(stale).slice(0, 500)}`,
      );
    }
    if (dvcChanged(changedDvc) !== 1)
      throw new Error(`dvc status did not single out one stage: ${changedDvc.stdout.slice(0, 500)}`);

    const ratio = median(dvcMs) / median(mlpipeMs);
    console.log(`  warm, ${STATUS_REPEAT} runs each, medians (after one warm-up run each):`);
    console.log(`  ${pad('mlpipe status', 40)} ${fmt(median(mlpipeMs))}  (${mlpipeMs.map(fmt).join(', ')})`);
    console.log(`  ${pad(`dvc status (${dvcVersion})`, 40)} ${fmt(median(dvcMs))}  (${dvcMs.map(fmt).join(', ')})`);
    console.log(
      `  ${pad('mlpipe status, plan not cached', 40)} ${fmt(median(coldPlanMs))}  (${coldPlanMs.map(fmt).join(', ')}; the first status after editing the pipeline)`,
    );
    console.log(
      `  after one dep file changed: mlpipe ${fmt(changedMlpipe.ms)}, dvc ${fmt(changedDvc.ms)}; both single out ${stageName(STAGES >> 1)}`,
    );
    console.log(
      `  mlpipe <= 0.5 s: ${median(mlpipeMs) <= 500 ? 'met' : 'NOT met'}; dvc / mlpipe: ${ratio.toFixed(1)}x (target >= 10x: ${ratio >= 10 ? 'met' : 'NOT met'})`,
    );
    return {
      stages: STAGES,
      files: STAGES * FILES_PER_STAGE,
      bytes: STAGES * FILES_PER_STAGE * FILE_BYTES,
      dvcVersion,
      mlpipeMs,
      dvcMs,
      ratio,
      coldPlanMs,
      afterChange: { mlpipeMs: changedMlpipe.ms, dvcMs: changedDvc.ms },
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const seconds = (ms: number) => Math.round(ms / 10) / 100;

/** The figures as docs/performance.json holds them (test/support/bench-result.ts). */
function report(overheadResult: OverheadResult | undefined, statusResult: StatusResult | undefined): void {
  const rows: (string | number | null)[][] = [];
  const targets: BenchTarget[] = [];
  const ratios: BenchRatio[] = [];
  if (overheadResult) {
    rows.push(
      [
        `${overheadResult.stages} trivial stages, one at a time (\`--jobs 1\`)`,
        seconds(median(overheadResult.mlpipeMs)),
        `\`docker run --rm\` x ${overheadResult.stages}: ${seconds(median(overheadResult.dockerMs))}`,
        Math.round(overheadResult.ratio * 1000) / 1000,
      ],
      [
        `${overheadResult.stages} stages, \`--jobs ${availableParallelism()}\``,
        seconds(overheadResult.parallelMs),
        '',
        null,
      ],
    );
    targets.push({
      name: `run overhead: ${overheadResult.stages} trivial stages one at a time, mlpipe / \`docker run --rm\``,
      value: Math.round(overheadResult.ratio * 1000) / 1000,
      unit: 'x',
      op: '<=',
      target: 1.15,
    });
    ratios.push({
      name: `\`docker run --rm\` x ${overheadResult.stages} / \`mlpipe run --jobs 1\``,
      value: Math.round((median(overheadResult.dockerMs) / median(overheadResult.mlpipeMs)) * 100) / 100,
    });
  }
  if (statusResult) {
    const size = `${statusResult.stages.toLocaleString('en-US')} stages / ${statusResult.files.toLocaleString('en-US')} files / ${statusResult.bytes >= 1e9 ? `${(statusResult.bytes / 1e9).toFixed(1)} GB` : `${Math.round(statusResult.bytes / 1e6)} MB`}`;
    const dvcRatio = Math.round(statusResult.ratio * 10) / 10;
    rows.push(
      [
        `warm \`status\`, ${size}`,
        seconds(median(statusResult.mlpipeMs)),
        `\`dvc status\`: ${seconds(median(statusResult.dvcMs))}`,
        dvcRatio,
      ],
      [
        '`status` right after editing the pipeline (plan not cached)',
        seconds(median(statusResult.coldPlanMs)),
        '',
        null,
      ],
      [
        '`status` after one dep file changed',
        seconds(statusResult.afterChange.mlpipeMs),
        `\`dvc status\`: ${seconds(statusResult.afterChange.dvcMs)}`,
        Math.round((statusResult.afterChange.dvcMs / statusResult.afterChange.mlpipeMs) * 10) / 10,
      ],
    );
    const atTarget = statusResult.stages === TARGET_STAGES;
    const note = atTarget
      ? undefined
      : `measured at ${TARGET_STAGES.toLocaleString('en-US')} stages (MLPIPE_BENCH_SIZE=full); this run had ${statusResult.stages}: ${seconds(median(statusResult.mlpipeMs))} s, ${dvcRatio}x`;
    targets.push(
      {
        name: `warm \`status\`, ${TARGET_STAGES.toLocaleString('en-US')} stages / 10,000 dep files / 2 GB`,
        value: atTarget ? seconds(median(statusResult.mlpipeMs)) : null,
        unit: 's',
        op: '<=',
        target: 0.5,
        ...(note ? { note } : {}),
      },
      {
        name: `warm \`status\` against \`dvc status\`, ${TARGET_STAGES.toLocaleString('en-US')} stages`,
        value: atTarget ? dvcRatio : null,
        unit: 'x',
        op: '>=',
        target: 10,
        ...(note ? { note } : {}),
      },
    );
    ratios.push({ name: `\`dvc status\` / \`mlpipe status\`, warm, ${size}`, value: dvcRatio });
  }
  console.log('\nTargets:');
  printTargets(targets);
  writeBenchResult({
    bench: 'runner',
    command: `MLPIPE_BENCH_SIZE=${SIZE} npm run bench:runner`,
    size: `${SIZE}: ${overheadResult ? `${overheadResult.stages} stages x ${overheadResult.rounds} round${overheadResult.rounds === 1 ? '' : 's'} for the overhead` : 'no overhead'}, ${statusResult ? `${statusResult.stages} stages for status` : 'no status'}`,
    tables: [
      {
        title: 'The runner, against a dockerd the benchmark starts',
        columns: ['', 'mlpipe s', 'peer s', 'peer / mlpipe, or mlpipe / peer for the overhead'],
        rows,
        notes: [
          `Medians: overhead of ${ROUNDS} alternating rounds, status of ${STATUS_REPEAT} warm runs each, every status a new process. Debian's docker.io (dockerd 20.10, vfs storage); the busybox image.`,
        ],
      },
    ],
    targets,
    ratios,
    peers: statusResult
      ? { dvc: statusResult.dvcVersion.replace(/^dvc\s*/i, ''), dockerd: '20.10 (Debian docker.io)' }
      : {},
  });
}

async function main(): Promise<void> {
  const missing = enginesMissing();
  if (missing) throw new Error(`the runner benchmark needs a real engine: ${missing}`);
  if (!existsSync(CLI)) throw new Error('dist/cli.js is missing: npm run build');
  console.log(`Runner benchmark, size ${SIZE}`);
  const engine = await startDockerd();
  let overheadResult: OverheadResult | undefined;
  let statusResult: StatusResult | undefined;
  try {
    await ensureImages(engine.docker, [BUSYBOX_IMAGE]);
    if (PARTS.has('overhead')) overheadResult = await overhead(engine);
    if (PARTS.has('status')) statusResult = await status(engine);
  } finally {
    await engine.stop();
  }
  report(overheadResult, statusResult);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
