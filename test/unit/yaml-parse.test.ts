import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { IncrementalYamlParser, type YamlModel } from '../../core/src/yaml/build';
import { walk, type YNode } from '../../core/src/yaml/nodes';
import { planSegments } from '../../core/src/yaml/segments';
import { toJS } from '../../core/src/yaml/values';
import { generatePipelineText } from '../support/generate';
import { ROOT } from '../support/files';
import { seeded } from '../support/random';

const TRICKY: Record<string, string> = {
  'comments first':
    '# header\n\n# more\nversion: 1\nstages:\n  # a comment before the first stage\n  a:\n    cmd: x\n  # between stages\n\n  b:\n    cmd: y\n',
  'compact list at column 0':
    'version: 1\nparams:\n- a.yaml\n- b.yaml\nstages:\n  a:\n    cmd: x\n    deps:\n    - one\n    - two\n',
  'anchors across blocks':
    'x-res: &res {gpus: 1, cpus: 8}\nx-cmd: &cmd python run.py\nstages:\n  a:\n    cmd: *cmd\n    resources: *res\n  b:\n    cmd: *cmd\n    resources:\n      <<: *res\n      cpus: 2\n',
  'anchor defined in a stage': 'stages:\n  a: &base\n    cmd: x\n    image: img\n  b:\n    <<: *base\n    cmd: y\n',
  'merge list': 'x-a: &a {p: 1, q: 1}\nx-b: &b {q: 2, r: 2}\nm:\n  <<: [*a, *b]\n  r: 3\n',
  'block scalars':
    'stages:\n  a:\n    cmd: |\n      python a.py \\\n        --flag\n    description: >\n      folded\n      text\n\n  b:\n    cmd: >-\n      x\n',
  'quoted keys and values':
    '"version": 1\nstages:\n  "quoted stage":\n    cmd: \'single\'\n  other:\n    cmd: "double \\"escaped\\""\n',
  'flow stages': 'stages: {a: {cmd: x}, b: {cmd: y}}\n',
  'crlf line endings': 'version: 1\r\nstages:\r\n  a:\r\n    cmd: x\r\n  b:\r\n    cmd: y\r\n',
  'byte order mark': '\uFEFFversion: 1\nstages:\n  a:\n    cmd: x\n',
  'no final newline': 'version: 1\nstages:\n  a:\n    cmd: x',
  'only comments': '# nothing here\n',
  empty: '',
  'stages header with comment': 'stages:   # the stages\n  a:\n    cmd: x\n',
  'nested sequences':
    'stages:\n  a:\n    cmd: [x, y]\n    plots:\n      - path: p.csv\n        y: [a, b]\n      - q.csv\n',
  'document start marker': '---\nversion: 1\nstages:\n  a:\n    cmd: x\n',
  'numbers and nulls': 'a: 0x1F\nb: 1_000\nc: .inf\nd: ~\ne: yes\nf: 012\ng: 1e3\nh:\n',
};

function corpus(): [string, string][] {
  const files: [string, string][] = Object.entries(TRICKY);
  const walkDir = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walkDir(path);
      else if (/\.ya?ml$/.test(name)) files.push([path.slice(ROOT.length + 1), readFileSync(path, 'utf8')]);
    }
  };
  walkDir(join(ROOT, 'sample-workspace'));
  walkDir(join(ROOT, 'test/fixtures'));
  files.push(['generated 200 stages', generatePipelineText(200, { aliases: false })]);
  files.push(['generated 200 stages with aliases', generatePipelineText(200, { aliases: true })]);
  return files;
}

function libraryValue(text: string): unknown {
  return parse(text, { merge: true, maxAliasCount: -1, uniqueKeys: false, version: '1.2' }) ?? null;
}

function spans(model: YamlModel): string {
  const out: string[] = [];
  walk(model.root, (node: YNode) => out.push(`${node.kind}:${node.start}-${node.end}`));
  return out.join(' ');
}

function errorFree(text: string): boolean {
  try {
    libraryValue(text);
    return new IncrementalYamlParser().parse(text).problems.every((p) => p.code !== 'yaml-syntax');
  } catch {
    return false;
  }
}

