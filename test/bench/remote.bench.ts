/**
 * Team-cache benchmark: pushing and pulling a run's outputs to and from an S3 server, against DVC
 * and the AWS CLI on the same server in the same run.
 *
 *   npm run bench:remote                            # MLPIPE_BENCH_SIZE=full (default): the issue's sizes
 *   MLPIPE_BENCH_SIZE=quick npm run bench:remote    # one tenth (npm run bench)
 *
 * Two cases, each its own stage of one pipeline and its own run:
 *
 * - many: a folder of BENCH_FILES (full 10,000, quick 1,000) files of BENCH_FILE_BYTES (200,000)
 *   random bytes each (2 GB; quick 200 MB);
 * - big: one file of BENCH_BIG_MB MiB (full 1024, quick 100) of random bytes.
 *
 * The data is generated once into .bench/remote-data/ (with a manifest of each file's sha256) and
 * reused. A SeaweedFS server (`weed mini`, test/support/s3-server.ts) is started fresh on loopback;
 * each tool gets its own bucket, created (with one small object written, so the server has set up
 * the bucket's volumes) before anything is timed. Then, per case, each timed as a separate process
 * (test/support/bench-peers.ts timeCommand: wall time and peak RSS), after `sync`:
 *
 * - mlpipe: a workspace whose mlpipe.yaml declares the remote and the two stages; the files are
 *   registered as a finished run's cached outputs through core's own API (HashState, ContentStore
 *   put + saveEntry, a RunRecord by MlpipeDir.writeRecord), untimed, as `dvc add` is untimed. Timed:
 *   `node dist/cli.js cache push RUN`; then, in a fresh workspace with the same mlpipe.yaml,
 *   `node dist/cli.js cache pull RUN` (from the remote's run index: into .mlpipe/cache and restored
 *   into the workspace).
 * - DVC 3.67.1 (PyPI, dvc[s3]): a Git repository with the S3 remote, `dvc add` untimed, then
 *   `dvc push TARGET.dvc`; `dvc pull TARGET.dvc` in a fresh `git clone` (fetch and checkout).
 * - AWS CLI 1.x (PyPI awscli), the plain-copy reference: `aws s3 sync DIR s3://...` /
 *   `aws s3 cp FILE s3://...`, and back into a fresh folder.
 *
 * Also recorded for each command: the CPU seconds the S3 server's process and the whole machine
 * spent meanwhile (/proc), since the server shares the machine's cores with the tool it serves.
 *
 * Every pulled copy is compared file by file (sha256) with the manifest before its time is
 * reported (and then removed), so a tool that skipped work fails the bench. Targets (the issue's, at the full size):
 * mlpipe >= 3x faster than DVC on the many-files case (push and pull each); mlpipe's throughput
 * >= 90% of the AWS CLI's on the big file (each way); mlpipe's peak RSS <= 300 MB. Prints a table
 * and writes the figures with writeBenchResult (.bench/results/remote.json). Exits non-zero only
 * when something fails, not when a target is missed.
 *
 * Knobs (environment): BENCH_FILES, BENCH_FILE_BYTES, BENCH_BIG_MB; BENCH_CASES=many,big;
 * BENCH_TOOLS=mlpipe,dvc,aws; BENCH_MLPIPE_JOBS (passed as `--jobs N`; mlpipe's default otherwise);
 * BENCH_KEEP=1 keeps the workspaces and the server's data (their folder is printed).
 */
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  constants,
} from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ContentStore } from '../../core/src/runs/content-cache';
import { hashFile, hashText, HashState } from '../../core/src/runs/hash';
import { type KeyInputs } from '../../core/src/runs/keys';
import { MlpipeDir, newRunId, type RunRecord } from '../../core/src/runs/records';
import { printTargets, writeBenchResult, type BenchRatio, type BenchTarget } from '../support/bench-result';
import {
  AWSCLI_VERSION,
  awsS3Options,
  benchPeersMissing,
  benchPeerVersions,
  cloneDvcRepo,
  DVC_S3_VERSION,
  DVC_VERSION,
  ensureBenchPeers,
  initDvcRepo,
  peerEnv,
  runPeer,
  s3Url,
  timeCommand,
  RSS_SOURCE,
  type BenchPeers,
  type S3Target,
  type TimedCommand,
} from '../support/bench-peers';
import { ROOT } from '../support/files';
import { s3ServerMissing, startS3Server, weedBinary, type RunningS3 } from '../support/s3-server';

