import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { pipelineSchemaDiagnostics, schemaDiagnostics } from '../../core/src/schema/validate';
import { kindByName } from '../../core/src/util/file-kinds';
import { commonEnds } from '../../core/src/yaml/build';
import { planSegments, replan, type SegmentPlan } from '../../core/src/yaml/segments';
import { toJS } from '../../core/src/yaml/values';
import { nodeFileHost } from '../../core/src/workspace/file-host';
import { Workspace, type Analysis } from '../../core/src/workspace/workspace';
import { chainedSourceFiles, generatePipeline, sourceFiles } from '../bench/generate';
import { tempWorkspace } from '../support/files';
import { seeded } from '../support/random';

/*
 * The language server keeps one Workspace per session and brings its analysis up to date edit by
 * edit (blocks re-parsed, stages rebuilt, the graph, the checks and the schema reused where the
 * edit did not reach). After every one of many random seeded edits, on every pipeline the
 * repository has, what it reports must equal what a fresh Workspace reports for the same text:
 * the same findings in the same order, with the same spans, fixes and related places.
 * MLPIPE_DIFF_SEED and MLPIPE_DIFF_EDITS change the seed and the number of edits per file.
 */

const ROOT = join(__dirname, '..', '..');
const SEED = Number(process.env.MLPIPE_DIFF_SEED ?? 13);
const EDITS = Number(process.env.MLPIPE_DIFF_EDITS ?? 30);

/** Everything a user sees from an analysis, in order. */
function seen(analysis: Analysis): string {
  return JSON.stringify(
    analysis.diagnostics.map((d) => ({
      start: d.start,
      end: d.end,
      severity: d.severity,
      code: d.code,
      message: d.message,
      related: d.related,
      fixes: d.fixes,
      tags: d.tags,
    })),
  );
}

/** The stage graph as names, to check that it follows the edits too. */
function graphOf(analysis: Analysis): string {
  if (analysis.kind !== 'pipeline') return '';
  const { graph, model } = analysis;
  const edges = model.stages.map((stage) =>
    (graph.edges.get(stage) ?? []).map((edge) => `${edge.kind}:${edge.to.name}@${edge.node.start}`).join(','),
  );
  const outputs = [...graph.outputs.keys()].sort().map((path) =>
    graph.outputs
      .get(path)!
      .map((producer) => producer.stage.name)
      .join('+'),
  );
  return JSON.stringify({ edges, outputs, cycles: graph.cycles().map((cycle) => cycle.map((edge) => edge.from.name)) });
}

function pipelinesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) found.push(...pipelinesUnder(path));
    else if (kindByName(path) === 'pipeline') found.push(path);
  }
  return found.sort();
}

const WORD = /[A-Za-z0-9_.\/${}*&-]+/g;

/** One random edit: a character typed or deleted, a line removed or repeated, or a word replaced by another word of the file. */
function edit(text: string, random: () => number): string {
  const lines = text.split('\n');
  const line = Math.floor(random() * lines.length);
  const content = lines[line];
  const roll = random();
  if (roll < 0.3) {
    const at = Math.floor(random() * (content.length + 1));
    const typed = 'ab_-:/ #{}[],*&$.'[Math.floor(random() * 18)];
    lines[line] = content.slice(0, at) + typed + content.slice(at);
  } else if (roll < 0.45 && content.length > 0) {
    const at = Math.floor(random() * content.length);
    lines[line] = content.slice(0, at) + content.slice(at + 1);
  } else if (roll < 0.55) {
    lines.splice(line, 1);
  } else if (roll < 0.65) {
    lines.splice(line, 0, content);
  } else {
    const words = text.match(WORD) ?? [];
    const own = content.match(WORD) ?? [];
    if (words.length === 0 || own.length === 0) return `${text}\n`;
    const from = own[Math.floor(random() * own.length)];
    const to = words[Math.floor(random() * words.length)];
    lines[line] = content.replace(from, to);
  }
  return lines.join('\n');
}

/** Edits `path` at random, comparing the incremental analysis with a fresh one after each edit. */
function differential(path: string, text: string, seed: number, edits: number): void {
  const random = seeded(seed);
  const incremental = new Workspace(nodeFileHost);
  incremental.open(path, text, 0);
  let current = text;
  for (let version = 1; version <= edits; version++) {
    const before = current;
    current = edit(current, random);
    // Now and then, undo: the caches meet text they held before.
    if (random() < 0.1) current = text;
    incremental.change(path, current, version);
    const mine = incremental.analyze(path);
    const fresh = new Workspace(nodeFileHost);
    fresh.open(path, current, version);
    const theirs = fresh.analyze(path);
    const where = `${relative(ROOT, path)} after edit ${version} (seed ${seed})`;
    // The schema, stage by stage, against one validation of the whole value.
    if (theirs.yaml?.root && theirs.kind === 'pipeline') {
      const { root, aliasesCut } = theirs.yaml;
      assert.deepEqual(
        pipelineSchemaDiagnostics(root, (node) => toJS(node, aliasesCut)),
        schemaDiagnostics('pipeline', toJS(root, aliasesCut), root),
        `${where}: the schema's findings, stage by stage, differ from the whole file's`,
      );
    }
    if (seen(mine) !== seen(theirs) || graphOf(mine) !== graphOf(theirs)) {
      const diff = firstDifference(before, current);
      assert.equal(seen(mine), seen(theirs), `${where}: findings differ; the edit: ${diff}`);
      assert.equal(graphOf(mine), graphOf(theirs), `${where}: graphs differ; the edit: ${diff}`);
    }
  }
}

