/**
 * Hugging Face model cards (issue 16): licenses both ways, the front matter reader's limits and
 * errors, and real Hub cards (test/fixtures/hf-cards, with their licences) imported and exported
 * again with every model-index value kept. huggingface_hub itself reads the exports in
 * test/cli/card-cli.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse } from 'yaml';
import { exportCardFile } from '../../core/src/cli/card';
import { CardFormatError, MAX_FRONT_MATTER_NODES, readFrontMatter } from '../../core/src/modelcard/hf-frontmatter';
import { IMPORTED_METRICS_FILE, importHuggingFace } from '../../core/src/modelcard/hf-import';
import { fromHubLicense, toHubLicense } from '../../core/src/modelcard/hf-license';
import { nodeFileHost } from '../../core/src/workspace/file-host';
import { DEFAULT_OPTIONS, Workspace } from '../../core/src/workspace/workspace';
import { ROOT, tempWorkspace } from '../support/files';

const FIXTURES = join(ROOT, 'test/fixtures/hf-cards');
const CARDS = readdirSync(FIXTURES).filter((name) => !name.includes('.'));

/** A model-index as comparable tuples: what the Hub's EvalResult holds, less what the card reports dropping. */
export function indexTuples(index: unknown): string[] {
  const tuples: string[] = [];
  for (const result of (index as { results?: unknown[] }[])[0]?.results ?? []) {
    const { task, dataset, metrics } = result as {
      task: { type: string };
      dataset: Record<string, unknown>;
      metrics: Record<string, unknown>[] | Record<string, unknown>;
    };
    for (const metric of Array.isArray(metrics) ? metrics : [metrics])
      tuples.push(
        JSON.stringify([
          task.type,
          dataset.type,
          dataset.name,
          dataset.config ?? null,
          dataset.split ?? null,
          dataset.revision ?? null,
          metric.type,
          metric.value,
        ]),
      );
  }
  return tuples.sort();
}

function errorOf(action: () => unknown): CardFormatError {
  try {
    action();
  } catch (error) {
    assert.ok(error instanceof CardFormatError, `expected a CardFormatError, got ${String(error)}`);
    return error;
  }
  assert.fail('no error');
}