describe('incremental YAML parsing', () => {
  it('reads every valid file of the corpus exactly as the yaml package does', () => {
    let compared = 0;
    for (const [name, text] of corpus()) {
      if (!errorFree(text)) continue;
      const model = new IncrementalYamlParser().parse(text);
      assert.deepEqual(toJS(model.root), libraryValue(text), `value of ${name}`);
      compared++;
    }
    assert.ok(compared >= 30, `compared only ${compared} files`);
  });

  it('splits pipelines into blocks and falls back to a whole parse where it must', () => {
    const plan = planSegments(TRICKY['comments first']);
    assert.equal(plan.mode, 'segmented');
    if (plan.mode === 'segmented') {
      assert.equal(plan.segments.length, 2);
      assert.equal(plan.segments[1].stages?.children.length, 2);
    }
    for (const name of ['document start marker', 'flow stages']) {
      const whole = planSegments(TRICKY[name]);
      if (name === 'flow stages') assert.equal(whole.mode === 'segmented' && whole.segments[0].stages, undefined);
      else assert.equal(whole.mode, 'whole');
    }
    assert.equal(planSegments('- a\n- b\n').mode, 'whole');
    assert.equal(planSegments('? complex\n: key\n').mode, 'whole');
  });

  it('re-parses only the stage that changed and reuses the rest', () => {
    const text = generatePipelineText(300, { aliases: false });
    const parser = new IncrementalYamlParser();
    const first = parser.parse(text);
    assert.equal(first.reusedBlocks, 0);
    const edited = text.replace('  s150:\n    cmd: python', '  s150:\n    cmd: python3');
    assert.notEqual(edited, text);
    const second = parser.parse(edited);
    assert.equal(second.parsedBlocks, 1);
    assert.ok(second.reusedBlocks > 300);
    // Offsets of reused blocks after the edit moved with it.
    assert.equal(spans(second), spans(new IncrementalYamlParser().parse(edited)));
  });

  it('gives the same tree, values, offsets and problems as a fresh parse after 400 random edits', () => {
    const random = seeded(20261123);
    let text = generatePipelineText(40, { aliases: true });
    const parser = new IncrementalYamlParser();
    parser.parse(text);
    const alphabet = ['a', ' ', '\n', ':', '-', '  ', '#', '"', '[', ']', '{', '}', '*res', '&x', '${', '}', '\t'];
    for (let i = 0; i < 400; i++) {
      const at = Math.floor(random() * text.length);
      if (random() < 0.5) text = text.slice(0, at) + alphabet[Math.floor(random() * alphabet.length)] + text.slice(at);
      else text = text.slice(0, at) + text.slice(at + 1 + Math.floor(random() * 3));
      const incremental = parser.parse(text);
      const fresh = new IncrementalYamlParser().parse(text);
      assert.deepEqual(
        toJS(incremental.root, incremental.aliasesCut, incremental.stableValues),
        toJS(fresh.root, fresh.aliasesCut),
        `cached value after edit ${i}`,
      );
      assert.equal(spans(incremental), spans(fresh), `spans after edit ${i}`);
      assert.deepEqual(
        incremental.problems.map((p) => `${p.code}@${p.start}-${p.end}:${p.message}`).sort(),
        fresh.problems.map((p) => `${p.code}@${p.start}-${p.end}:${p.message}`).sort(),
        `problems after edit ${i}`,
      );
    }
  });
});

describe('YAML problems', () => {
  const problems = (text: string) => new IncrementalYamlParser().parse(text).problems;

  it('reports duplicate keys at every level, pointing at the first one', () => {
    const found = problems('a: 1\nstages:\n  s:\n    cmd: x\n    cmd: y\n  s:\n    cmd: z\na: 2\n');
    const duplicates = found.filter((p) => p.code === 'duplicate-key');
    assert.equal(duplicates.length, 3);
    assert.ok(duplicates.every((p) => p.related?.length === 1));
  });

  it('resolves aliases across blocks and reports unknown and recursive ones', () => {
    assert.deepEqual(problems('x: &a 1\nstages:\n  s:\n    v: *a\n'), []);
    const unknown = problems('stages:\n  s:\n    v: *nope\n');
    assert.equal(unknown[0].code, 'unknown-anchor');
    assert.equal(problems('a: &x [1, *x]\n')[0].code, 'recursive-alias');
    const later = problems('a: *x\nb: &x 1\n');
    assert.equal(later[0].code, 'unknown-anchor', 'an alias before its anchor does not resolve');
  });

  it('stops an alias bomb quickly instead of expanding it', () => {
    const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) {
      const name = String.fromCharCode(97 + i);
      const prev = String.fromCharCode(96 + i);
      lines.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const model = new IncrementalYamlParser().parse(lines.join('\n'));
    const value = toJS(model.root, model.aliasesCut);
    assert.ok(model.aliasesCut);
    assert.ok(model.problems.some((p) => p.code === 'alias-expansion'));
    // Cut aliases read as null: the value stays as small as the text.
    assert.equal(JSON.stringify(value).length < 2_000, true);
  });

  it('cuts deep nesting with a clear problem instead of overflowing the stack', () => {
    for (const text of [
      'a: ' + '['.repeat(10_000) + ']'.repeat(10_000),
      'a: ' + '['.repeat(150) + ']'.repeat(150),
      'a:\n' + Array.from({ length: 300 }, (_, i) => `${' '.repeat(i + 1)}b${i}:`).join('\n'),
    ]) {
      const model = new IncrementalYamlParser().parse(text);
      assert.ok(
        model.problems.some((p) => p.code === 'too-deep' || p.code === 'yaml-syntax'),
        'deep nesting is reported',
      );
    }
  });

  it('reads the chosen document of a multi-document file and lists the others', () => {
    const parser = new IncrementalYamlParser((roots) =>
      roots.findIndex((root) => root?.kind === 'map' && root.pairs.some((p) => p.keyText === 'stages')),
    );
    const model = parser.parse('a: 1\n---\nstages:\n  s:\n    cmd: x\n---\nb: 2\n');
    assert.equal(model.documentCount, 3);
    assert.equal(model.chosenDocument, 1);
    assert.equal(model.ignoredDocuments.length, 2);
    assert.deepEqual(toJS(model.root), { stages: { s: { cmd: 'x' } } });
  });
});
