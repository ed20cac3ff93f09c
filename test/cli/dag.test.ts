import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ROOT } from '../support/files';
import { mlpipe } from '../support/mlpipe-cli';

interface DagJson {
  version: number;
  nodes: { id: string; kind: string; label: string; group?: string; state?: string }[];
  edges: { from: string; to: string; kind: string; via: string[] }[];
}

// Graphviz is the real reader on the other side of `--format dot`.
const graphvizMissing =
  spawnSync('dot', ['-V']).status === 0 ? undefined : 'Graphviz is not installed: apt-get install -y graphviz';
if (graphvizMissing && process.env.CI) throw new Error(graphvizMissing);

/** `mlpipe dag` on the sample and on a pipeline whose paths try to break out of each format. */
describe('mlpipe dag', () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
  const noEngine = { DOCKER_HOST: 'unix:///nonexistent/docker.sock' };
  const sample = () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlpipe-cli-dag-'));
    dirs.push(dir);
    cpSync(join(ROOT, 'sample-workspace'), dir, { recursive: true });
    return dir;
  };

  it('draws the sample: stages in run order, the files that link them, params, sources, the model and its card', () => {
    const dir = sample();
    const json = mlpipe(['dag', '--format', 'json'], dir, noEngine);
    assert.equal(json.status, 0, json.stderr);
    const dag = JSON.parse(json.stdout) as DagJson;
    const stages = dag.nodes.filter((node) => node.kind === 'stage');
    assert.deepEqual(
      stages.map((node) => node.label),
      ['prepare', 'train', 'evaluate@val', 'evaluate@test'],
    );
    assert.deepEqual(
      stages.map((node) => node.state),
      ['never-run', 'never-run', 'never-run', 'never-run'],
    );
    assert.equal(stages[2].group, 'evaluate');
    const edge = (from: string, to: string) => dag.edges.find((e) => e.from === from && e.to === to);
    assert.deepEqual(edge('stage:prepare', 'stage:train')?.via, ['data/prepared']);
    assert.deepEqual(edge('stage:train', 'stage:evaluate@test')?.via, ['models/model.npz']);
    assert.equal(edge('stage:train', 'stage:prepare'), undefined);
    assert.ok(edge('source:data/raw.csv', 'stage:prepare'));
    assert.ok(edge('source:src/common.py', 'stage:evaluate@val'));
    assert.deepEqual(edge('params:params.yaml', 'stage:evaluate@val')?.via, ['evaluate.threshold']);
    assert.ok(edge('stage:train', 'artifact:models/model.npz'));
    assert.ok(edge('artifact:models/model.npz', 'card:modelcard.yaml'));

    const text = mlpipe(['dag'], dir, noEngine);
    assert.equal(text.status, 0, text.stderr);
    assert.match(
      text.stdout,
      /^prepare +never run\n {2}<- params\.yaml \(prepare\.test_size, prepare\.val_size, seed\)$/m,
    );
    assert.match(text.stdout, /^train +never run: upstream 'prepare' runs first\n {2}<- prepare \(data\/prepared\)$/m);

    const quiet = JSON.parse(
      mlpipe(['dag', '--format', 'json', '--no-status', '--no-sources'], dir, noEngine).stdout,
    ) as DagJson;
    assert.ok(quiet.nodes.every((node) => node.state === undefined && node.kind !== 'source'));

    const mermaid = mlpipe(['dag', '--format', 'mermaid'], dir, noEngine).stdout;
    assert.match(mermaid, /^flowchart LR\n/);
    assert.match(mermaid, /^ {2}n0 -->\|"data\/prepared"\| n1$/m);
  });

  it(
    'escapes what a path says in dot, Mermaid and JSON, and Graphviz reads the result',
    { skip: graphvizMissing },
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'mlpipe-cli-dag-hostile-'));
      dirs.push(dir);
      // (A backslash would be a path separator: paths are normalised to / before they reach a format.)
      const evil = 'data/a"];x[label="pwn"] --> n0 #quot;<b> %%{init: {}}%%.csv';
      writeFileSync(
        join(dir, 'mlpipe.yaml'),
        `version: 1\ndefaults: { image: busybox:1 }\nstages:\n  make:\n    cmd: sh -c "echo > out.txt"\n    deps: ['${evil.replace(/'/g, "''")}']\n    outs: [out.txt]\n  use:\n    cmd: cat out.txt\n    deps: [out.txt]\n`,
      );
      const json = mlpipe(['dag', '--format', 'json', '--no-status'], dir, noEngine);
      assert.equal(json.status, 0, json.stderr);
      const dag = JSON.parse(json.stdout) as DagJson;
      assert.ok(dag.nodes.some((node) => node.kind === 'source' && node.label === evil));

      const dot = mlpipe(['dag', '--format', 'dot'], dir, noEngine).stdout;
      const svg = spawnSync('dot', ['-Tsvg'], { input: dot, encoding: 'utf8' });
      assert.equal(svg.status, 0, `Graphviz refused the output:\n${svg.stderr}\n${dot}`);
      // One node per graph node and one edge per graph edge: nothing the path said became syntax.
      assert.equal((svg.stdout.match(/class="node"/g) ?? []).length, dag.nodes.length);
      assert.equal((svg.stdout.match(/class="edge"/g) ?? []).length, dag.edges.length);
      assert.match(svg.stdout, /a&quot;\];x\[label=&quot;pwn/);

      const mermaid = mlpipe(['dag', '--format', 'mermaid', '--no-status'], dir, noEngine).stdout;
      const labels = [...mermaid.matchAll(/^ {2}n\d+\S*?"(.*)"\S*$/gm)].map((match) => match[1]);
      assert.equal(labels.length, dag.nodes.length);
      assert.ok(
        labels.every((label) => !/["<>`%]/.test(label)),
        mermaid,
      );
      assert.ok(mermaid.includes('#35;quot;'), 'a # in a name is written as an entity, never read as one');
    },
  );

  it(
    'prints control and bidi characters of a path as nothing a terminal, Graphviz or Mermaid acts on',
    { skip: graphvizMissing },
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'mlpipe-cli-dag-controls-'));
      dirs.push(dir);
      writeFileSync(
        join(dir, 'mlpipe.yaml'),
        'version: 1\ndefaults: { image: busybox:1 }\nstages:\n  make:\n    cmd: x\n    deps: ["a\\0b", "a\\x01b", "c\\e]0;pwned\\ad\\x7f\\x9b", "e\\rf", "g\\u202eh"]\n    outs: [out.txt]\n',
      );
      const unsafe = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;
      for (const format of ['text', 'json', 'dot', 'mermaid']) {
        const out = mlpipe(['dag', '--format', format, '--no-status'], dir, noEngine);
        assert.equal(out.status, 0, out.stderr);
        assert.doesNotMatch(out.stdout, unsafe, `${format}: ${JSON.stringify(out.stdout)}`);
        if (format === 'dot') {
          const svg = spawnSync('dot', ['-Tsvg'], { input: out.stdout, encoding: 'utf8' });
          assert.equal(svg.status, 0, `Graphviz refused the output:\n${svg.stderr}\n${out.stdout}`);
          // Two paths that differ in a control character stay two nodes.
          assert.equal((svg.stdout.match(/class="node"/g) ?? []).length, 6);
          assert.equal((svg.stdout.match(/class="edge"/g) ?? []).length, 5);
        }
      }
    },
  );

  it("says why a pipeline does not plan without sending the pipeline's escape sequences to the terminal", () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlpipe-cli-dag-unplanned-'));
    dirs.push(dir);
    writeFileSync(
      join(dir, 'mlpipe.yaml'),
      'version: 1\ndefaults: { image: busybox:1 }\nstages:\n  a:\n    cmd: x\n    deps: ["../\\e]0;pwned\\a\\e[2J"]\n',
    );
    const out = mlpipe(['dag'], dir, noEngine);
    assert.equal(out.status, 2, out.stderr);
    assert.match(out.stderr, /is not a path inside the pipeline's folder/);
    assert.doesNotMatch(out.stderr, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/, JSON.stringify(out.stderr));
  });

  it('answers a bad format or a missing pipeline as a usage error', () => {
    const dir = sample();
    const bad = mlpipe(['dag', '--format', 'png'], dir, noEngine);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--format must be text, dot, mermaid or json, not 'png'/);
    const empty = mkdtempSync(join(tmpdir(), 'mlpipe-cli-dag-empty-'));
    dirs.push(empty);
    const none = mlpipe(['dag'], empty, noEngine);
    assert.equal(none.status, 2);
    assert.match(none.stderr, /no mlpipe\.yaml in /);
  });
});
