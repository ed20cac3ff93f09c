import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { complete } from '../../core/src/language/completion';
import { hover } from '../../core/src/language/hover';
import { loadKubeConfig, printable, redact } from '../../core/src/runner/kubernetes/cluster';
import {
  jobManifest,
  jobName,
  labelsFor,
  networkPolicyManifest,
  secretManifest,
  slug,
} from '../../core/src/runner/kubernetes/job';
import { type PlannedStage } from '../../core/src/runner/plan';
import { nodeFileHost } from '../../core/src/workspace/file-host';
import { DEFAULT_OPTIONS, Workspace } from '../../core/src/workspace/workspace';
import { tempWorkspace } from '../support/files';

/* The Job a stage becomes, the kubeconfig rules and the cluster parity lint; the real cluster is in test/cluster. */

function stage(overrides: Partial<PlannedStage> = {}): PlannedStage {
  return {
    name: 'evaluate@test',
    stage: 'evaluate',
    values: {},
    command: { argv: ['python3', 'eval.py'], display: 'python3 eval.py', env: {} },
    image: 'localhost/mlpipe-python:3.11',
    host: 'cluster',
    deps: [],
    outputs: [],
    params: {},
    env: {},
    resources: {},
    workdir: '',
    network: 'bridge',
    retries: 0,
    alwaysRun: false,
    upstream: [],
    ...overrides,
  } as PlannedStage;
}