function checkErrors(path: string): string[] {
  const analysis = new Workspace(nodeFileHost, { ...DEFAULT_OPTIONS, existenceTtlMs: Infinity }).analyze(path);
  return analysis.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.code}: ${d.message}`);
}

describe('licenses between model cards and the Hub', () => {
  it('maps SPDX to Hub ids, and what the Hub has no id for to other with a name and link', () => {
    assert.deepEqual(toHubLicense('Apache-2.0'), { license: 'apache-2.0' });
    assert.deepEqual(toHubLicense('MIT'), { license: 'mit' });
    assert.deepEqual(toHubLicense('CC-BY-NC-4.0'), { license: 'cc-by-nc-4.0' });
    assert.deepEqual(toHubLicense('GPL-3.0-only'), { license: 'gpl-3.0' });
    assert.deepEqual(toHubLicense('ODbL-1.0'), { license: 'odbl' });
    assert.deepEqual(toHubLicense('llama3'), { license: 'llama3' });
    assert.deepEqual(toHubLicense('other'), { license: 'other' });
    assert.deepEqual(toHubLicense('BSD-4-Clause'), {
      license: 'other',
      license_name: 'bsd-4-clause',
      license_link: 'https://spdx.org/licenses/BSD-4-Clause.html',
    });
    const expression = toHubLicense('MIT OR Apache-2.0');
    assert.equal(expression.license, 'other');
    assert.equal(expression.license_name, 'mit-or-apache-2.0');
    assert.match(expression.note!, /no id for the expression/);
    const own = toHubLicense('LicenseRef-acme-model');
    assert.equal(own.license_name, 'acme-model');
    assert.match(own.note!, /license_link/);
  });

  it('maps Hub licenses to SPDX, saying where the meaning may differ', () => {
    assert.equal(fromHubLicense('apache-2.0', undefined, undefined).license, 'Apache-2.0');
    assert.equal(fromHubLicense('cc-by-sa-4.0', undefined, undefined).license, 'CC-BY-SA-4.0');
    assert.equal(fromHubLicense('lgpl-lr', undefined, undefined).license, 'LGPLLR');
    assert.equal(fromHubLicense('openrail', undefined, undefined).license, 'openrail');
    assert.equal(fromHubLicense('unknown', undefined, undefined).license, 'unknown');
    const gpl = fromHubLicense('gpl-3.0', undefined, undefined);
    assert.equal(gpl.license, 'GPL-3.0-only');
    assert.match(gpl.note!, /GPL-3.0-or-later if the model allows later versions/);
    const other = fromHubLicense('other', 'acme-research', 'LICENSE.md');
    assert.equal(other.license, 'LicenseRef-acme-research');
    assert.equal(other.link, 'LICENSE.md');
    // A Hub keyword mlpipe's license check does not know is named as a license of its own, never dropped.
    assert.equal(fromHubLicense('apple-amlr', undefined, undefined).license, 'LicenseRef-apple-amlr');
    const two = fromHubLicense(['apache-2.0', 'bsd-3-clause'], undefined, undefined);
    assert.equal(two.license, 'Apache-2.0 AND BSD-3-Clause');
    assert.match(two.note!, /use OR if any one of them applies/);
    assert.equal(fromHubLicense(undefined, undefined, undefined).license, undefined);
  });
});

describe('front matter', () => {
  it('reads the Hub layout: --- lines, CRLF, a BOM, no front matter at all', () => {
    const crlf = readFrontMatter('\ufeff---\r\nlicense: mit\r\ntags:\r\n- a\r\n---\r\n# Title\r\n', 'README.md');
    assert.deepEqual(crlf.data, { license: 'mit', tags: ['a'] });
    assert.equal(crlf.bodyLine, 6);
    assert.match(crlf.body, /^# Title/);
    const none = readFrontMatter('# Just Markdown\n', 'README.md');
    assert.equal(none.present, false);
    assert.deepEqual(none.data, {});
  });

  it('names the file, line and column of malformed YAML, and what to do', () => {
    const bad = errorOf(() => readFrontMatter('---\nlicense: mit\ntags: [a, b\n---\nbody\n', 'cards/README.md'));
    assert.match(bad.message, /^cards\/README\.md:\d+:\d+: front matter: .+ Fix the YAML between the '---' lines\.$/);
    const duplicate = errorOf(() => readFrontMatter('---\nlicense: mit\nlicense: apache-2.0\n---\n', 'README.md'));
    assert.match(duplicate.message, /^README\.md:3:1: front matter: .*license/);
    const open = errorOf(() => readFrontMatter('---\nlicense: mit\n# no end\n', 'README.md'));
    assert.match(open.message, /README\.md:1: .*no closing '---' line/);
    const list = errorOf(() => readFrontMatter('---\n- a\n- b\n---\n', 'README.md'));
    assert.match(list.message, /must be a mapping .* not a list/);
    // PyYAML reads a quoted value continued at column 0; YAML does not, and the message says how to mend it.
    const quoted = errorOf(() =>
      readFrontMatter("---\nwidget:\n- text: 'first line\nsecond line at column 0'\n---\n", 'README.md'),
    );
    assert.match(
      quoted.message,
      /^README\.md:3:9: front matter: Missing closing 'quote\. If the quoted text goes on over several lines, indent those lines/,
    );
    const empty = readFrontMatter('---\n---\n# Title\n', 'README.md');
    assert.deepEqual([empty.present, empty.data, empty.bodyLine], [true, {}, 3]);
  });

  it('stops at its limits: depth, node count, alias expansion, size', () => {
    const deep = errorOf(() => readFrontMatter(`---\nx: ${'['.repeat(150)}${']'.repeat(150)}\n---\n`, 'README.md'));
    assert.match(deep.message, /README\.md:2:\d+: front matter: .*(deep|nest)/i);
    const many = errorOf(() =>
      readFrontMatter(
        `---\ntags: [${Array.from({ length: MAX_FRONT_MATTER_NODES + 10 }, () => 'a').join(',')}]\n---\n`,
        'README.md',
      ),
    );
    assert.match(many.message, /more than 1000000 characters|more than 100000/);
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++)
      bomb.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(', ')}]`,
      );
    const alias = errorOf(() => readFrontMatter(`---\n${bomb.join('\n')}\n---\n`, 'README.md'));
    assert.match(alias.message, /alias/);
    const huge = errorOf(() => readFrontMatter(`---\nx: "${'a'.repeat(1024 * 1024 + 10)}"\n---\n`, 'README.md'));
    assert.match(huge.message, /README\.md:2: the front matter is \d+ characters, more than 1048576/);
  });
});

