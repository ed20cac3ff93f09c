import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../support/files';
import { mlpipe } from '../support/mlpipe-cli';

/** The runner's commands where no engine is needed: diff, status before any run, usage errors. */
describe('mlpipe run, status and diff without an engine', () => {
  const sample = () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlpipe-cli-run-'));
    cpSync(join(ROOT, 'sample-workspace'), dir, { recursive: true });
    return dir;
  };
  // No engine reachable: status still answers from files alone.
  const noEngine = { DOCKER_HOST: 'unix:///nonexistent/docker.sock' };

  it('explains for review what differs from a git revision and what would rerun', () => {
    const dir = sample();
    try {
      const git = (...args: string[]) =>
        spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
          cwd: dir,
          encoding: 'utf8',
        });
      git('init', '-q');
      git('add', '-A');
      git('commit', '-qm', 'sample');
      writeFileSync(
        join(dir, 'params.yaml'),
        readFileSync(join(dir, 'params.yaml'), 'utf8').replace('threshold: 0.5', 'threshold: 0.6'),
      );
      writeFileSync(join(dir, 'src/prepare.py'), `${readFileSync(join(dir, 'src/prepare.py'), 'utf8')}\n# changed\n`);
      const result = mlpipe(['diff'], dir, noEngine);
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, /^params:\n {2}evaluate\.threshold: 0\.5 -> 0\.6$/m);
      assert.match(result.stdout, /^ {2}prepare: changed: dep src\/prepare\.py changed \(src\/prepare\.py\)$/m);
      assert.match(result.stdout, /^ {2}train: downstream: reruns after prepare$/m);
      assert.match(result.stdout, /^ {2}evaluate@val: changed: param evaluate\.threshold: 0\.5 -> 0\.6; command: /m);
      assert.match(result.stdout, /^would rerun: prepare, train, evaluate@val, evaluate@test$/m);
      const json = JSON.parse(mlpipe(['diff', 'HEAD', '--format', 'json'], dir, noEngine).stdout) as {
        rerun: string[];
      };
      assert.deepEqual(json.rerun, ['prepare', 'train', 'evaluate@val', 'evaluate@test']);
      assert.equal(mlpipe(['diff', 'no-such-rev'], dir, noEngine).status, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports every stage as never run before the first run, with no engine reachable', () => {
    const dir = sample();
    try {
      const result = mlpipe(['status'], dir, noEngine);
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, /^prepare\s+never run$/m);
      assert.match(result.stdout, /^evaluate@test\s+never run/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reuses the plan while the pipeline and its params files are unchanged, and never a stale one', () => {
    const dir = sample();
    try {
      const cache = join(dir, '.mlpipe/plans/mlpipe.yaml.json');
      assert.equal(mlpipe(['status'], dir, noEngine).status, 0);
      // The file is this machine's signature, a newline, then the plan (see plan-cache.ts).
      const planOf = () =>
        JSON.parse(readFileSync(cache, 'utf8').split('\n').slice(1).join('\n')) as {
          inputs: Record<string, string | null>;
          stages: { name: string }[];
        };
      const saved = planOf();
      assert.deepEqual(Object.keys(saved.inputs).sort(), ['mlpipe.yaml', 'modelcard.yaml', 'params.yaml']);
      assert.equal(saved.stages.length, 4);

      // A renamed stage, then a broken file: each answer comes from the file as it is now.
      const pipeline = join(dir, 'mlpipe.yaml');
      const text = readFileSync(pipeline, 'utf8');
      writeFileSync(pipeline, text.replace('\n  prepare:\n', '\n  clean:\n'));
      const renamed = mlpipe(['status'], dir, noEngine);
      assert.equal(renamed.status, 0, renamed.stderr);
      assert.match(renamed.stdout, /^clean\s+never run$/m);
      assert.doesNotMatch(renamed.stdout, /^prepare/m);
      writeFileSync(pipeline, text.replace('cmd: python3 src/train.py', 'cmd: [python3, src/train.py'));
      assert.equal(
        mlpipe(['status'], dir, noEngine).status,
        1,
        'a broken pipeline is refused, not answered from the cache',
      );

      // A damaged cache is only a cache.
      writeFileSync(pipeline, text);
      writeFileSync(cache, '{"format": 1, "build"');
      const recovered = mlpipe(['status'], dir, noEngine);
      assert.equal(recovered.status, 0, recovered.stderr);
      assert.match(recovered.stdout, /^prepare\s+never run$/m);
      assert.equal(planOf().stages.length, 4, 'rewritten');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers mistakes with a message and the right exit code', () => {
    const dir = sample();
    try {
      const unknown = mlpipe(['run', 'trian'], dir, noEngine);
      assert.equal(unknown.status, 2);
      assert.match(unknown.stderr, /no stage 'trian' in the pipeline; stages are prepare, train, evaluate/);
      writeFileSync(join(dir, 'mlpipe.yaml'), 'version: 1\nstages:\n  a:\n    needs: [b]\n');
      const broken = mlpipe(['run'], dir, noEngine);
      assert.equal(broken.status, 1);
      assert.match(
        broken.stderr,
        /mlpipe\.yaml has \d+ errors? \(first: .*\); fix them before running \(mlpipe check\)/,
      );
      assert.equal(mlpipe(['checkout', 'nope'], dir, noEngine).status, 1);
      const empty = mkdtempSync(join(tmpdir(), 'mlpipe-cli-empty-'));
      const elsewhere = mlpipe(['status'], empty, noEngine);
      rmSync(empty, { recursive: true, force: true });
      assert.equal(elsewhere.status, 2);
      assert.match(elsewhere.stderr, /no mlpipe\.yaml in .*; run from the pipeline's folder or pass --pipeline FILE/);
      assert.doesNotMatch(broken.stderr + unknown.stderr, /\n\s+at /, 'no stack traces');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails a run cleanly, with a record, when no engine answers', () => {
    const dir = sample();
    try {
      const result = mlpipe(['run', 'prepare'], dir, noEngine);
      assert.equal(result.status, 1);
      assert.match(
        result.stderr,
        /prepare\s+FAILED: cannot reach the Docker engine of host 'local' at unix:\/\/\/nonexistent\/docker\.sock/,
      );
      assert.doesNotMatch(result.stderr, /\n\s+at /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
