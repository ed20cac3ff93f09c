import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import MarkdownIt from 'markdown-it';
import { ExperimentStore } from '../../core/src/store/store';
import { ROOT } from '../support/files';
import { mlpipe } from '../support/mlpipe-cli';

/**
 * `mlpipe review` on scenario repositories made from the sample: main holds the sample, a branch
 * holds one change (a param, a new stage, an image bump, a card approval, nothing). The markdown
 * is rendered by markdown-it (CommonMark with GitHub's tables) and read back as HTML, as a
 * reviewer's browser would see it.
 */
const noEngine = { DOCKER_HOST: 'unix:///nonexistent/docker.sock' };
const markdown = new MarkdownIt({ html: true });

interface Review {
  rerun: string[];
  stages: { name: string; change: string; details: string[] }[];
  params: { path: string; before: unknown; after: unknown }[];
  metrics: { name: string; before?: number; after?: number; delta?: number; threshold?: string; met?: boolean }[];
  runs: { base?: { id: string }; head?: { id: string }; notes: string[] };
  approval?: { card: string; before?: { status: string }; after?: { status: string; by?: string } };
  graph: { nodes: { id: string }[]; edges: { from: string; to: string }[] };
}

/** The rows of the HTML table that follows a heading, as arrays of cell texts. */
function tableAfter(html: string, heading: string): string[][] {
  const start = html.indexOf(`<h4>${heading}</h4>`);
  assert.ok(start >= 0, `no heading ${heading} in:\n${html}`);
  const table = /<table>([\s\S]*?)<\/table>/.exec(html.slice(start));
  assert.ok(table, `no table after ${heading}`);
  return [...table[1].matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((row) =>
    [...row[1].matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((cell) => cell[1]),
  );
}

describe('mlpipe review', () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  /** The sample committed on main, then `change` committed on a branch that is checked out. */
  function scenario(change: (dir: string) => void): { dir: string; base: string; head: string } {
    const dir = mkdtempSync(join(tmpdir(), 'mlpipe-cli-review-'));
    dirs.push(dir);
    cpSync(join(ROOT, 'sample-workspace'), dir, { recursive: true });
    const git = (...args: string[]) => {
      const result = spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
        cwd: dir,
        encoding: 'utf8',
      });
      assert.equal(result.status, 0, result.stderr);
      return result.stdout.trim();
    };
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-qm', 'sample');
    const base = git('rev-parse', 'HEAD');
    git('checkout', '-qb', 'feature');
    change(dir);
    git('add', '-A');
    git('commit', '-qm', 'change', '--allow-empty');
    return { dir, base, head: git('rev-parse', 'HEAD') };
  }

  const edit = (dir: string, file: string, from: string, to: string) => {
    const text = readFileSync(join(dir, file), 'utf8');
    assert.ok(text.includes(from), `${file} has no '${from}'`);
    writeFileSync(join(dir, file), text.replace(from, to));
  };

  const review = (dir: string, ...args: string[]) => {
    const json = mlpipe(['review', 'main', '--format', 'json', ...args], dir, noEngine);
    assert.equal(json.status, 0, json.stderr);
    const text = mlpipe(['review', 'main', ...args], dir, noEngine);
    assert.equal(text.status, 0, text.stderr);
    return { report: JSON.parse(json.stdout) as Review, md: text.stdout, html: markdown.render(text.stdout) };
  };

  it('a param change: what reruns and why, the params, and the metrics of a run of each side against the card', () => {
    const { dir, base, head } = scenario((d) => edit(d, 'params.yaml', 'threshold: 0.5', 'threshold: 0.6'));
    // A run of each commit, recorded the way the runner records them (the store's own API).
    const store = ExperimentStore.open(join(dir, '.mlpipe'));
    const run = (id: string, commit: string, minute: number, metrics: Record<string, number>) =>
      store.record({
        v: 1,
        id,
        pipeline: 'mlpipe.yaml',
        status: 'succeeded',
        started: new Date(Date.UTC(2026, 11, 1, 10, minute)).toISOString(),
        commit,
        dirty: false,
        params: {},
        metrics,
        stages: { succeeded: 4 },
        series: [],
      });
    run('20261201-100000-base', base, 0, { 'eval-test.auc': 0.8, 'eval-test.accuracy': 0.72, 'eval-val.auc': 0.79 });
    run('20261201-101000-head', head, 10, { 'eval-test.auc': 0.84, 'eval-test.accuracy': 0.69, 'eval-val.auc': 0.79 });

    const { report, md, html } = review(dir);
    assert.deepEqual(report.rerun, ['evaluate@val', 'evaluate@test']);
    assert.deepEqual(report.params, [{ path: 'evaluate.threshold', before: 0.5, after: 0.6 }]);
    assert.equal(report.runs.base?.id, '20261201-100000-base');
    assert.equal(report.runs.head?.id, '20261201-101000-head');
    const auc = report.metrics.find((metric) => metric.name === 'eval-test.auc');
    assert.equal(auc?.threshold, '>= 0.75');
    assert.equal(auc?.met, true);
    assert.ok(Math.abs((auc?.delta ?? 0) - 0.04) < 1e-12);
    assert.equal(report.metrics.find((metric) => metric.name === 'eval-test.accuracy')?.met, false);
    assert.deepEqual(
      report.graph.nodes.map((node) => node.id),
      ['stage:evaluate@val', 'stage:evaluate@test'],
    );

    assert.match(md, /^\*\*2 stages would rerun\.\*\* 2 changed, 1 param changed\. ⚠️ 1 metric below/m);
    assert.deepEqual(tableAfter(html, 'Params'), [
      ['param', 'base', 'head'],
      ['evaluate.threshold', '0.5', '0.6'],
    ]);
    const metrics = tableAfter(html, 'Metrics');
    assert.deepEqual(metrics[0], ['metric', 'base', 'head', 'change', 'threshold']);
    assert.deepEqual(
      metrics.find((row) => row[0] === 'eval-test.auc'),
      ['eval-test.auc', '0.8', '0.84', '▲ +0.04 (+5.0%)', '&gt;= 0.75 ✅'],
    );
    assert.deepEqual(metrics.find((row) => row[0] === 'eval-test.accuracy')?.slice(3), [
      '▼ -0.03 (-4.2%)',
      '&gt;= 0.7 ❌',
    ]);
    const stages = tableAfter(html, 'Stages');
    assert.deepEqual(
      stages.map((row) => row.slice(0, 2)),
      [
        ['stage', 'change'],
        ['evaluate@val', 'changed'],
        ['evaluate@test', 'changed'],
      ],
    );
    assert.match(md, /```mermaid\nflowchart LR\n {2}n0\["evaluate@val"\]/);
    // The same input gives the same comment, byte for byte (an updated comment diffs cleanly).
    assert.equal(mlpipe(['review', 'main'], dir, noEngine).stdout, md);
  });

  it('a new stage, an image bump, a card approval and a change that touches nothing', () => {
    const added = review(
      scenario((d) =>
        edit(
          d,
          'mlpipe.yaml',
          '\nstages:\n',
          '\nstages:\n  report:\n    cmd: python3 -c "print(1)"\n    deps: [metrics/eval-test.json]\n    outs: [report.txt]\n',
        ),
      ).dir,
    );
    assert.deepEqual(
      added.report.stages.map((stage) => [stage.name, stage.change]),
      [['report', 'added']],
    );
    assert.match(added.md, /1 stage would rerun\.\*\* 1 added\./);

    const bumped = review(
      scenario((d) =>
        edit(d, 'mlpipe.yaml', 'image: localhost/mlpipe-python:3.11', 'image: localhost/mlpipe-python:3.12'),
      ).dir,
    );
    assert.deepEqual(bumped.report.rerun, ['prepare', 'train', 'evaluate@val', 'evaluate@test']);
    assert.ok(
      bumped.report.stages.every((stage) =>
        stage.details.includes('image: localhost/mlpipe-python:3.11 -> localhost/mlpipe-python:3.12'),
      ),
    );

    const approved = review(
      scenario((d) =>
        edit(
          d,
          'modelcard.yaml',
          'approval:\n  status: pending',
          'approval:\n  status: approved\n  by: "@security-team <img src=x onerror=alert(1)>"\n  run: 20261201-101000-head\n  artifact_digest: sha256:9f2c0000000000000000000000000000000000000000000000000000000000aa',
        ),
      ).dir,
    );
    assert.equal(approved.report.approval?.before?.status, 'pending');
    assert.equal(approved.report.approval?.after?.status, 'approved');
    assert.deepEqual(approved.report.rerun, []);
    assert.match(approved.md, /\*\*Nothing would rerun\.\*\* Model card: pending → approved\./);
    // A hostile approver name is text in the rendered comment: no element, no mention.
    assert.doesNotMatch(approved.html, /<img/);
    assert.match(approved.html, /by @\u200bsecurity-team &lt;img src=x onerror=alert\(1\)&gt;/);
    assert.match(approved.md, /by @\u200bsecurity-team &lt;img/);

    const nothing = review(scenario(() => undefined).dir);
    assert.deepEqual(nothing.report.stages, []);
    assert.match(nothing.md, /^\*\*Nothing would rerun\.\*\*$/m);
    assert.doesNotMatch(nothing.md, /#### (Stages|Params|What reruns)/);
  });

  it("reads the base's approval from the card the base's pipeline names, when the pull request points model.card elsewhere", () => {
    const { dir } = scenario((d) => {
      const card = readFileSync(join(d, 'modelcard.yaml'), 'utf8');
      writeFileSync(
        join(d, 'other-card.yaml'),
        card.replace('approval:\n  status: pending', 'approval:\n  status: approved\n  by: someone'),
      );
      edit(d, 'mlpipe.yaml', 'card: modelcard.yaml', 'card: other-card.yaml');
    });
    const { report, md } = review(dir);
    assert.equal(report.approval?.before?.status, 'pending', 'the base had a pending approval, in modelcard.yaml');
    assert.equal(report.approval?.after?.status, 'approved');
    assert.equal((report.approval as { previousCard?: string }).previousCard, 'modelcard.yaml');
    assert.match(md, /^Card modelcard\.yaml → other-card\.yaml: pending → approved by someone$/m);
  });

  it('says when the pull request moves a threshold of the model card, next to the check against it', () => {
    const { dir, base, head } = scenario((d) =>
      edit(d, 'modelcard.yaml', 'threshold: ">= 0.7"', 'threshold: ">= 0.1"'),
    );
    const store = ExperimentStore.open(join(dir, '.mlpipe'));
    for (const [id, commit] of [
      ['20261201-100000-base', base],
      ['20261201-101000-head', head],
    ])
      store.record({
        v: 1,
        id,
        pipeline: 'mlpipe.yaml',
        status: 'succeeded',
        started: '2026-12-01T10:00:00.000Z',
        commit,
        dirty: false,
        params: {},
        metrics: { 'eval-test.accuracy': 0.6 },
        stages: { succeeded: 4 },
        series: [],
      });
    const { report, md, html } = review(dir);
    const accuracy = report.metrics.find((metric) => metric.name === 'eval-test.accuracy') as {
      threshold?: string;
      thresholdBefore?: string;
      met?: boolean;
    };
    assert.deepEqual([accuracy.threshold, accuracy.thresholdBefore, accuracy.met], ['>= 0.1', '>= 0.7', true]);
    assert.match(md, /⚠️ The model card changes 1 threshold\./);
    assert.deepEqual(
      tableAfter(html, 'Metrics').find((row) => row[0] === 'eval-test.accuracy')?.[4],
      '&gt;= 0.1 ✅ (was &gt;= 0.7)',
    );
  });

  it("never takes a run of the base's commit for the head, nor one with uncommitted changes for the base", () => {
    const { dir, base } = scenario((d) => edit(d, 'params.yaml', 'threshold: 0.5', 'threshold: 0.6'));
    const store = ExperimentStore.open(join(dir, '.mlpipe'));
    const run = (id: string, dirty: boolean, minute: number, auc: number) =>
      store.record({
        v: 1,
        id,
        pipeline: 'mlpipe.yaml',
        status: 'succeeded',
        started: new Date(Date.UTC(2026, 11, 1, 10, minute)).toISOString(),
        commit: base,
        dirty,
        params: {},
        metrics: { 'eval-test.auc': auc },
        stages: { succeeded: 4 },
        series: [],
      });
    // Only runs of main: a clean one, then a newer one with changes that were never committed.
    run('20261201-100000-base', false, 0, 0.8);
    run('20261201-100500-edit', true, 5, 0.9);
    const { report, md } = review(dir);
    assert.equal(report.runs.base?.id, '20261201-100000-base');
    assert.equal(report.runs.head, undefined, "a run of main is not the pull request's");
    assert.ok(
      report.runs.notes.some((note) => /^no run of HEAD's commit/.test(note)),
      report.runs.notes.join('\n'),
    );
    assert.match(md, /Head: no run\./);
  });

  it('a hostile pull request: a card outside the folder is not read, names stay text, the graph stays the graph', () => {
    const outside = mkdtempSync(join(tmpdir(), 'mlpipe-cli-review-outside-'));
    dirs.push(outside);
    writeFileSync(join(outside, 'card.yaml'), 'approval:\n  status: approved\n  by: SECRET-OUTSIDE\n');
    const evil = "models/%%{init: {'theme':'forest'}}%% ``` @security-team www.evil.example #1.txt";
    const { dir } = scenario((d) => {
      edit(d, 'mlpipe.yaml', 'card: modelcard.yaml', `card: ${relative(d, join(outside, 'card.yaml'))}`);
      edit(
        d,
        'mlpipe.yaml',
        '\nstages:\n',
        `\nstages:\n  report:\n    cmd: python3 -c "print(1)"\n    deps: [metrics/eval-test.json]\n    outs: ["${evil}"]\n  after:\n    cmd: "true"\n    deps: ["${evil}"]\n    outs: [after.txt]\n`,
      );
      edit(
        d,
        'params.yaml',
        'threshold: 0.5',
        'threshold: "https://evil.example/\\\\<img src=https://evil.example/p.png> :shipit: \\e]0;pwned\\a \\u202eevil"',
      );
    });
    // The store's index, a link out of the folder: refused, and the comment says why there are no runs.
    mkdirSync(join(dir, '.mlpipe', 'store'), { recursive: true });
    symlinkSync(join(outside, 'card.yaml'), join(dir, '.mlpipe', 'store', 'index.jsonl'));
    const { report, md } = review(dir);
    // Nothing a terminal acts on, when either is read there.
    const unsafe = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;
    assert.doesNotMatch(md, unsafe);
    assert.doesNotMatch(mlpipe(['review', 'main', '--format', 'json'], dir, noEngine).stdout, unsafe);
    assert.doesNotMatch(JSON.stringify(report), /SECRET/);
    assert.ok(
      report.runs.notes.some((note) =>
        /card\.yaml could not be read \(it is outside the pipeline's folder\)/.test(note),
      ),
      report.runs.notes.join('\n'),
    );
    assert.ok(
      report.runs.notes.some((note) => /^the experiment store could not be read \(.*symbolic link/.test(note)),
      report.runs.notes.join('\n'),
    );
    // As GitHub would: HTML allowed (then sanitised), URLs, www. and addresses autolinked.
    const github = new MarkdownIt({ html: true, linkify: true });
    github.linkify.set({ fuzzyLink: false });
    const html = github.render(md);
    assert.doesNotMatch(html, /<(img|a)\b/, html);
    const fences = github.parse(md, {}).filter((token) => token.type === 'fence');
    assert.deepEqual(
      fences.map((token) => token.info),
      ['mermaid'],
    );
    assert.match(fences[0].content, /^flowchart LR\n/);
    assert.doesNotMatch(fences[0].content, /%%|`/, 'no Mermaid directive or comment, no fence');
    assert.match(fences[0].content, /-->\|"models\/#37;#37;\{init/);
  });

  it('answers a revision that does not exist, and a run that does not, as usage errors', () => {
    const { dir } = scenario(() => undefined);
    const bad = mlpipe(['review', 'no-such-branch'], dir, noEngine);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /'no-such-branch' is not a git revision here/);
    // A pipeline that does not plan is named as it is, without its escape sequences.
    writeFileSync(
      join(dir, 'mlpipe.yaml'),
      'version: 1\ndefaults: { image: busybox:1 }\nstages:\n  a:\n    cmd: x\n    deps: ["../\\e]0;pwned\\a"]\n',
    );
    const unplanned = mlpipe(['review', 'main'], dir, noEngine);
    assert.equal(unplanned.status, 2);
    assert.match(unplanned.stderr, /does not plan/);
    assert.doesNotMatch(unplanned.stderr, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/, JSON.stringify(unplanned.stderr));
    writeFileSync(join(dir, 'mlpipe.yaml'), readFileSync(join(ROOT, 'sample-workspace', 'mlpipe.yaml')));
    const run = mlpipe(['review', 'main', '--base-run', 'nope'], dir, noEngine);
    assert.equal(run.status, 2);
    assert.match(run.stderr, /--base-run nope: /);
  });
});