describe('hostile READMEs', () => {
  // These inputs took from 10 s to minutes when the reader backtracked; now well under a second.
  // A regression hangs into the test's time limit (a generous bound, not a speed figure).
  it(
    'are read in linear time: long runs of line breaks, spaces, open comments and contacts',
    { timeout: 120_000 },
    () => {
      const big = 2_000_000;
      const cases: [string, string][] = [
        ['line breaks after an opening ---', `---\n${'\n'.repeat(big)}x`],
        ['line breaks inside front matter', `---\na: 1\n${'\r\n'.repeat(big / 2)}---x\n`],
        ['a heading of spaces', `# ${' '.repeat(big)}x\n`],
        ['open comments', `# T\n\n## Uses\n\n${'<!--'.repeat(big / 4)}\n`],
        ['a contact of spaces', `# T\n\n## Model Card Contact\n\n- a${' '.repeat(big)}b\n`],
        ['many unknown sections', `# T\n${'## x\ny\n'.repeat(big / 8)}`],
      ];
      for (const [what, text] of cases) {
        try {
          const imported = importHuggingFace(text, 'README.md');
          assert.ok(imported.report.dropped.length <= 202, what);
        } catch (error) {
          assert.ok(error instanceof CardFormatError, `${what}: ${String(error)}`);
        }
      }
    },
  );
});

