/**
 * Cluster benchmark: trivial stages through mlpipe on a real two-node Kubernetes (the tests'
 * cluster, test/support/cluster.ts) against the same Jobs made by hand with kubectl, in the same run.
 *
 *   npm run bench:cluster                           # 20 stages (MLPIPE_BENCH_SIZE=full, the issue's)
 *   MLPIPE_BENCH_SIZE=quick npm run bench:cluster   # 8 stages
 *
 * Setup, untimed: dockerd with the busybox image, a SeaweedFS S3 server (the remote the pods use),
 * the pod helper image, and a two-node cluster with both imported. Then, each timed as one process
 * or loop:
 *
 * - kubectl (built from the same Kubernetes module as the cluster), serially: for each stage, `kubectl apply -f job.yaml`, `kubectl wait
 *   --for=condition=complete`, `kubectl logs job/NAME` and `kubectl delete job NAME
 *   --cascade=foreground --wait`: what mlpipe does per stage, minus the data (a Job of the same
 *   image and command, imagePullPolicy Never).
 * - mlpipe, `mlpipe run --jobs 1`: the same stages (always_run, so each runs), each a Job with its
 *   Secret, the helper's fetch, live logs, its report and cleanup.
 * - mlpipe, `mlpipe run --jobs 8`.
 *
 * Also reported: pod start to first log line, from mlpipe's own per-stage note ("first log line
 * X s after the Job was created"), median and worst. Targets (the issue's): mlpipe serial at most
 * 1.15x the kubectl loop; mlpipe --jobs 8 at least 2x faster than the kubectl loop.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUSYBOX_IMAGE, ensureImages } from '../../scripts/sample-image';
import { ensurePodHelper } from '../../scripts/pod-helper';
import { printTargets, writeBenchResult, type BenchTarget } from '../support/bench-result';
import { kubectlBinary, startCluster } from '../support/cluster';
import { startDockerd } from '../support/engines';
import { ROOT } from '../support/files';
import { startS3Server } from '../support/s3-server';

const SIZE = process.env.MLPIPE_BENCH_SIZE === 'quick' ? 'quick' : 'full';
const STAGES = Number(process.env.BENCH_STAGES ?? (SIZE === 'quick' ? 8 : 20));
const CLI = join(ROOT, 'dist/cli.js');

function seconds(since: number): number {
  return (Date.now() - since) / 1000;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

async function main(): Promise<void> {
  const helper = ensurePodHelper();
  const engine = await startDockerd();
  const s3 = await startS3Server();
  const work = mkdtempSync(join(tmpdir(), 'mlpipe-bench-cluster-'));
  let stop: () => Promise<void> = async () => undefined;
  try {
    await ensureImages(engine.docker, [BUSYBOX_IMAGE]);
    await s3.createBucket('mlpipe-cache');
    const cluster = await startCluster({
      nodes: 2,
      s3Port: s3.port,
      images: [BUSYBOX_IMAGE],
      docker: engine.address,
      archives: [helper.archive],
    });
    stop = () => cluster.stop();
    const env = {
      ...process.env,
      DOCKER_HOST: engine.address,
      HOME: join(work, 'home'),
      AWS_ACCESS_KEY_ID: s3.accessKey,
      AWS_SECRET_ACCESS_KEY: s3.secretKey,
      AWS_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
      KUBECONFIG: cluster.kubeconfig,
    };
    mkdirSync(env.HOME, { recursive: true });
    const kubectl = (args: string[]) => {
      const ran = spawnSync(kubectlBinary(), ['--kubeconfig', cluster.kubeconfig, '-n', cluster.namespace, ...args], {
        encoding: 'utf8',
      });
      if (ran.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${ran.stderr}`);
      return ran.stdout;
    };

    // The peer: the same Jobs, one after another, by hand.
    const jobs = join(work, 'jobs');
    mkdirSync(jobs);
    const peerLoop = (round: string) => {
      const started = Date.now();
      for (let index = 0; index < STAGES; index++) {
        const name = `peer-${round}-${index}`;
        const file = join(jobs, `${name}.yaml`);
        writeFileSync(
          file,
          JSON.stringify({
            apiVersion: 'batch/v1',
            kind: 'Job',
            metadata: { name },
            spec: {
              backoffLimit: 0,
              template: {
                spec: {
                  restartPolicy: 'Never',
                  containers: [
                    {
                      name: 'stage',
                      image: BUSYBOX_IMAGE,
                      imagePullPolicy: 'Never',
                      command: ['sh', '-c', `echo stage ${index}`],
                    },
                  ],
                },
              },
            },
          }),
        );
        kubectl(['apply', '-f', file]);
        kubectl(['wait', '--for=condition=complete', `job/${name}`, '--timeout=120s']);
        const log = kubectl(['logs', `job/${name}`]);
        if (!log.includes(`stage ${index}`)) throw new Error(`kubectl logs job/${name}: ${log}`);
        kubectl(['delete', 'job', name, '--cascade=foreground', '--wait']);
      }
      return seconds(started);
    };

    const workspace = join(work, 'pipeline');
    mkdirSync(workspace);
    writeFileSync(
      join(workspace, 'mlpipe.yaml'),
      [
        'version: 1',
        `defaults: { image: ${BUSYBOX_IMAGE}, host: cluster }`,
        'hosts:',
        '  cluster:',
        '    kubernetes:',
        `      kubeconfig: ${cluster.kubeconfig}`,
        `      namespace: ${cluster.namespace}`,
        '      imagePullPolicy: Never',
        `      remoteEndpoint: ${cluster.s3PodEndpoint}`,
        'remotes:',
        `  team: { url: "s3://mlpipe-cache/bench", endpoint: "${s3.endpoint}" }`,
        'stages:',
        ...Array.from({ length: STAGES }, (_, index) => [
          `  s${index}:`,
          `    cmd: echo stage ${index}`,
          '    always_run: true',
        ]).flat(),
        '',
      ].join('\n'),
    );
    const mlpipeRun = (jobCount: number) => {
      const started = Date.now();
      const ran = spawnSync(process.execPath, [CLI, 'run', '--jobs', String(jobCount)], {
        cwd: workspace,
        env,
        encoding: 'utf8',
      });
      const elapsed = seconds(started);
      if (ran.status !== 0) throw new Error(`mlpipe run --jobs ${jobCount} failed:\n${ran.stderr}`);
      return elapsed;
    };
    /** The newest run's per-stage "first log line X s after the Job was created". */
    const startLatencies = () => {
      const runs = join(workspace, '.mlpipe', 'runs');
      const newest = readdirSync(runs).sort().at(-1)!;
      const logs = join(runs, newest, 'logs');
      return readdirSync(logs).flatMap((file) => {
        const found = /first log line ([\d.]+) s after the Job was created/.exec(
          readFileSync(join(logs, file), 'utf8'),
        );
        return found ? [Number(found[1])] : [];
      });
    };

    console.log(`warm-up (not timed): a kubectl loop and an mlpipe run of ${STAGES} stages`);
    peerLoop('warm');
    mlpipeRun(8);

    const peer = peerLoop('timed');
    console.log(`kubectl apply/wait/logs/delete x${STAGES}: ${peer.toFixed(1)} s`);
    const serial = mlpipeRun(1);
    const serialLatency = startLatencies();
    console.log(`mlpipe run --jobs 1: ${serial.toFixed(1)} s`);
    const parallel = mlpipeRun(8);
    const parallelLatency = startLatencies();
    console.log(`mlpipe run --jobs 8: ${parallel.toFixed(1)} s`);
    const left = kubectl(['get', 'jobs,pods,secrets', '-l', 'app.kubernetes.io/managed-by=mlpipe', '-o', 'name']);
    if (left.trim()) throw new Error(`mlpipe left objects on the cluster:\n${left}`);

    const rows = [
      ['kubectl, one Job after another', peer, peer / STAGES, '1.00x', null],
      [
        'mlpipe run --jobs 1',
        serial,
        serial / STAGES,
        `${(serial / peer).toFixed(2)}x`,
        `${median(serialLatency).toFixed(1)} / ${Math.max(...serialLatency).toFixed(1)}`,
      ],
      [
        'mlpipe run --jobs 8',
        parallel,
        parallel / STAGES,
        `${(parallel / peer).toFixed(2)}x`,
        `${median(parallelLatency).toFixed(1)} / ${Math.max(...parallelLatency).toFixed(1)}`,
      ],
    ].map((row) => row.map((cell) => (typeof cell === 'number' ? Math.round(cell * 100) / 100 : cell)));
    console.log('\n| how | wall s | s per stage | vs kubectl | pod start to first log line, median / worst s |');
    console.log('|---|---|---|---|---|');
    for (const row of rows) console.log(`| ${row.map((cell) => cell ?? '').join(' | ')} |`);
    const targets: BenchTarget[] = [
      {
        name: `mlpipe --jobs 1 vs kubectl serial, ${STAGES} stages`,
        value: round2(serial / peer),
        unit: 'x',
        op: '<=',
        target: 1.15,
      },
      {
        name: `kubectl serial vs mlpipe --jobs 8, ${STAGES} stages`,
        value: round2(peer / parallel),
        unit: 'x faster',
        op: '>=',
        target: 2,
      },
    ];
    console.log('');
    printTargets(targets);
    const kubectlVersion = /Client Version: (\S+)/.exec(
      spawnSync(kubectlBinary(), ['version', '--client'], { encoding: 'utf8' }).stdout,
    )?.[1];
    writeBenchResult({
      bench: 'cluster',
      command: `MLPIPE_BENCH_SIZE=${SIZE} npm run bench:cluster`,
      size: `${SIZE}: ${STAGES} trivial stages on a two-node cluster`,
      tables: [
        {
          title: `${STAGES} trivial stages on a real two-node Kubernetes v1.34.2 (built from its Go modules, containerd), same run`,
          columns: ['how', 'wall s', 's per stage', 'vs kubectl', 'pod start to first log line, median / worst s'],
          rows,
          notes: [
            'kubectl: for each stage `kubectl apply -f job.yaml`, `kubectl wait --for=condition=complete`, `kubectl logs job/NAME`, `kubectl delete job NAME --cascade=foreground --wait`; a Job of the same image and command (imagePullPolicy Never), no data.',
            "mlpipe: `mlpipe run` of a pipeline of independent `always_run` stages on a `kubernetes:` host: per stage a Secret, a Job whose init container fetches the manifest, the stage's logs followed live, the pod's report read from the S3 remote, then the Job (waiting for its pod to go), the Secret and the staging files deleted.",
            'Pod start to first log line: from the Job being created to the first line of the stage container, as mlpipe notes it in each stage log.',
          ],
        },
      ],
      targets,
      ratios: [
        { name: 'kubectl loop / mlpipe --jobs 1', value: round2(peer / serial) },
        { name: 'kubectl loop / mlpipe --jobs 8', value: round2(peer / parallel) },
      ],
      peers: { kubectl: kubectlVersion ?? 'unknown', kubernetes: 'v1.34.2' },
    });
  } finally {
    await stop();
    await Promise.all([engine.stop(), s3.stop()]);
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