describe('a stage as a Kubernetes Job', () => {
  const labels = labelsFor('/home/me/churn', 'f'.repeat(32), '20261205-040000-123-abcd', 'evaluate@test');

  it('names are Kubernetes names: lowercase, at most 63 characters, unique per attempt', () => {
    const name = jobName('/w', '20261205-040000-123-abcd', 'Evaluate@Test_Split'.repeat(5), 2);
    assert.match(name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    assert.ok(name.length <= 63, name);
    assert.notEqual(name, jobName('/w', '20261205-040000-123-abcd', 'Evaluate@Test_Split'.repeat(5), 3));
    assert.notEqual(jobName('/a', 'r', 's', 1), jobName('/b', 'r', 's', 1));
    assert.equal(slug('@@@', 10), 'x');
    for (const value of Object.values(labels)) assert.match(value, /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/);
  });

  it('resources, GPUs, shm, timeout and the host settings land where Kubernetes reads them', () => {
    const job = jobManifest({
      name: 'mlpipe-train-abc-1',
      namespace: 'ml',
      hostName: 'cluster',
      host: {
        queue: 'team-a',
        gpuType: 'NVIDIA-A100-SXM4-80GB',
        nodeSelector: { pool: 'gpu' },
        tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
        imagePullSecrets: ['regcred'],
        priorityClass: 'batch-low',
        runAsUser: 1000,
        helperImage: 'registry.example.com/mlpipe-pod:1',
      },
      stage: stage({
        resources: { gpus: 2, cpus: 1.5, memoryBytes: 2 * 1024 ** 3, shmBytes: 1024 ** 3 },
        timeoutMs: 90_000,
        env: { SEED: '1' },
      }),
      argv: ['/entry', 'python3', 'eval.py'],
      env: { SEED: '1' },
      labels,
    });
    const spec = job.spec!;
    const pod = spec.template.spec!;
    const main = pod.containers[0]!;
    assert.equal(spec.backoffLimit, 0);
    assert.equal(spec.activeDeadlineSeconds, 150, 'the timeout plus a minute, as a backstop');
    assert.equal(spec.suspend, true, 'Kueue admits it');
    assert.equal(job.metadata!.labels!['kueue.x-k8s.io/queue-name'], 'team-a');
    assert.deepEqual(main.resources, {
      limits: { cpu: '1500m', memory: String(2 * 1024 ** 3), 'nvidia.com/gpu': '2' },
      requests: { cpu: '1500m', memory: String(2 * 1024 ** 3) },
    });
    assert.deepEqual(pod.nodeSelector, { pool: 'gpu', 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB' });
    assert.deepEqual(pod.securityContext, {
      seccompProfile: { type: 'RuntimeDefault' },
      runAsUser: 1000,
      runAsNonRoot: true,
    });
    assert.equal(pod.automountServiceAccountToken, false, 'no token unless a service account is asked for');
    assert.deepEqual(pod.imagePullSecrets, [{ name: 'regcred' }]);
    assert.equal(pod.priorityClassName, 'batch-low');
    assert.deepEqual(main.command, ['/mlpipe/bin/mlpipe-pod', 'run', '--', '/entry', 'python3', 'eval.py']);
    assert.equal(pod.initContainers![0]!.image, 'registry.example.com/mlpipe-pod:1');
    const shm = pod.volumes!.find((volume) => volume.name === 'dshm')!;
    assert.deepEqual(shm.emptyDir, { medium: 'Memory', sizeLimit: String(1024 ** 3) });
    assert.ok(main.volumeMounts!.some((mount) => mount.mountPath === '/dev/shm'));
    assert.ok(pod.containers.every((container) => container.securityContext?.allowPrivilegeEscalation === false));
  });

  it('the signed URL is only in the Secret, never in the Job', () => {
    const url = 'http://s3.example/bucket/staging/m.json?X-Amz-Signature=deadbeef';
    const input = { name: 'mlpipe-x-1', namespace: 'ml', labels };
    const secret = secretManifest(input, url);
    assert.equal(secret.stringData!['manifest-url'], url);
    const job = jobManifest({ ...input, hostName: 'cluster', host: {}, stage: stage(), argv: ['true'], env: {} });
    assert.ok(!JSON.stringify(job).includes('X-Amz'), 'no signature in the Job');
    assert.equal(job.spec!.template.spec!.volumes!.find((volume) => volume.secret)!.secret!.secretName, 'mlpipe-x-1');
  });

  it('network: none becomes a NetworkPolicy: egress to DNS and the remote only', () => {
    const policy = networkPolicyManifest({ name: 'mlpipe-x-1', namespace: 'ml', labels }, 'http://10.99.255.1:8333');
    assert.deepEqual(policy.spec!.podSelector!.matchLabels, { 'batch.kubernetes.io/job-name': 'mlpipe-x-1' });
    assert.deepEqual(policy.spec!.policyTypes, ['Egress']);
    assert.deepEqual(policy.spec!.egress![1], {
      to: [{ ipBlock: { cidr: '10.99.255.1/32' } }],
      ports: [{ protocol: 'TCP', port: 8333 }],
    });
    const named = networkPolicyManifest({ name: 'n', namespace: 'ml', labels }, 'https://s3.example.com');
    assert.deepEqual(named.spec!.egress![1], { ports: [{ protocol: 'TCP', port: 443 }] });
  });

  it('server text is made printable and bounded; tokens and URL signatures are redacted before the cut', () => {
    assert.equal(printable('a\u001b[31mred\nfake line'), 'a [31mred fake line');
    assert.equal(printable('x'.repeat(500)).length, 403);
    const url = 'http://h/b/k?X-Amz-Credential=AKIA%2F20261205&X-Amz-Signature=abcdef0123&x=1';
    assert.equal(redact(url), 'http://h/b/k?X-Amz-Credential=***&X-Amz-Signature=***&x=1');
    assert.equal(redact('Bearer tok-123456 refused', ['tok-123456']), 'Bearer *** refused');
  });

  it('refuses what a cluster cannot give: all GPUs, the host network', () => {
    const base = { name: 'n', namespace: 'ml', hostName: 'cluster', host: {}, argv: ['true'], env: {}, labels };
    assert.throws(() => jobManifest({ ...base, stage: stage({ resources: { gpus: 'all' } }) }), /ask for a number/);
    assert.throws(() => jobManifest({ ...base, stage: stage({ network: 'host' }) }), /network: host/);
  });
});

describe('kubeconfig: verified TLS, a context that exists', () => {
  const kubeconfig = (extra: string) =>
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: c',
      '  cluster:',
      '    server: https://127.0.0.1:6443',
      extra,
      'users:',
      '- name: u',
      '  user: { token: secret-token-123 }',
      'contexts:',
      '- name: ctx',
      '  context: { cluster: c, user: u, namespace: team }',
      'current-context: ctx',
      '',
    ].join('\n');

  it('reads the context and its namespace; refuses insecure-skip-tls-verify and an unknown context', () => {
    const { dir, cleanup } = tempWorkspace({});
    try {
      writeFileSync(join(dir, 'good'), kubeconfig('    certificate-authority-data: ""'));
      const loaded = loadKubeConfig('cluster', { kubeconfig: 'good' }, dir);
      assert.equal(loaded.context, 'ctx');
      assert.equal(loaded.namespace, 'team');
      assert.equal(loadKubeConfig('cluster', { kubeconfig: 'good', namespace: 'ml' }, dir).namespace, 'ml');
      assert.throws(
        () => loadKubeConfig('cluster', { kubeconfig: 'good', context: 'prod' }, dir),
        /no context 'prod'; it has 'ctx'/,
      );
      writeFileSync(join(dir, 'insecure'), kubeconfig('    insecure-skip-tls-verify: true'));
      assert.throws(
        () => loadKubeConfig('cluster', { kubeconfig: 'insecure' }, dir),
        (error: Error) => /turns TLS verification off/.test(error.message) && !error.message.includes('secret-token'),
      );
      assert.throws(() => loadKubeConfig('cluster', { kubeconfig: 'missing' }, dir), /cannot read the kubeconfig/);
    } finally {
      cleanup();
    }
  });
});

describe('mlpipe check: what works locally but not on the cluster', () => {
  const codes = (text: string) => {
    const { dir, cleanup } = tempWorkspace({ 'mlpipe.yaml': text });
    try {
      const analysis = new Workspace(nodeFileHost, DEFAULT_OPTIONS).analyze(join(dir, 'mlpipe.yaml'), 'pipeline');
      return analysis.diagnostics.map((diagnostic) => `${diagnostic.severity} ${diagnostic.code}`);
    } finally {
      cleanup();
    }
  };
  const pipeline = (hosts: string, stageLines: string[], remotes = '') =>
    [
      'version: 1',
      hosts,
      remotes,
      'stages:',
      '  train:',
      '    host: cluster',
      '    cmd: python3 train.py',
      ...stageLines,
      '',
    ].join('\n');

  it('flags a cluster without an S3 remote, the host network and a local-only image', () => {
    const cluster = 'hosts:\n  cluster:\n    kubernetes: { namespace: ml }';
    assert.deepEqual(
      codes(pipeline(cluster, ['    image: python:3.11-slim'], 'remotes:\n  team: { url: "s3://bucket/p" }')),
      [],
    );
    assert.deepEqual(codes(pipeline(cluster, ['    image: python:3.11-slim'])), ['warning cluster-remote']);
    assert.deepEqual(
      codes(pipeline(cluster, ['    image: python:3.11-slim'], 'remotes:\n  team: { url: "file:///mnt/c" }')),
      ['warning cluster-remote'],
    );
    assert.deepEqual(
      codes(
        pipeline(
          cluster,
          ['    image: python:3.11-slim', '    network: host'],
          'remotes:\n  t: { url: "s3://bucket/p" }',
        ),
      ),
      ['error cluster-parity'],
    );
    assert.deepEqual(
      codes(pipeline(cluster, ['    image: localhost/mine:1'], 'remotes:\n  t: { url: "s3://bucket/p" }')),
      ['warning cluster-parity'],
    );
    const preloaded = 'hosts:\n  cluster:\n    kubernetes: { namespace: ml, imagePullPolicy: Never }';
    assert.deepEqual(
      codes(pipeline(preloaded, ['    image: localhost/mine:1'], 'remotes:\n  t: { url: "s3://bucket/p" }')),
      [],
    );
  });

  it('a host is an engine or a cluster, not both and not neither', () => {
    assert.deepEqual(
      codes(pipeline('hosts:\n  cluster: { docker: "ssh://a@b", kubernetes: {} }', ['    image: python:3.11-slim'])),
      ['error host-kind', 'warning cluster-remote'],
    );
    assert.deepEqual(codes(pipeline('hosts:\n  cluster: { gpus: 2 }', ['    image: python:3.11-slim'])), [
      'error host-kind',
    ]);
  });
});

describe('the language server on a kubernetes: host', () => {
  const PIPELINE = [
    'version: 1',
    'hosts:',
    '  cluster:',
    '    kubernetes:',
    '      context: gpu-prod',
    '      namespace: ml',
    '      queue: team-a',
    'remotes:',
    '  team: { url: "s3://bucket/p" }',
    'stages:',
    '  train:',
    '    host: cluster',
    '    image: python:3.11-slim',
    '    cmd: python3 train.py',
    '',
  ].join('\n');

  it('completes its fields from the schema, hovers the host as a cluster, and flags a misspelt field', () => {
    const { dir, cleanup } = tempWorkspace({ 'mlpipe.yaml': PIPELINE });
    try {
      const workspace = new Workspace(nodeFileHost, DEFAULT_OPTIONS);
      const path = join(dir, 'mlpipe.yaml');
      const typed = PIPELINE.replace('      queue: team-a\n', '      queue: team-a\n      ser\n');
      workspace.change(path, typed, Date.now());
      const labels = complete(workspace, workspace.analyze(path), typed.indexOf('      ser\n') + 9).map(
        (item) => item.label,
      );
      for (const field of ['serviceAccount', 'nodeSelector', 'tolerations', 'gpuType', 'imagePullSecrets'])
        assert.ok(labels.includes(field), `${field} is offered: ${labels.join(', ')}`);
      workspace.change(path, PIPELINE, Date.now() + 1);
      const analysis = workspace.analyze(path);
      const shown = hover(workspace, analysis, PIPELINE.indexOf('host: cluster') + 8)?.contents ?? '';
      assert.match(shown, /a Kubernetes cluster \(context `gpu-prod`, namespace `ml`, Kueue queue `team-a`\)/);
      const field = hover(workspace, analysis, PIPELINE.indexOf('queue:') + 2)?.contents ?? '';
      assert.match(field, /Kueue's LocalQueue/);
      const misspelt = PIPELINE.replace('queue: team-a', 'queu: team-a');
      workspace.change(path, misspelt, Date.now() + 2);
      const found = workspace
        .analyze(path)
        .diagnostics.map((diagnostic) => `${diagnostic.code}: ${diagnostic.message}`);
      assert.ok(
        found.some((text) => /^unknown-key: .*queu.*queue/.test(text)),
        found.join('\n'),
      );
    } finally {
      cleanup();
    }
  });
});