const SIZE = process.env.MLPIPE_BENCH_SIZE === 'quick' ? 'quick' : 'full';
const FILES = Number(process.env.BENCH_FILES ?? (SIZE === 'quick' ? 1000 : 10_000));
const FILE_BYTES = Number(process.env.BENCH_FILE_BYTES ?? 200_000);
const BIG_MB = Number(process.env.BENCH_BIG_MB ?? (SIZE === 'quick' ? 100 : 1024));
const CASES = (process.env.BENCH_CASES ?? 'many,big').split(',').filter(Boolean) as CaseName[];
const TOOLS = (process.env.BENCH_TOOLS ?? 'mlpipe,dvc,aws').split(',').filter(Boolean) as Tool[];
const MLPIPE_JOBS = process.env.BENCH_MLPIPE_JOBS ? Number(process.env.BENCH_MLPIPE_JOBS) : undefined;
const KEEP = process.env.BENCH_KEEP === '1';

/** The issue's sizes, for which the targets are set. */
const TARGET_FILES = 10_000;
const TARGET_BIG_MB = 1024;
const DVC_RATIO_TARGET = 3;
const AWS_RATIO_TARGET = 0.9;
const RSS_TARGET_MB = 300;

const CLI = join(ROOT, 'dist', 'cli.js');
const DATA = join(ROOT, '.bench', 'remote-data');
const MiB = 1024 * 1024;

type CaseName = 'many' | 'big';
type Tool = 'mlpipe' | 'dvc' | 'aws';

for (const name of CASES)
  if (name !== 'many' && name !== 'big') throw new Error(`BENCH_CASES takes many and big, not '${name}'`);
for (const tool of TOOLS)
  if (!['mlpipe', 'dvc', 'aws'].includes(tool)) throw new Error(`BENCH_TOOLS takes mlpipe, dvc and aws, not '${tool}'`);

/** A case's data: where it is, its path in a workspace, its files' sha256 (relative path -> hex). */
interface CaseData {
  name: CaseName;
  /** The generated folder or file under .bench/remote-data/. */
  source: string;
  /** Its path in a workspace or DVC repository: data/many, data/big.bin. */
  path: string;
  kind: 'dir' | 'file';
  files: number;
  bytes: number;
  /** Relative path below `path` ('' for the file itself) -> sha256 hex. */
  manifest: Record<string, string>;
  describe: string;
}

/** Hex sha256 of a file, streamed. */
async function sha256(path: string): Promise<string> {
  return (await hashFile(path)).slice('sha256:'.length);
}

/**
 * The many-files folder: FILES files of FILE_BYTES random bytes each, made once (with a manifest
 * of their sha256) and reused while the manifest is there.
 */
async function manyFiles(): Promise<CaseData> {
  const dir = join(DATA, `many-${FILES}x${FILE_BYTES}`);
  const manifestFile = `${dir}.manifest.json`;
  const width = String(FILES - 1).length;
  if (!existsSync(manifestFile)) {
    console.log(
      `generating ${FILES.toLocaleString('en')} files of ${FILE_BYTES.toLocaleString('en')} random bytes into ${dir} ...`,
    );
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const block = Buffer.alloc(FILE_BYTES);
    const manifest: Record<string, string> = {};
    for (let i = 0; i < FILES; i++) {
      randomFillSync(block);
      const name = `${String(i).padStart(width, '0')}.bin`;
      writeFileSync(join(dir, name), block);
      manifest[name] = await sha256(join(dir, name));
    }
    writeFileSync(manifestFile, JSON.stringify(manifest));
  }
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as Record<string, string>;
  return {
    name: 'many',
    source: dir,
    path: 'data/many',
    kind: 'dir',
    files: FILES,
    bytes: FILES * FILE_BYTES,
    manifest,
    describe: `${FILES.toLocaleString('en')} files of ${Math.round(FILE_BYTES / 1000)} KB (${mb(FILES * FILE_BYTES)} MB)`,
  };
}