function firstDifference(a: string, b: string): string {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return JSON.stringify({
    at: i,
    before: a.slice(Math.max(0, i - 40), i + 40),
    after: b.slice(Math.max(0, i - 40), i + 40),
  });
}

describe('the pipeline schema, stage by stage', () => {
  it('reports what one validation of the whole file reports, in the same order', () => {
    const texts = [
      'version: 2\nnme: x\nstages:\n  bad/name:\n    cmd: [1]\n  good:\n    cmd: x\n    deps: 3\n    tmeout: 2h\n  also bad:\n    foo: 1\nmodel: 3\n',
      'stages:\n  a: 3\n  b:\n  c: { cmd: x, resources: { gpus: -1, memory: 0 } }\nhosts: { h: 1 }\n',
      'version: 1\nstages:\n  "1": { cmd: x }\n  a: { cmd: y, outs: [1, 1] }\n',
      'version: 1\nx-a: &a { cmd: 1 }\nstages:\n  a: *a\n  b: { <<: *a, cmd: ok, what: 1 }\n',
    ];
    for (const text of texts) {
      const workspace = new Workspace(nodeFileHost);
      workspace.open('/nowhere/mlpipe.yaml', text, 1);
      const root = workspace.analyze('/nowhere/mlpipe.yaml').yaml!.root;
      const split = pipelineSchemaDiagnostics(root, (node) => toJS(node));
      assert.ok(split.length > 0, text);
      assert.deepEqual(split, schemaDiagnostics('pipeline', toJS(root), root), text);
    }
  });
});

describe('the block plan, updated edit by edit', () => {
  it('equals the plan of the whole text after every random edit', () => {
    const texts = [
      ...pipelinesUnder(join(ROOT, 'test', 'fixtures')).map((path) => readFileSync(path, 'utf8')),
      generatePipeline(30, { aliases: false }).pipeline,
      generatePipeline(30, { aliases: true }).pipeline,
      generatePipeline(30, { aliases: false, chained: true }).pipeline.replace(/\n/g, '\r\n'),
    ];
    let updated = 0;
    texts.forEach((text, index) => {
      const random = seeded(SEED * 7919 + index);
      let current = text;
      let plan: SegmentPlan = planSegments(current);
      for (let i = 0; i < EDITS * 5; i++) {
        const next = random() < 0.02 ? text : edit(current, random);
        const { prefix, suffix } = commonEnds(current, next);
        const fresh = planSegments(next);
        const kept = replan(plan, current, next, prefix, suffix);
        if (kept) {
          updated++;
          assert.deepEqual(kept, fresh, `edit ${i} of text ${index}: ${firstDifference(current, next)}`);
        }
        plan = kept ?? fresh;
        current = next;
      }
    });
    assert.ok(updated > EDITS, `the plan was updated in place ${updated} times`);
  });
});

describe('incremental analysis against fresh analysis, after random edits', () => {
  const fixtures = [...pipelinesUnder(join(ROOT, 'test', 'fixtures')), join(ROOT, 'sample-workspace', 'mlpipe.yaml')];
  fixtures.forEach((path, index) => {
    it(`agrees on ${relative(ROOT, path)}`, () => {
      differential(path, readFileSync(path, 'utf8'), SEED * 1000 + index, EDITS);
    });
  });

  for (const variant of ['plain', 'chained', 'aliases'] as const) {
    it(`agrees on a generated ${variant} pipeline of 20 stages`, () => {
      const stages = 20;
      const { pipeline, params } = generatePipeline(stages, {
        aliases: variant === 'aliases',
        chained: variant === 'chained',
      });
      const files = variant === 'chained' ? chainedSourceFiles(stages) : [...sourceFiles];
      const { dir, cleanup } = tempWorkspace({ 'params.yaml': params });
      try {
        for (const file of files) {
          mkdirSync(dirname(join(dir, file)), { recursive: true });
          writeFileSync(join(dir, file), '');
        }
        differential(join(dir, 'mlpipe.yaml'), pipeline, SEED * 1000 + variant.length, EDITS * 2);
      } finally {
        cleanup();
      }
    });
  }
});