describe('mlpipe card import of real Hub cards', () => {
  const { dir, cleanup } = tempWorkspace({});
  after(cleanup);

  for (const name of CARDS) {
    it(`${name}: a card mlpipe check accepts, the model-index values in ${IMPORTED_METRICS_FILE}, exported back unchanged`, () => {
      const readme = readFileSync(join(FIXTURES, name, 'README.md'), 'utf8');
      const original = readFrontMatter(readme, 'README.md').data;
      const imported = importHuggingFace(readme, `${name}/README.md`);
      const folder = join(dir, name);
      mkdirSync(folder, { recursive: true });
      writeFileSync(join(folder, 'modelcard.yaml'), imported.card);
      if (imported.metrics) writeFileSync(join(folder, IMPORTED_METRICS_FILE), imported.metrics);
      assert.deepEqual(checkErrors(join(folder, 'modelcard.yaml')), []);
      assert.ok(imported.report.fill.some((item) => item.field === 'model.version'));
      assert.match(imported.card, /version: 0\.0\.0 # FILL IN: the Hub card has no version/);

      const exported = exportCardFile(join(folder, 'modelcard.yaml'));
      const back = readFrontMatter(exported.readme, 'README.md').data;
      assert.deepEqual(indexTuples(back['model-index']), indexTuples(original['model-index']));
      assert.equal(back.license, String(original.license).toLowerCase());
      for (const key of ['tags', 'datasets', 'library_name', 'pipeline_tag'])
        assert.deepEqual(back[key], original[key], key);
      const language = original.language;
      assert.deepEqual(back.language, language === undefined ? undefined : [language].flat());
    });
  }

  it('keeps what it cannot place in the report: keys, sections with their lines, dropped model-index fields', () => {
    const read = (name: string) =>
      importHuggingFace(readFileSync(join(FIXTURES, name, 'README.md'), 'utf8'), `${name}/README.md`);
    const nli = read('mdeberta-xnli-multilingual');
    assert.equal(nli.data.model?.name, 'deberta-v3-base-xnli-multilingual-nli-2mil7');
    assert.equal(nli.data.model?.license, 'MIT');
    assert.equal(nli.data.model?.language?.length, 27);
    assert.ok(nli.report.dropped.some((item) => item.what === "front matter 'widget'"));
    assert.ok(nli.report.dropped.some((item) => item.what === "section '## Citation'" && item.line === 233));
    // Values written with a decimal comma are text in YAML: kept as written, and said so.
    assert.equal(JSON.parse(nli.metrics!)['multi_nli/validation_matched:accuracy'], '0,857');
    assert.ok(nli.report.notes.some((note) => /'0,857' is text \(a decimal comma\?\)/.test(note)));
    assert.match(nli.data.considerations?.limitations?.[0] ?? '', /machine translation/);

    const squad = read('squad-questionanswering-v2');
    assert.ok(squad.report.dropped.some((item) => /verified and verifyToken/.test(item.what)));
    assert.deepEqual(JSON.parse(squad.metrics!), {
      'squad/plain_text/validation:exact_match': 79.5998,
      'squad/plain_text/validation:f1': 86.9965,
    });

    const trainer = read('glue-mrpc-trainer');
    assert.ok(trainer.report.dropped.some((item) => item.what === 'model-index dataset.args'));
    // The Trainer's "More information needed" is no description of uses.
    assert.equal(trainer.data.intended_use, undefined);
    assert.match(trainer.data.model?.description ?? '', /fine-tuned version of \[distilbert-base-uncased\]/);

    const nemo = read('stt-en-conformer-ctc-large');
    assert.equal(nemo.data.model?.library, 'nemo');
    assert.equal(nemo.data.evaluation?.metrics?.length, 8);
    assert.ok(nemo.report.dropped.some((item) => item.what === "section '## Deployment with NVIDIA Riva'"));
  });

  it('reports values JSON cannot hold (.nan) instead of writing them as null', () => {
    const imported = importHuggingFace(
      '---\nmodel-index:\n- name: m\n  results:\n  - task: {type: summarization}\n    dataset: {type: xsum, name: XSum}\n    metrics:\n    - {type: loss, value: .nan}\n    - {type: rouge1, value: 36.5}\n---\n',
      'README.md',
    );
    assert.deepEqual(JSON.parse(imported.metrics!), { 'xsum:rouge1': 36.5 });
    assert.ok(imported.report.dropped.some((item) => /loss = NaN/.test(item.what) && /cannot hold NaN/.test(item.why)));
  });

  it('invents nothing: a README without front matter gets placeholders marked FILL IN', () => {
    const imported = importHuggingFace('# My Model\n\nPredicts things.\n', 'README.md');
    assert.equal(imported.data.model?.name, 'my-model');
    assert.equal(imported.data.model?.license, 'unknown');
    assert.deepEqual(
      imported.report.fill.map((item) => item.field),
      ['model.license', 'model.version'],
    );
    assert.match(imported.card, /license: unknown # FILL IN:/);
    assert.equal(imported.metrics, undefined);
  });
});

describe('mlpipe card export of an mlpipe card', () => {
  it('writes the run metrics as model-index and the sections in the Hub order, and imports back to the same card', () => {
    const card = readFileSync(join(ROOT, 'sample-workspace/modelcard.yaml'), 'utf8');
    const { dir, cleanup } = tempWorkspace({
      'mlpipe.yaml': readFileSync(join(ROOT, 'sample-workspace/mlpipe.yaml'), 'utf8'),
      'params.yaml': readFileSync(join(ROOT, 'sample-workspace/params.yaml'), 'utf8'),
      'modelcard.yaml': card,
      'metrics/eval-test.json': '{"auc": 0.8123, "accuracy": 0.7712}\n',
      'metrics/eval-val.json': '{"auc": 0.7999, "accuracy": 0.75}\n',
    });
    try {
      const exported = exportCardFile(join(dir, 'modelcard.yaml'));
      const front = readFrontMatter(exported.readme, 'README.md');
      assert.equal(front.data.license, 'apache-2.0');
      assert.equal(front.data.pipeline_tag, 'tabular-classification');
      const index = front.data['model-index'] as { name: string; results: { metrics: { value: unknown }[] }[] }[];
      assert.equal(index[0].name, 'churn-classifier');
      assert.deepEqual(
        index[0].results.flatMap((result) => result.metrics.map((metric) => metric.value)),
        [0.8123, 0.7712, 0.7999],
      );
      // Sections in the order of the Hub's template.
      const headings = exported.readme.split('\n').filter((line) => line.startsWith('## '));
      assert.deepEqual(headings, [
        '## Model Details',
        '## Uses',
        '## Bias, Risks, and Limitations',
        '## Training Details',
        '## Evaluation',
        '## Model Card Contact',
      ]);
      assert.ok(exported.notes.some((note) => /names no dataset/.test(note)));

      const back = importHuggingFace(exported.readme, 'README.md');
      const original = parse(card) as {
        model: Record<string, unknown>;
        intended_use: unknown;
        considerations: unknown;
      };
      for (const key of ['name', 'version', 'license', 'owners', 'description', 'tags', 'task', 'library'])
        assert.deepEqual(back.data.model?.[key as 'name'], original.model[key], key);
      assert.deepEqual(back.data.intended_use, original.intended_use);
      assert.deepEqual(back.data.considerations, original.considerations);
    } finally {
      cleanup();
    }
  });

  it('refuses a card with errors, naming its line, and a metrics file that leads outside through a link', () => {
    const { dir, cleanup } = tempWorkspace({
      'modelcard.yaml': 'model:\n  name: Bad Name\n  version: 1.0.0\n  license: MIT\n',
      'good/modelcard.yaml':
        'model:\n  name: m\n  version: 1.0.0\n  license: MIT\n  task: tabular-classification\nevaluation:\n  metrics:\n    - name: auc\n      file: metrics.json\n',
      'outside/metrics.json': '{"auc": 0.9}\n',
    });
    try {
      const bad = errorOf(() => exportCardFile(join(dir, 'modelcard.yaml')));
      assert.match(bad.message, /modelcard\.yaml:2:9: .*lowercase/);
      symlinkSync(join(dir, 'outside/metrics.json'), join(dir, 'good/metrics.json'));
      const exported = exportCardFile(join(dir, 'good/modelcard.yaml'));
      assert.equal(readFrontMatter(exported.readme, 'README.md').data['model-index'], undefined);
      assert.ok(
        exported.notes.some((note) => /metric 'auc' is not in model-index: .*link/.test(note)),
        exported.notes.join('\n'),
      );
    } finally {
      cleanup();
    }
  });
});
