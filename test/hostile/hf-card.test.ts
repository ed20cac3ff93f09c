/**
 * `mlpipe card export --hf` and `mlpipe card import` with hostile input: a README.md or model card
 * written by someone else must not make mlpipe read outside the folder, crash, leave one file of
 * two written, write front matter the Hub's parser (PyYAML, in huggingface_hub) refuses, let a
 * one-line value start Markdown lines of its own, or publish a credential written into a URL.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { tempWorkspace } from '../support/files';
import { huggingFaceHubMissing, readWithHuggingFaceHub } from '../support/huggingface-hub';
import { mlpipe } from '../support/mlpipe-cli';

const missing = huggingFaceHubMissing();
if (missing && process.env.CI) throw new Error(`huggingface_hub tests cannot run: ${missing}`);

const HUB_CARD =
  '---\nlicense: mit\nmodel-index:\n- name: x\n  results:\n  - task: {type: t}\n    dataset: {type: d, name: d}\n    metrics: [{type: acc, value: 0.5}]\n---\n# X\n';

const PIPELINE = 'version: 1\nstages:\n  s:\n    image: alpine\n    cmd: echo\n    metrics: [metrics.json]\n';

describe('card import and export with hostile files', () => {
  it('does not read a README.md that is a link leading out of the folder', () => {
    const outside = tempWorkspace({ 'secret.md': '# Secret\n\nthe private key\n' });
    const { dir, cleanup } = tempWorkspace({});
    try {
      symlinkSync(join(outside.dir, 'secret.md'), join(dir, 'README.md'));
      const result = mlpipe(['card', 'import', 'README.md'], dir);
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, /^mlpipe: README\.md .*link.*\n$/);
      assert.equal(existsSync(join(dir, 'modelcard.yaml')), false);
    } finally {
      cleanup();
      outside.cleanup();
    }
  });

  it('refuses a folder where a file is to be written, before writing either file', () => {
    const { dir, cleanup } = tempWorkspace({ 'README.md': HUB_CARD, 'modelcard.yaml/keep': 'x\n' });
    try {
      const result = mlpipe(['card', 'import', 'README.md', '--force'], dir);
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, /^mlpipe: modelcard\.yaml is a folder.*\n$/);
      assert.equal(existsSync(join(dir, 'hf-model-index.json')), false, 'no half of the import written');
      writeFileSync(join(dir, 'c.modelcard.yaml'), 'model:\n  name: m\n  version: 1.0.0\n  license: MIT\n');
      mkdirSync(join(dir, 'out'));
      const exported = mlpipe(['card', 'export', '--hf', 'c.modelcard.yaml', '--output', 'out', '--force'], dir);
      assert.equal(exported.status, 2, exported.stderr);
      assert.match(exported.stderr, /^mlpipe: out is a folder.*\n$/);
    } finally {
      cleanup();
    }
  });

  it('shows the Hub card text in the report without control characters', () => {
    const { dir, cleanup } = tempWorkspace({
      'README.md': '---\nlicense: [mit, "x\\e]0;owned\\a"]\nmodel_name: "A\\e[2J\\rB"\n---\n',
    });
    try {
      const result = mlpipe(['card', 'import', 'README.md'], dir);
      assert.equal(result.status, 0, result.stderr);
      assert.doesNotMatch(result.stderr, /[\u001b\u0007\r]/);
      assert.match(result.stderr, /\\u001b/);
    } finally {
      cleanup();
    }
  });

  it('reports Hub values it cannot carry instead of writing [object Object] or dropping them silently', () => {
    const { dir, cleanup } = tempWorkspace({
      'README.md':
        '---\ntags: [a, {b: c}]\nlanguage: [en, [fr]]\npipeline_tag: {a: b}\nmodel-index:\n- name: x\n  results:\n  - task: {type: t}\n    dataset: {type: d, name: d, config: 2019}\n    metrics: [{type: acc, value: 0.5}]\n---\n',
    });
    try {
      const result = mlpipe(['card', 'import', 'README.md', '--format', 'json'], dir);
      assert.equal(result.status, 0, result.stderr);
      const card = readFileSync(join(dir, 'modelcard.yaml'), 'utf8');
      assert.doesNotMatch(card, /object Object/);
      const report = JSON.parse(result.stdout) as { dropped: { what: string }[] };
      const dropped = report.dropped.map((item) => item.what).join('\n');
      assert.match(dropped, /tags/);
      assert.match(dropped, /language/);
      assert.match(dropped, /pipeline_tag/);
      assert.match(dropped, /dataset\.config/);
    } finally {
      cleanup();
    }
  });

  it('keeps model-index values as the Hub reads them (PyYAML, YAML 1.1), through import and export', () => {
    const values = ['yes', '1_000', '012', '1e5', '0o12', '190:20:30', '"1_000"', '0.5', '0x1F', '-1_0.2_5', 'Off'];
    const { dir, cleanup } = tempWorkspace({
      'HF.md': `---\nmodel-index:\n- name: x\n  results:\n  - task: {type: t}\n    dataset: {type: d, name: d}\n    metrics:\n${values.map((value, i) => `    - {type: m${i}, value: ${value}}\n`).join('')}---\n`,
    });
    try {
      const imported = mlpipe(['card', 'import', 'HF.md'], dir);
      assert.equal(imported.status, 0, imported.stderr);
      assert.deepEqual(Object.values(JSON.parse(readFileSync(join(dir, 'hf-model-index.json'), 'utf8')) as object), [
        true,
        1000,
        10,
        '1e5',
        '0o12',
        685230,
        '1_000',
        0.5,
        31,
        -10.25,
        false,
      ]);
      assert.match(imported.stderr, /'012' .*YAML 1\.1/);
      const exported = mlpipe(['card', 'export', '--hf', '--output', 'README.md'], dir);
      assert.equal(exported.status, 0, exported.stderr);
      if (!missing) {
        const [original, roundTrip] = readWithHuggingFaceHub([join(dir, 'HF.md'), join(dir, 'README.md')]);
        assert.deepEqual(
          roundTrip.eval_results.map((item) => item.metric_value),
          original.eval_results.map((item) => item.metric_value),
        );
      }
    } finally {
      cleanup();
    }
  });

  it('writes metric values in exponent form as numbers PyYAML reads (1.0e-7, not 1e-7, which is text there)', () => {
    const { dir, cleanup } = tempWorkspace({
      'mlpipe.yaml': PIPELINE,
      'metrics.json': '{"loss": 1e-7, "big": 1e21, "small": -5e-324, "plain": 0.25}\n',
      'modelcard.yaml': `pipeline: mlpipe.yaml\nmodel:\n  name: m\n  version: 1.0.0\n  license: MIT\n  task: t\nevaluation:\n  metrics:\n${['loss', 'big', 'small', 'plain'].map((key) => `    - {name: ${key}, file: metrics.json, key: ${key}, dataset: {type: d, name: d}}\n`).join('')}`,
    });
    try {
      const result = mlpipe(['card', 'export', '--hf', '--output', 'README.md'], dir);
      assert.equal(result.status, 0, result.stderr);
      const readme = readFileSync(join(dir, 'README.md'), 'utf8');
      for (const value of ['1.0e-7', '1.0e+21', '-5.0e-324', '0.25'])
        assert.match(readme, new RegExp(`value: ${value.replace(/[.+]/g, '\\$&')}\n`));
      if (!missing) {
        const [read] = readWithHuggingFaceHub([join(dir, 'README.md')]);
        assert.deepEqual(
          read.eval_results.map((item) => item.metric_value),
          [1e-7, 1e21, -5e-324, 0.25],
        );
      }
    } finally {
      cleanup();
    }
  });

  it('writes an HTML comment opener in a value as text, which hides nothing and imports back', () => {
    const { dir, cleanup } = tempWorkspace({
      'modelcard.yaml':
        'model:\n  name: m\n  version: 1.2.3\n  license: MIT\n  owners: ["Alice <!--"]\nintended_use:\n  primary_uses: ["a <!-- b"]\n',
    });
    try {
      const result = mlpipe(['card', 'export', '--hf', '--output', 'README.md'], dir);
      assert.equal(result.status, 0, result.stderr);
      assert.doesNotMatch(readFileSync(join(dir, 'README.md'), 'utf8'), /<!--/);
      mkdirSync(join(dir, 'back'));
      const back = mlpipe(['card', 'import', '../README.md'], join(dir, 'back'));
      assert.equal(back.status, 0, back.stderr);
      const card = parse(readFileSync(join(dir, 'back/modelcard.yaml'), 'utf8')) as {
        model: { version: string; owners: string[] };
        intended_use: { primary_uses: string[] };
      };
      assert.equal(card.model.version, '1.2.3');
      assert.deepEqual(card.model.owners, ['Alice <!--']);
      assert.deepEqual(card.intended_use.primary_uses, ['a <!-- b']);
    } finally {
      cleanup();
    }
  });

  it('gives back owners whose names hold a comma', () => {
    const { dir, cleanup } = tempWorkspace({
      'modelcard.yaml':
        'model:\n  name: m\n  version: 1.0.0\n  license: MIT\n  owners: ["Hugging Face, Inc.", {name: "Smith, John", contact: j@example.com}]\n',
    });
    try {
      assert.equal(mlpipe(['card', 'export', '--hf', '--output', 'README.md'], dir).status, 0);
      mkdirSync(join(dir, 'back'));
      const back = mlpipe(['card', 'import', '../README.md'], join(dir, 'back'));
      assert.equal(back.status, 0, back.stderr);
      const card = parse(readFileSync(join(dir, 'back/modelcard.yaml'), 'utf8')) as { model: { owners: unknown[] } };
      assert.deepEqual(card.model.owners, ['Hugging Face, Inc.', { name: 'Smith, John', contact: 'j@example.com' }]);
    } finally {
      cleanup();
    }
  });

  it('writes front matter the Hub reads and one-line values on one line, with no credentials', () => {
    const { dir, cleanup } = tempWorkspace({
      'mlpipe.yaml': PIPELINE,
      'metrics.json': '{"acc": 0.91, "n": "1_000"}\n',
      'modelcard.yaml': [
        'pipeline: mlpipe.yaml',
        'model:',
        '  name: m',
        '  version: 1.0.0',
        '  license: MIT',
        '  task: "text-classification\\n# Injected"',
        '  owners:',
        '    - "Alice\\r## Owned"',
        '    - name: Bob',
        '      contact: "https://bob:ghp_secret1@example.com/x?token=secret2&page=1"',
        '  tags: ["<<", "=", "1_000", "0x1F", "012", "190:20:30", "Yes", "~", "2001-01-01", ".5", "+1"]',
        '  references: ["https://user:secret3@example.com/repo.git"]',
        'considerations:',
        '  ethical_risks:',
        '    - risk: "r\\n---\\nlicense: evil"',
        '      mitigation: "m\\u2028# x"',
        'evaluation:',
        '  metrics:',
        '    - name: "acc\\n## Owned"',
        '      file: metrics.json',
        '      key: acc',
        '      task: t',
        '      dataset: { type: d, name: "n\\rx" }',
        '    - name: n',
        '      file: metrics.json',
        '      key: n',
        '      task: t',
        '      dataset: { type: d, name: d }',
        '',
      ].join('\n'),
    });
    try {
      const result = mlpipe(['card', 'export', '--hf', '--output', 'README.md'], dir);
      assert.equal(result.status, 0, result.stderr);
      const readme = readFileSync(join(dir, 'README.md'), 'utf8');
      assert.doesNotMatch(readme, /secret[123]/);
      assert.match(result.stderr, /note: .*credential/);
      assert.match(
        readme,
        /- \*\*Developed by:\*\* .*, Bob \(https:\/\/\*\*\*@example\.com\/x\?token=\*\*\*&page=1\)\n/,
      );
      const body = readme.slice(readme.indexOf('\n---\n') + 5);
      // Only the headings the export writes; no line of a value's own.
      for (const line of body.split(/\r\n|\r|\n/))
        assert.ok(!/^\s{0,3}(#|---|license:)/.test(line) || /^#{1,3} [A-Z][A-Za-z ,()/-]+$|^# m$/.test(line), line);
      assert.doesNotMatch(body, /[\r\u2028]/);
      const front = parse(readme.slice(4, readme.indexOf('\n---\n')), { version: '1.1' }) as { tags: unknown[] };
      assert.deepEqual(front.tags, [
        '<<',
        '=',
        '1_000',
        '0x1F',
        '012',
        '190:20:30',
        'Yes',
        '~',
        '2001-01-01',
        '.5',
        '+1',
      ]);
      if (!missing) {
        const [read] = readWithHuggingFaceHub([join(dir, 'README.md')]);
        assert.deepEqual(read.data.tags, front.tags);
        assert.deepEqual(
          read.eval_results.map((item) => item.metric_value),
          [0.91, '1_000'],
        );
      }
    } finally {
      cleanup();
    }
  });
});