/** The big file: BIG_MB MiB of random bytes, made once and reused. */
async function bigFile(): Promise<CaseData> {
  const file = join(DATA, `big-${BIG_MB}MiB.bin`);
  const manifestFile = `${file}.manifest.json`;
  if (!existsSync(manifestFile)) {
    console.log(`generating a ${BIG_MB} MiB file of random bytes at ${file} ...`);
    const block = Buffer.alloc(MiB);
    const chunks: Buffer[] = [];
    rmSync(file, { force: true });
    for (let i = 0; i < BIG_MB; i++) {
      randomFillSync(block);
      chunks.push(Buffer.from(block));
      if (chunks.length === 64 || i === BIG_MB - 1) {
        writeFileSync(file, Buffer.concat(chunks), { flag: 'a' });
        chunks.length = 0;
      }
    }
    writeFileSync(manifestFile, JSON.stringify({ '': await sha256(file) }));
  }
  return {
    name: 'big',
    source: file,
    path: 'data/big.bin',
    kind: 'file',
    files: 1,
    bytes: BIG_MB * MiB,
    manifest: JSON.parse(readFileSync(manifestFile, 'utf8')) as Record<string, string>,
    describe: `one file of ${BIG_MB.toLocaleString('en')} MB`,
  };
}

/** Every file below a folder (or the file itself, as ''), relative path -> sha256 hex. */
async function treeDigests(path: string): Promise<Record<string, string>> {
  if (statSync(path).isFile()) return { '': await sha256(path) };
  const found: Record<string, string> = {};
  const walk = async (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else found[relative(path, full).split(sep).join('/')] = await sha256(full);
    }
  };
  await walk(path);
  return found;
}

/** Throws unless `path` holds exactly the case's files, byte for byte (sha256 of each). */
async function verifyCopy(tool: Tool, data: CaseData, path: string): Promise<void> {
  if (!existsSync(path)) throw new Error(`${tool} pull of ${data.name}: ${path} is not there`);
  const got = await treeDigests(path);
  const wrong = Object.keys(data.manifest).filter((name) => got[name] !== data.manifest[name]);
  const extra = Object.keys(got).filter((name) => !(name in data.manifest));
  if (wrong.length > 0 || extra.length > 0)
    throw new Error(
      `${tool} pull of ${data.name}: the copy at ${path} differs from what was pushed: ${wrong.length} files missing or different (first: ${wrong[0] ?? '-'}), ${extra.length} extra`,
    );
}

/** Puts the case's data at `target` by hard links (the tool only reads it) or copies. */
function place(data: CaseData, target: string, how: 'link' | 'copy'): void {
  mkdirSync(join(target, '..'), { recursive: true });
  const one = (from: string, to: string) =>
    how === 'link' ? linkSync(from, to) : copyFileSync(from, to, constants.COPYFILE_FICLONE);
  if (data.kind === 'file') return one(data.source, target);
  mkdirSync(target, { recursive: true });
  for (const name of Object.keys(data.manifest)) one(join(data.source, name), join(target, name));
}

function pipelineYaml(target: S3Target): string {
  return [
    'version: 1',
    'name: remote-bench',
    'remotes:',
    `  team: { url: "${s3Url(target)}", endpoint: "${target.endpoint}" }`,
    'stages:',
    '  many:',
    '    image: busybox:1.36',
    '    cmd: make-many',
    '    outs: [data/many]',
    '  big:',
    '    image: busybox:1.36',
    '    cmd: make-big',
    '    outs: [data/big.bin]',
    '',
  ].join('\n');
}

/**
 * Registers the case's files as the cached outputs of its stage in a finished run, as the runner
 * would have: hashed by HashState, stored by ContentStore (put, then the entry under a cache
 * key), and a run record with the stage succeeded. Returns the run id.
 */
