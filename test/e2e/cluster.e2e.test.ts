import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUSYBOX_IMAGE, PYTHON_IMAGE, ensureImages } from '../../scripts/sample-image';
import { ensurePodHelper } from '../../scripts/pod-helper';
import { clusterMissing, startCluster, type RunningCluster } from '../support/cluster';
import { enginesMissing, startDockerd, type RunningEngine } from '../support/engines';
import { ROOT } from '../support/files';
import { s3ServerMissing, startS3Server, type RunningS3 } from '../support/s3-server';
import { Session, missingComponent } from './harness';

const missing = missingComponent() ?? enginesMissing() ?? s3ServerMissing() ?? clusterMissing();
if (missing && process.env.CI) throw new Error(`The cluster scenario cannot run: ${missing}`);

describe(
  'running the sample on a real Kubernetes cluster from VS Code (its lens, live logs)',
  { skip: missing },
  () => {
    const session = new Session('cluster');
    let engine: RunningEngine;
    let s3: RunningS3;
    let cluster: RunningCluster;
    let files: string;

    before(async () => {
      const helper = ensurePodHelper();
      [engine, s3] = await Promise.all([startDockerd(), startS3Server()]);
      await Promise.all([ensureImages(engine.docker, [PYTHON_IMAGE, BUSYBOX_IMAGE]), s3.createBucket('mlpipe-cache')]);
      cluster = await startCluster({
        nodes: 2,
        s3Port: s3.port,
        images: [PYTHON_IMAGE],
        docker: engine.address,
        archives: [helper.archive],
      });
      // The sample's own `cluster` host, pointed at this test's cluster and S3 server.
      files = mkdtempSync(join(tmpdir(), 'mlpipe-e2e-cluster-'));
      const pipeline = readFileSync(join(ROOT, 'sample-workspace/mlpipe.yaml'), 'utf8')
        .replace('~/.kube/mlpipe-local.kubeconfig', cluster.kubeconfig)
        .replace('http://10.99.255.1:8333', cluster.s3PodEndpoint!);
      assert.ok(pipeline.includes(cluster.kubeconfig), 'the sample declares the cluster host');
      writeFileSync(join(files, 'mlpipe.yaml'), pipeline);
      writeFileSync(
        join(files, 'config.yaml'),
        `remotes:\n  team:\n    url: s3://mlpipe-cache/e2e\n    endpoint: ${s3.endpoint}\n`,
      );
      await session.start(
        { 'mlpipe.yaml': join(files, 'mlpipe.yaml'), '.mlpipe/config.yaml': join(files, 'config.yaml') },
        {
          DOCKER_HOST: engine.address,
          AWS_ACCESS_KEY_ID: s3.accessKey,
          AWS_SECRET_ACCESS_KEY: s3.secretKey,
          AWS_REGION: 'us-east-1',
          AWS_EC2_METADATA_DISABLED: 'true',
        },
      );
    });

    after(async () => {
      await session.stop();
      await cluster?.stop();
      await Promise.all([engine?.stop(), s3?.stop()]);
      if (files) rmSync(files, { recursive: true, force: true });
      if (session.screenshots.length > 0) console.log(`screenshots:\n  ${session.screenshots.join('\n  ')}`);
    });

    it('"Run on cluster" runs every stage as a Job, with the pods\' logs live in the terminal and the outputs back', async () => {
      await session.open('mlpipe.yaml');
      const lens = session.page.locator('.codelens-decoration a', { hasText: 'Run on cluster' }).first();
      await session.waitFor('the Run on cluster lens', lens, 60_000);
      await lens.click();
      const rows = session.page.locator('.terminal-wrapper .xterm-rows');
      await session.waitFor(
        "the prepare pod's own log line, live",
        rows.filter({ hasText: /prepare \| kept \d+ of 3000 rows/ }).first(),
        180_000,
      );
      await session.waitFor('the run to succeed', rows.filter({ hasText: /run \S+ succeeded/ }).first(), 240_000);
      await session.screenshot('run-on-cluster');
      // The run's record and logs: every stage ran on the cluster, on one of its nodes.
      const runs = join(session.folder, '.mlpipe/runs');
      const id = readdirSync(runs).sort().at(-1)!;
      const record = JSON.parse(readFileSync(join(runs, id, 'run.json'), 'utf8')) as {
        stages: { name: string; status: string; engine?: string }[];
      };
      for (const stage of record.stages) {
        assert.equal(stage.status, 'succeeded', stage.name);
        assert.match(stage.engine ?? '', /^kubernetes v1\.34\.2 \(context mlpipe-local, namespace ml\)$/);
      }
      assert.match(
        readFileSync(join(runs, id, 'logs', 'train.log'), 'utf8'),
        new RegExp(`mlpipe: pod mlpipe-train-\\S+ on node ${cluster.prefix}-n[12]`),
      );
      assert.ok(existsSync(join(session.folder, 'models/model.npz')), 'the model came back from the cluster');
      assert.ok(existsSync(join(session.folder, 'metrics/eval-test.json')));
      const left = cluster.kubectl([
        'get',
        'jobs,pods',
        '-A',
        '-l',
        'app.kubernetes.io/managed-by=mlpipe',
        '-o',
        'name',
      ]);
      assert.equal(left.stdout.trim(), '', 'no Job or pod is left');
    });
  },
);
