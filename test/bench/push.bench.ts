/**
 * OCI push benchmark:
 *
 *   npm run bench:push                 # MLPIPE_BENCH_SIZE=full (default): 1 GB, 3 rounds
 *   MLPIPE_BENCH_SIZE=quick npm run bench:push    # 256 MB, 2 rounds (npm run bench)
 *
 * Starts a local CNCF Distribution registry (Debian's docker-registry, plain HTTP on 127.0.0.1,
 * filesystem storage in a temporary folder), makes a BENCH_PUSH_MB (default 1024, quick 256) MB model
 * file, and in each of BENCH_ROUNDS (default 3, quick 2) rounds uploads the same bytes three ways, each to a fresh
 * repository so that nothing is skipped:
 *
 * - mlpipe, default settings (blobs over 16 MiB in 64 MiB PATCH chunks), in a child process whose
 *   peak RSS (VmHWM of /proc/PID/status) is measured; the push includes the card, metrics, config,
 *   the manifest, the HEAD checks and the sha256 of every byte;
 * - mlpipe with one monolithic PUT (monolithicLimit above the size);
 * - curl: `POST /v2/<repo>/blobs/uploads/` then one `PUT ...&digest=` of the blob only, with
 *   `--data-binary @file` below 512 MB; from 512 MB with `-T file` (the same PUT, streamed), since
 *   --data-binary reads the whole file into memory and curl gives up ("out of memory") at 1 GB.
 *   BENCH_CURL_MODE=data-binary|upload-file chooses.
 *
 * Targets: mlpipe's throughput >= 80% of curl's; mlpipe's peak RSS <= 200 MB. Prints the medians
 * and writes them with writeBenchResult (.bench/results/push.json). Exits non-zero only when something fails, not when a target
 * is missed (the table says so).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashFile } from '../../core/src/registry/modelpack';
import { printTargets, writeBenchResult, type BenchTarget } from '../support/bench-result';
import { makePackage, pushInChild, registryMissing, startRegistry, type RunningRegistry } from '../support/registry';
import { median } from '../support/stats';

const SIZE = process.env.MLPIPE_BENCH_SIZE === 'quick' ? 'quick' : 'full';
const MB = Number(process.env.BENCH_PUSH_MB ?? (SIZE === 'quick' ? 256 : 1024));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (SIZE === 'quick' ? 2 : 3));
/** The issue's size for the targets. */
const TARGET_MB = 1024;
const RATIO_TARGET = 0.8;
const RSS_TARGET_MB = 200;

/** A file of `mb` MiB: a random 1 MiB block with the block number in its first bytes (no two blocks alike). */
function makeModel(path: string, mb: number): void {
  const block = randomBytes(1024 * 1024);
  const fd = openSync(path, 'w');
  try {
    for (let i = 0; i < mb; i++) {
      block.writeUInt32LE(i, 0);
      writeSync(fd, block);
    }
  } finally {
    closeSync(fd);
  }
}

/** curl's monolithic upload: POST for a session, then one PUT of the whole file. */
function curlUpload(
  registry: RunningRegistry,
  repository: string,
  file: string,
  digest: string,
  mode: 'data-binary' | 'upload-file',
): number {
  const started = performance.now();
  const post = spawnSync(
    'curl',
    ['-sS', '-o', '/dev/null', '-D', '-', '-X', 'POST', `${registry.url}/v2/${repository}/blobs/uploads/`],
    { encoding: 'utf8' },
  );
  const location = /^location:\s*(\S+)/im.exec(post.stdout)?.[1];
  if (post.status !== 0 || !location) throw new Error(`curl POST failed: ${post.stderr}${post.stdout}`);
  const url = new URL(location, registry.url);
  url.searchParams.set('digest', digest);
  const put = spawnSync(
    'curl',
    [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-X',
      'PUT',
      '-H',
      'Content-Type: application/octet-stream',
      '-H',
      'Expect:',
      ...(mode === 'data-binary' ? ['--data-binary', `@${file}`] : ['-T', file]),
      url.toString(),
    ],
    { encoding: 'utf8' },
  );
  if (put.status !== 0 || put.stdout.trim() !== '201')
    throw new Error(`curl PUT failed (${put.stdout}): ${put.stderr}`);
  return (performance.now() - started) / 1000;
}

function curlVersion(): string {
  return /^curl (\S+)/.exec(spawnSync('curl', ['--version'], { encoding: 'utf8' }).stdout)?.[1] ?? 'unknown';
}

function registryVersion(): string {
  const out = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'docker-registry'], { encoding: 'utf8' });
  return out.status === 0 ? out.stdout.trim() : 'unknown';
}

interface Measure {
  what: string;
  seconds: number[];
  peakRssMB: number[];
}