async function registerRun(workspace: string, data: CaseData): Promise<string> {
  const mlpipe = new MlpipeDir(join(workspace, '.mlpipe'));
  mlpipe.ensure();
  const state = new HashState(join(mlpipe.root, 'state.json'));
  const store = new ContentStore(join(mlpipe.root, 'cache'));
  const content = await state.hash(join(workspace, data.path), 'refuse');
  if (!content) throw new Error(`${data.path} is not in ${workspace}`);
  state.save();
  store.put(join(workspace, data.path), content);
  const inputs: KeyInputs = {
    command: `make-${data.name}`,
    image: 'busybox:1.36',
    params: {},
    deps: {},
    env: {},
    resources: {},
    workdir: '/workspace',
    network: 'none',
  };
  // Any digest will do as the key; this one names the case's files.
  const key = hashText(JSON.stringify({ case: data.name, files: data.manifest }));
  const id = newRunId();
  const now = new Date().toISOString();
  store.saveEntry({
    version: 1,
    key,
    stage: data.name,
    run: id,
    created: now,
    outputs: { [data.path]: content },
    inputs,
  });
  const record: RunRecord = {
    version: 1,
    id,
    pipeline: 'mlpipe.yaml',
    name: 'remote-bench',
    workspace,
    status: 'succeeded',
    target: { stages: [data.name], upstream: false, force: false },
    started: now,
    ended: now,
    pid: process.pid,
    params: {},
    stages: [
      {
        name: data.name,
        stage: data.name,
        matrix: {},
        status: 'succeeded',
        host: 'local',
        image: 'busybox:1.36',
        command: `make-${data.name}`,
        key,
        attempts: 1,
        started: now,
        ended: now,
        durationMs: 0,
        params: {},
        deps: {},
        outputs: { [data.path]: content.hash },
        metrics: {},
        log: `logs/${data.name}.log`,
      },
    ],
  };
  mlpipe.writeRecord(record);
  // Distinct run ids for the two cases even within one millisecond.
  await new Promise((done) => setTimeout(done, 2));
  return id;
}

/** A timed command with the CPU time spent meanwhile by the S3 server and by the whole machine. */
interface Timing extends TimedCommand {
  serverCpu: number;
  machineCpu: number;
}

interface Measured {
  push?: Timing;
  pull?: Timing;
}

/** CPU seconds (user + system) of the S3 server's processes: those whose command line names its folder. */
function serverCpuSeconds(s3: RunningS3): number {
  const tick = 100; // USER_HZ on Linux
  let total = 0;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(s3.dir)) continue;
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / tick;
    } catch {
      // gone
    }
  }
  return total;
}

/** Busy CPU seconds of the whole machine, all cores (/proc/stat: everything but idle and iowait). */
function machineCpuSeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const all = fields.slice(0, 8).reduce((sum, value) => sum + value, 0);
  return (all - fields[3]! - fields[4]!) / 100;
}

/** Flushes dirty pages, so that one tool's writes are not paid for during the next one's timing. */
function flush(): void {
  spawnSync('sync');
}

async function timed(
  s3: RunningS3,
  label: string,
  command: string,
  args: string[],
  options: { cwd?: string; env: NodeJS.ProcessEnv },
): Promise<Timing> {
  flush();
  const server = serverCpuSeconds(s3);
  const machine = machineCpuSeconds();
  const result = await timeCommand(command, args, {
    ...options,
    timeoutMs: (SIZE === 'quick' ? 10 : 60) * 60_000,
  });
  const timing = {
    ...result,
    serverCpu: serverCpuSeconds(s3) - server,
    machineCpu: machineCpuSeconds() - machine,
  };
  console.log(
    `  ${label}: ${result.seconds.toFixed(2)} s, peak RSS ${result.maxRssMb.toFixed(0)} MB; CPU s meanwhile: server ${timing.serverCpu.toFixed(1)}, machine ${timing.machineCpu.toFixed(1)} of ${(result.seconds * cpus().length).toFixed(1)}`,
  );
  return timing;
}

function mb(bytes: number): number {
  return Math.round(bytes / MiB);
}

