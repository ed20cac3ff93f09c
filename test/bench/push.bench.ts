/**
 * OCI push benchmark:
 *
 *   npm run bench:push
 *
 * Starts a local CNCF Distribution registry (Debian's docker-registry, plain HTTP on 127.0.0.1,
 * filesystem storage in a temporary folder), makes a BENCH_PUSH_MB (default 1024) MB model file,
 * and in each of BENCH_ROUNDS (default 3) rounds uploads the same bytes three ways, each to a fresh
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
 * and writes .bench/push-results.json. Exits non-zero only when something fails, not when a target
 * is missed (the table says so).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashFile } from '../../core/src/registry/modelpack';
import { ROOT } from '../support/files';
import { makePackage, pushInChild, registryMissing, startRegistry, type RunningRegistry } from '../support/registry';
import { median } from '../support/stats';

const MB = Number(process.env.BENCH_PUSH_MB ?? 1024);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RESULTS = join(ROOT, '.bench', 'push-results.json');
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
    console.log(`\ntargets: mlpipe >= ${RATIO_TARGET * 100}% of curl's throughput, peak RSS <= ${RSS_TARGET_MB} MB`);
    mkdirSync(join(ROOT, '.bench'), { recursive: true });
    writeFileSync(
      RESULTS,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          sizeMB: MB,
          rounds: ROUNDS,
          targets: { ratioToCurl: RATIO_TARGET, peakRssMB: RSS_TARGET_MB },
          rows,
          raw: measures,
        },
        null,
        2,
      ),
    );
    console.log(`written to ${RESULTS}`);
  } finally {
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