async function main(): Promise<void> {
  const missing = registryMissing();
  if (missing) throw new Error(`bench:push needs a registry: ${missing}`);
  if (spawnSync('curl', ['--version']).error) throw new Error('bench:push needs curl: apt-get install -y curl');
  const dir = mkdtempSync(join(tmpdir(), 'mlpipe-push-bench-'));
  const registry = await startRegistry();
  try {
    const model = join(dir, 'model.bin');
    console.log(`making a ${MB} MB model file...`);
    makeModel(model, MB);
    const { digest } = await hashFile(model);
    const size = statSync(model).size;
    // curl's --data-binary @file reads the file into memory and fails with "out of memory" past
    // about 1 GB here; -T (--upload-file) streams the same PUT.
    const curlMode =
      process.env.BENCH_CURL_MODE === 'data-binary' || (process.env.BENCH_CURL_MODE === undefined && MB < 512)
        ? 'data-binary'
        : 'upload-file';
    const pkg = makePackage(join(dir, 'package'), { modelFile: model, modelDigest: digest });
    const measures: Measure[] = [
      { what: 'mlpipe (default: 64 MiB PATCHes)', seconds: [], peakRssMB: [] },
      { what: 'mlpipe (one monolithic PUT)', seconds: [], peakRssMB: [] },
      {
        what: `curl ${curlMode === 'data-binary' ? '--data-binary @file' : '-T file'} (POST + PUT)`,
        seconds: [],
        peakRssMB: [],
      },
    ];
    // Round 0 warms the page cache and the registry up and is not counted.
    for (let round = 0; round <= ROUNDS; round++) {
      for (const [i, options] of [{}, { monolithicLimit: Number.MAX_SAFE_INTEGER }].entries()) {
        const pushed = await pushInChild(pkg, registry.target(`bench/mlpipe-${i}-${round}`), options);
        if (pushed.result.uploadedBlobs !== 4)
          throw new Error(`round ${round}: expected 4 uploaded blobs, got ${pushed.result.uploadedBlobs}`);
        measures[i]!.seconds.push(pushed.seconds);
        measures[i]!.peakRssMB.push(Math.max(pushed.peakRssMB, pushed.polledPeakMB));
      }
      measures[2]!.seconds.push(curlUpload(registry, `bench/curl-${round}`, model, digest, curlMode));
      if (round === 0) {
        for (const m of measures) {
          m.seconds.pop();
          m.peakRssMB.pop();
        }
        console.log('warm-up round done');
        continue;
      }
      console.log(
        `round ${round}/${ROUNDS}: ${measures.map((m) => `${m.what.split(' (')[0]} ${m.seconds.at(-1)!.toFixed(2)} s`).join(', ')}`,
      );
    }
    const mbps = (seconds: number) => size / 1024 / 1024 / seconds;
    const curl = mbps(median(measures[2]!.seconds));
    const rows = measures.map((m) => ({
      what: m.what,
      seconds: median(m.seconds),
      mbPerSecond: mbps(median(m.seconds)),
      ratioToCurl: mbps(median(m.seconds)) / curl,
      peakRssMB: m.peakRssMB.length ? Math.max(...m.peakRssMB) : undefined,
    }));
    console.log(`\npush of ${MB} MB to a local Distribution registry, median of ${ROUNDS} rounds\n`);
    const width = Math.max(...rows.map((r) => r.what.length));
    console.log(
      `${'what'.padEnd(width)}  ${'s'.padStart(7)}  ${'MB/s'.padStart(7)}  ${'vs curl'.padStart(8)}  peak RSS`,
    );
    for (const row of rows) {
      const isMlpipe = row.what.startsWith('mlpipe');
      const ratio = isMlpipe
        ? `${(row.ratioToCurl * 100).toFixed(0)}% ${row.ratioToCurl >= RATIO_TARGET ? 'ok' : 'MISSED'}`
        : '-';
      const rss =
        row.peakRssMB === undefined
          ? '-'
          : `${row.peakRssMB.toFixed(0)} MB ${row.peakRssMB <= RSS_TARGET_MB ? 'ok' : 'MISSED'}`;
      console.log(
        `${row.what.padEnd(width)}  ${row.seconds.toFixed(2).padStart(7)}  ${row.mbPerSecond.toFixed(0).padStart(7)}  ${ratio.padStart(8)}  ${rss}`,
      );
    }
    const sizeNote =
      MB === TARGET_MB ? undefined : `at ${MB} MB; the targets are set for ${TARGET_MB} MB (MLPIPE_BENCH_SIZE=full)`;
    const targets: BenchTarget[] = [0, 1].flatMap((i) => [
      {
        name: `${rows[i]!.what}: throughput / curl's, ${MB} MB`,
        value: Math.round(rows[i]!.ratioToCurl * 100) / 100,
        unit: 'x',
        op: '>=' as const,
        target: RATIO_TARGET,
        ...(sizeNote ? { note: sizeNote } : {}),
      },
      {
        name: `${rows[i]!.what}: peak RSS, ${MB} MB`,
        value: rows[i]!.peakRssMB === undefined ? null : Math.round(rows[i]!.peakRssMB!),
        unit: 'MB',
        op: '<=' as const,
        target: RSS_TARGET_MB,
        ...(sizeNote ? { note: sizeNote } : {}),
      },
    ]);
    console.log('\nTargets:');
    printTargets(targets);
    writeBenchResult({
      bench: 'push',
      command: `MLPIPE_BENCH_SIZE=${SIZE} npm run bench:push`,
      size: `${SIZE}: ${MB} MB, ${ROUNDS} rounds`,
      tables: [
        {
          title: `Push of ${MB} MB to a local Distribution registry, median of ${ROUNDS} rounds`,
          columns: ['', 'time s', 'MB/s', 'vs curl', 'peak RSS MB'],
          rows: rows.map((row) => [
            row.what,
            Math.round(row.seconds * 100) / 100,
            Math.round(row.mbPerSecond),
            row.what.startsWith('mlpipe') ? `${(row.ratioToCurl * 100).toFixed(0)}%` : '',
            row.peakRssMB === undefined ? '' : Math.round(row.peakRssMB),
          ]),
          notes: [
            "Debian's docker-registry (CNCF Distribution 2.8) on 127.0.0.1, a fresh repository each time; mlpipe pushes as a separate process (peak RSS: VmHWM), including the card, metrics, config, manifest and the sha256 of every byte.",
          ],
        },
      ],
      targets,
      ratios: [0, 1].map((i) => ({
        name: `${rows[i]!.what} / curl, throughput`,
        value: Math.round(rows[i]!.ratioToCurl * 100) / 100,
      })),
      peers: { curl: curlVersion(), 'docker-registry': registryVersion() },
    });
  } finally {
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