function weedVersion(): string {
  const out = spawnSync(weedBinary(), ['version'], { encoding: 'utf8' });
  return /version\s+(?:\S+\s+)?(\d+\.\d+)/i.exec(`${out.stdout}${out.stderr}`)?.[1] ?? 'unknown';
}

/** Creates the bucket and writes one small object outside the tools' keys (its volumes are set up untimed). */
async function prepareBucket(s3: RunningS3, bucket: string): Promise<void> {
  await s3.createBucket(bucket);
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
  });
  try {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'warm-up', Body: Buffer.alloc(4096) }));
  } finally {
    client.destroy();
  }
}

async function main(): Promise<void> {
  if (!existsSync(CLI))
    throw new Error(`bench:remote needs the production build: npm run build -- --production (${CLI})`);
  const missing = s3ServerMissing() ?? (TOOLS.some((tool) => tool !== 'mlpipe') ? benchPeersMissing() : undefined);
  if (missing) throw new Error(`bench:remote cannot run: ${missing}`);
  let peers: BenchPeers | undefined;
  if (TOOLS.some((tool) => tool !== 'mlpipe')) {
    console.log('DVC and the AWS CLI (installed into a cached venv on first use) ...');
    peers = ensureBenchPeers();
    console.log(`  ${benchPeerVersions()}`);
  }
  mkdirSync(DATA, { recursive: true });
  const cases: CaseData[] = [];
  for (const name of CASES) cases.push(name === 'many' ? await manyFiles() : await bigFile());

  const work = mkdtempSync(join(tmpdir(), 'mlpipe-remote-bench-'));
  console.log('starting SeaweedFS (weed mini) on loopback ...');
  const s3 = await startS3Server();
  try {
    const target = (tool: Tool): S3Target => ({
      endpoint: s3.endpoint,
      bucket: `bench-${tool}`,
      prefix: 'cache',
      accessKey: s3.accessKey,
      secretKey: s3.secretKey,
      region: s3.region,
    });
    for (const tool of TOOLS) await prepareBucket(s3, target(tool).bucket);
    const results = new Map<string, Measured>();
    const measured = (name: CaseName, tool: Tool): Measured => {
      const key = `${name}/${tool}`;
      if (!results.has(key)) results.set(key, {});
      return results.get(key)!;
    };

    // Setup, untimed: the mlpipe workspace with the runs registered, the DVC repository with `dvc add`.
    const runs = new Map<CaseName, string>();
    const mlpipeWs = join(work, 'mlpipe-push');
    const mlpipeEnv = peerEnv(target('mlpipe'), join(work, 'scratch-mlpipe'));
    if (TOOLS.includes('mlpipe')) {
      console.log('mlpipe: registering the data as finished runs (hash, local cache put: not timed) ...');
      mkdirSync(mlpipeWs, { recursive: true });
      writeFileSync(join(mlpipeWs, 'mlpipe.yaml'), pipelineYaml(target('mlpipe')));
      for (const data of cases) {
        place(data, join(mlpipeWs, data.path), 'link');
        runs.set(data.name, await registerRun(mlpipeWs, data));
      }
    }
    const dvcRepo = join(work, 'dvc-push');
    const dvcEnv = peerEnv(target('dvc'), join(work, 'scratch-dvc'));
    if (TOOLS.includes('dvc')) {
      console.log('dvc: init, copy the data in and dvc add (not timed) ...');
      initDvcRepo(dvcRepo, target('dvc'), { env: dvcEnv });
      for (const data of cases) place(data, join(dvcRepo, data.path), 'copy');
      runPeer(peers!.dvc, ['add', '--quiet', ...cases.map((data) => data.path)], { cwd: dvcRepo, env: dvcEnv });
      runPeer('git', ['add', '--all'], { cwd: dvcRepo, env: dvcEnv });
      runPeer('git', ['commit', '--quiet', '--message', 'data'], { cwd: dvcRepo, env: dvcEnv });
    }
    const awsEnv = peerEnv(target('aws'), join(work, 'scratch-aws'));
    const jobs = MLPIPE_JOBS === undefined ? [] : ['--jobs', String(MLPIPE_JOBS)];

    for (const data of cases) {
      console.log(`\n${data.name}: ${data.describe}`);
      // Push: each tool from its own copy to its own bucket.
      if (TOOLS.includes('mlpipe'))
        measured(data.name, 'mlpipe').push = await timed(
          s3,
          'mlpipe cache push',
          process.execPath,
          [CLI, 'cache', 'push', runs.get(data.name)!, ...jobs],
          { cwd: mlpipeWs, env: mlpipeEnv },
        );
      if (TOOLS.includes('dvc'))
        measured(data.name, 'dvc').push = await timed(
          s3,
          'dvc push',
          peers!.dvc,
          ['push', '--quiet', `${data.path}.dvc`],
          {
            cwd: dvcRepo,
            env: dvcEnv,
          },
        );
      const awsKey = s3Url(target('aws'), data.name);
      if (TOOLS.includes('aws'))
        measured(data.name, 'aws').push = await timed(
          s3,
          data.kind === 'dir' ? 'aws s3 sync' : 'aws s3 cp',
          peers!.aws,
          data.kind === 'dir'
            ? ['s3', 'sync', data.source, awsKey, ...awsS3Options(target('aws'))]
            : ['s3', 'cp', data.source, awsKey, ...awsS3Options(target('aws'))],
          { env: awsEnv },
        );

      // Pull: each into a fresh place, then checked byte for byte.
      if (TOOLS.includes('mlpipe')) {
        const ws = join(work, `mlpipe-pull-${data.name}`);
        mkdirSync(ws, { recursive: true });
        writeFileSync(join(ws, 'mlpipe.yaml'), pipelineYaml(target('mlpipe')));
        measured(data.name, 'mlpipe').pull = await timed(
          s3,
          'mlpipe cache pull',
          process.execPath,
          [CLI, 'cache', 'pull', runs.get(data.name)!, ...jobs],
          { cwd: ws, env: mlpipeEnv },
        );
        await verifyCopy('mlpipe', data, join(ws, data.path));
        rmSync(ws, { recursive: true, force: true });
      }
      if (TOOLS.includes('dvc')) {
        const clone = join(work, `dvc-pull-${data.name}`);
        cloneDvcRepo(dvcRepo, clone, target('dvc'), dvcEnv);
        measured(data.name, 'dvc').pull = await timed(
          s3,
          'dvc pull',
          peers!.dvc,
          ['pull', '--quiet', `${data.path}.dvc`],
          {
            cwd: clone,
            env: dvcEnv,
          },
        );
        await verifyCopy('dvc', data, join(clone, data.path));
        rmSync(clone, { recursive: true, force: true });
      }
      if (TOOLS.includes('aws')) {
        const into = join(work, `aws-pull-${data.name}`, data.kind === 'dir' ? 'many' : 'big.bin');
        mkdirSync(join(into, '..'), { recursive: true });
        measured(data.name, 'aws').pull = await timed(
          s3,
          data.kind === 'dir' ? 'aws s3 sync' : 'aws s3 cp',
          peers!.aws,
          ['s3', data.kind === 'dir' ? 'sync' : 'cp', awsKey, into, ...awsS3Options(target('aws'))],
          { env: awsEnv },
        );
        await verifyCopy('aws', data, into);
        rmSync(join(into, '..'), { recursive: true, force: true });
      }
      console.log('  every pulled copy matches the data, byte for byte (and is removed again)');
    }

    report(cases, results);
  } finally {
    await (KEEP ? Promise.resolve() : s3.stop());
    if (KEEP)
      console.log(`kept: ${work} and the server's data in ${s3.dir} (the server is stopped as the bench exits)`);
    else rmSync(work, { recursive: true, force: true, maxRetries: 3 });
  }
}

function report(cases: CaseData[], results: Map<string, Measured>): void {
  const get = (name: CaseName, tool: Tool) => results.get(`${name}/${tool}`);
  const rate = (bytes: number, timing?: TimedCommand) => (timing ? bytes / MiB / timing.seconds : undefined);
  const r2 = (value: number | undefined) => (value === undefined ? null : Math.round(value * 100) / 100);
  const r0 = (value: number | undefined) => (value === undefined ? null : Math.round(value));
  const cpu = (timing?: Timing) => (timing ? `${timing.serverCpu.toFixed(1)} / ${timing.machineCpu.toFixed(1)}` : null);
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? undefined : a / b;

  const rows: (string | number | null)[][] = [];
  for (const data of cases)
    for (const tool of TOOLS) {
      const m = get(data.name, tool);
      rows.push([
        `${data.name}: ${data.describe}`,
        tool === 'mlpipe'
          ? 'mlpipe'
          : tool === 'dvc'
            ? 'dvc push / pull'
            : data.kind === 'dir'
              ? 'aws s3 sync'
              : 'aws s3 cp',
        r2(m?.push?.seconds),
        r0(rate(data.bytes, m?.push)),
        r2(m?.pull?.seconds),
        r0(rate(data.bytes, m?.pull)),
        r0(m?.push?.maxRssMb),
        r0(m?.pull?.maxRssMb),
        cpu(m?.push),
        cpu(m?.pull),
      ]);
    }
  const columns = [
    'case',
    'tool',
    'push s',
    'push MB/s',
    'pull s',
    'pull MB/s',
    'push peak RSS MB',
    'pull peak RSS MB',
    'push CPU s: server / machine',
    'pull CPU s: server / machine',
  ];

  console.log(`\nPush and pull to SeaweedFS on loopback (${SIZE}), one process per command\n`);
  const widths = columns.map((column, i) =>
    Math.max(column.length, ...rows.map((row) => String(row[i] ?? '-').length)),
  );
  const line = (cells: (string | number | null)[]) =>
    cells
      .map((cell, i) => (i < 2 ? String(cell ?? '-').padEnd(widths[i]!) : String(cell ?? '-').padStart(widths[i]!)))
      .join('  ');
  console.log(line(columns));
  for (const row of rows) console.log(line(row));

  const atTarget = (data: CaseData) =>
    data.name === 'many' ? FILES === TARGET_FILES && FILE_BYTES === 200_000 : BIG_MB === TARGET_BIG_MB;
  const sizeNote = (data: CaseData) =>
    atTarget(data)
      ? undefined
      : `at ${data.describe}; the target is set for ${data.name === 'many' ? '10,000 files of 200 KB' : 'one 1,024 MB file'} (MLPIPE_BENCH_SIZE=full)`;
  const targets: BenchTarget[] = [];
  const ratios: BenchRatio[] = [];
  const verdicts: string[] = [];
  const verdict = (name: string, value: number | undefined, op: '<=' | '>=', goal: number, unit: string) => {
    const met = value !== undefined && (op === '<=' ? value <= goal : value >= goal);
    verdicts.push(
      `  ${name}: ${value === undefined ? 'n/a' : `${value.toFixed(2)}${unit}`} (target ${op} ${goal}${unit}) ${value === undefined ? 'not measured' : met ? 'met' : 'MISSED'}`,
    );
  };
  for (const data of cases) {
    const m = get(data.name, 'mlpipe');
    const dvc = get(data.name, 'dvc');
    const aws = get(data.name, 'aws');
    const note = sizeNote(data);
    for (const way of ['push', 'pull'] as const) {
      const dvcOverMlpipe = ratio(dvc?.[way]?.seconds, m?.[way]?.seconds);
      const awsOverMlpipe = ratio(aws?.[way]?.seconds, m?.[way]?.seconds);
      const mlpipeVsAws = ratio(rate(data.bytes, m?.[way]), rate(data.bytes, aws?.[way]));
      if (data.name === 'many') {
        const name = `${way}, many files: DVC time / mlpipe time`;
        targets.push({
          name,
          value: r2(dvcOverMlpipe),
          unit: 'x',
          op: '>=',
          target: DVC_RATIO_TARGET,
          ...(note ? { note } : {}),
        });
        verdict(name, dvcOverMlpipe, '>=', DVC_RATIO_TARGET, 'x');
      } else {
        const name = `${way}, big file: mlpipe MB/s / AWS CLI MB/s`;
        targets.push({
          name,
          value: r2(mlpipeVsAws),
          unit: 'x',
          op: '>=',
          target: AWS_RATIO_TARGET,
          ...(note ? { note } : {}),
        });
        verdict(name, mlpipeVsAws, '>=', AWS_RATIO_TARGET, 'x');
      }
      ratios.push({ name: `dvc ${way} / mlpipe cache ${way}, ${data.name}, time`, value: r2(dvcOverMlpipe) });
      ratios.push({ name: `aws s3 / mlpipe cache ${way}, ${data.name}, time`, value: r2(awsOverMlpipe) });
    }
  }
  const mlpipeRss = cases.flatMap((data) =>
    (['push', 'pull'] as const).flatMap((way) => {
      const timing = get(data.name, 'mlpipe')?.[way];
      return timing ? [{ what: `${way} ${data.name}`, mb: timing.maxRssMb }] : [];
    }),
  );
  const peak = mlpipeRss.length > 0 ? Math.max(...mlpipeRss.map((one) => one.mb)) : undefined;
  const fullSize = cases.every(atTarget);
  targets.push({
    name: 'mlpipe peak RSS, any push or pull',
    value: r0(peak),
    unit: 'MB',
    op: '<=',
    target: RSS_TARGET_MB,
    note: `${mlpipeRss.map((one) => `${one.what} ${Math.round(one.mb)}`).join(', ')} MB${fullSize ? '' : '; at the quick size (the target is set for the full one)'}`,
  });
  verdict('mlpipe peak RSS, any push or pull', peak, '<=', RSS_TARGET_MB, ' MB');

  console.log("\nTargets (the issue's):");
  for (const text of verdicts) console.log(text);
  console.log('');
  printTargets(targets);

  const peers: Record<string, string> = { 'SeaweedFS weed mini': weedVersion() };
  if (TOOLS.includes('dvc')) peers.dvc = `${DVC_VERSION} (dvc-s3 ${DVC_S3_VERSION})`;
  if (TOOLS.includes('aws')) peers.awscli = AWSCLI_VERSION;
  writeBenchResult({
    bench: 'remote',
    command: `MLPIPE_BENCH_SIZE=${SIZE} npm run bench:remote`,
    size: `${SIZE}: ${cases.map((data) => data.describe).join('; ')}`,
    tables: [
      {
        title: `Push and pull to an S3 server (SeaweedFS on loopback), one process per command`,
        columns,
        rows,
        notes: [
          `Each tool to its own bucket of one SeaweedFS ${peers['SeaweedFS weed mini']} \`weed mini\` started for the bench on 127.0.0.1 (it shares the machine's cores with the tools). mlpipe: \`mlpipe cache push RUN\`, then \`mlpipe cache pull RUN\` in a fresh workspace (from the remote's run index, into .mlpipe/cache and restored into the workspace), ${MLPIPE_JOBS === undefined ? 'default jobs' : `--jobs ${MLPIPE_JOBS}`}. DVC: \`dvc push TARGET.dvc\`, then \`dvc pull TARGET.dvc\` (fetch and checkout) in a fresh \`git clone\`, default jobs. AWS CLI (the plain-copy reference, no cache, no hashing): \`aws s3 sync\` for the folder, \`aws s3 cp\` for the file, both ways, default settings.`,
          "Not timed: putting the files into mlpipe's local cache (hashing, copying, the entry and run record, through core's API as a finished run leaves them) and DVC's `dvc add` (hashing, copying into .dvc/cache). Every pulled copy is compared with the data, file by file (sha256), before its time counts.",
          `MB = 2^20 bytes. Wall time of each command as a separate process after \`sync\`; peak RSS from ${RSS_SOURCE === '/usr/bin/time' ? 'GNU time (the largest process of the command)' : 'VmHWM of the command and its descendants'}. CPU s: what the S3 server's process used while the command ran, and the whole machine's busy CPU time over its ${cpus().length} cores (the tool, the server and anything else running); machine CPU near ${cpus().length} x the wall time means the cores, not the network or the disk, set the pace.`,
        ],
      },
    ],
    targets,
    ratios,
    peers,
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
