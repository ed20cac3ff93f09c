/**
 * `mlpipe card export --hf` and `mlpipe card import` as a user runs them (issue 16), with Hugging
 * Face's own Python client, huggingface_hub from PyPI, on the other side: it loads the real Hub
 * cards of test/fixtures/hf-cards and mlpipe's exports of their imports, and reads back the same
 * evaluation results; it reads an mlpipe card's export with the run's metric values.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, tempWorkspace } from '../support/files';
import { huggingFaceHubMissing, readWithHuggingFaceHub, type HubEvalResult } from '../support/huggingface-hub';
import { mlpipe } from '../support/mlpipe-cli';

const FIXTURES = join(ROOT, 'test/fixtures/hf-cards');
const CARDS = readdirSync(FIXTURES).filter((name) => !name.includes('.'));

const missing = huggingFaceHubMissing();
if (missing && process.env.CI) throw new Error(`huggingface_hub tests cannot run: ${missing}`);

/** What an EvalResult says, less task_name, dataset_args and verified, which the import reports dropping. */
const evalKey = (result: HubEvalResult) =>
  JSON.stringify([
    result.task_type,
    result.dataset_type,
    result.dataset_name,
    result.dataset_config,
    result.dataset_split,
    result.dataset_revision,
    result.metric_type,
    result.metric_value,
  ]);

describe('mlpipe card import and export on the command line', () => {
  let dir: string;
  let cleanup: () => void;
  before(() => ({ dir, cleanup } = tempWorkspace({})));
  after(() => cleanup());

  it('imports every real card into a card that checks clean, and exports it again', () => {
    for (const name of CARDS) {
      const folder = join(dir, name);
      mkdirSync(folder);
      writeFileSync(join(folder, 'HF-README.md'), readFileSync(join(FIXTURES, name, 'README.md')));
      const imported = mlpipe(['card', 'import', 'HF-README.md'], folder);
      assert.equal(imported.status, 0, imported.stderr);
      assert.match(
        imported.stderr,
        /wrote modelcard\.yaml and hf-model-index\.json; mlpipe check modelcard\.yaml checks it/,
      );
      assert.match(imported.stderr, /to fill in \(marked FILL IN: in the card\):\n {2}model\.version: /);
      const checked = mlpipe(['check', 'modelcard.yaml'], folder);
      assert.equal(checked.status, 0, checked.stdout + checked.stderr);
      assert.match(checked.stdout + checked.stderr, /0 errors/);
      const exported = mlpipe(['card', 'export', '--hf', '--output', 'README.md'], folder);
      assert.equal(exported.status, 0, exported.stderr);
      assert.match(readFileSync(join(folder, 'README.md'), 'utf8'), /^---\n/);
    }
  });

  it(
    'huggingface_hub reads the same evaluation results from each real card and from its round trip',
    { skip: missing },
    () => {
      const paths = CARDS.flatMap((name) => [join(FIXTURES, name, 'README.md'), join(dir, name, 'README.md')]);
      const cards = readWithHuggingFaceHub(paths);
      for (let i = 0; i < CARDS.length; i++) {
        const [original, roundTrip] = [cards[2 * i], cards[2 * i + 1]];
        assert.ok(original.eval_results.length > 0, `${CARDS[i]} has results`);
        assert.deepEqual(
          roundTrip.eval_results.map(evalKey).sort(),
          original.eval_results.map(evalKey).sort(),
          CARDS[i],
        );
        assert.equal(roundTrip.model_name, original.model_name!.toLowerCase(), CARDS[i]);
        for (const key of ['license', 'tags', 'datasets', 'library_name', 'pipeline_tag'])
          assert.deepEqual(roundTrip.data[key], original.data[key], `${CARDS[i]}: ${key}`);
      }
    },
  );

  it('exports an mlpipe card with its run metrics, which huggingface_hub reads back', { skip: missing }, () => {
    const card = readFileSync(join(ROOT, 'sample-workspace/modelcard.yaml'), 'utf8')
      .replace('  tags:', '  language: [en, "no"]\n  datasets: [scikit-learn/churn-prediction]\n  tags:')
      .replace(
        '    - name: auc\n      file: metrics/eval-test.json\n',
        '    - name: auc\n      file: metrics/eval-test.json\n      type: roc_auc\n      dataset: { type: scikit-learn/churn-prediction, name: Churn (test split), split: test }\n',
      );
    const workspace = tempWorkspace({
      'mlpipe.yaml': readFileSync(join(ROOT, 'sample-workspace/mlpipe.yaml'), 'utf8'),
      'params.yaml': readFileSync(join(ROOT, 'sample-workspace/params.yaml'), 'utf8'),
      'modelcard.yaml': card,
      'metrics/eval-test.json': '{"auc": 0.8123, "accuracy": 0.7712}\n',
      'metrics/eval-val.json': '{"auc": 0.7999, "accuracy": 0.75}\n',
    });
    try {
      const exported = mlpipe(['card', 'export', '--hf'], workspace.dir);
      assert.equal(exported.status, 0, exported.stderr);
      assert.match(exported.stderr, /note: metric 'accuracy' names no dataset/);
      writeFileSync(join(workspace.dir, 'README.md'), exported.stdout);
      const [read] = readWithHuggingFaceHub([join(workspace.dir, 'README.md')]);
      assert.equal(read.data.license, 'apache-2.0');
      // PyYAML reads an unquoted `no` as false: the export quotes it.
      assert.deepEqual(read.data.language, ['en', 'no']);
      assert.equal(read.model_name, 'churn-classifier');
      assert.deepEqual(
        read.eval_results.map((result) => [
          result.task_type,
          result.dataset_type,
          result.metric_type,
          result.metric_value,
        ]),
        [
          ['tabular-classification', 'scikit-learn/churn-prediction', 'roc_auc', 0.8123],
          ['tabular-classification', 'metrics/eval-test.json', 'accuracy', 0.7712],
          ['tabular-classification', 'metrics/eval-val.json', 'auc', 0.7999],
        ],
      );
      assert.match(read.text, /## Uses\n\n### Direct Use\n\n- Rank customers for retention offers\./);
    } finally {
      workspace.cleanup();
    }
  });

  it('refuses to replace a file or write through a link, and says what is wrong with a README', () => {
    const { dir: folder, cleanup: done } = tempWorkspace({
      'README.md': readFileSync(join(FIXTURES, 'glue-mrpc-trainer', 'README.md'), 'utf8'),
      'modelcard.yaml': 'keep: me\n',
      'broken.md': '---\nlicense: mit\ntags: [a\n---\n# x\n',
      'outside/target.yaml': 'outside\n',
    });
    try {
      const existing = mlpipe(['card', 'import', 'README.md'], folder);
      assert.equal(existing.status, 2);
      assert.match(existing.stderr, /modelcard\.yaml exists; pass --force to replace it/);
      assert.equal(readFileSync(join(folder, 'modelcard.yaml'), 'utf8'), 'keep: me\n');
      assert.equal(existsSync(join(folder, 'hf-model-index.json')), false, 'nothing written before the refusal');

      // A link at the output is replaced, not written through; a folder linked out of the workspace is refused.
      mkdirSync(join(folder, 'linked'));
      symlinkSync(join(folder, 'outside/target.yaml'), join(folder, 'linked/modelcard.yaml'));
      const replaced = mlpipe(['card', 'import', 'README.md', '--output', 'linked/modelcard.yaml', '--force'], folder);
      assert.equal(replaced.status, 0, replaced.stderr);
      assert.equal(readFileSync(join(folder, 'outside/target.yaml'), 'utf8'), 'outside\n');
      assert.equal(lstatSync(join(folder, 'linked/modelcard.yaml')).isSymbolicLink(), false);
      const elsewhere = tempWorkspace({});
      try {
        symlinkSync(elsewhere.dir, join(folder, 'away'));
        const away = mlpipe(['card', 'import', 'README.md', '--output', 'away/modelcard.yaml'], folder);
        assert.notEqual(away.status, 0);
        assert.match(away.stderr, /^mlpipe: .*away.*link/);
        assert.doesNotMatch(away.stderr, /\n\s+at /, 'no stack trace');
        assert.deepEqual(readdirSync(elsewhere.dir), []);
      } finally {
        elsewhere.cleanup();
      }

      const broken = mlpipe(['card', 'import', 'broken.md', '--output', 'b/modelcard.yaml'], folder);
      assert.equal(broken.status, 1);
      assert.match(broken.stderr, /^mlpipe: broken\.md:\d+:\d+: front matter: .+\n$/);

      const forced = mlpipe(['card', 'import', 'README.md', '--force', '--format', 'json'], folder);
      assert.equal(forced.status, 0, forced.stderr);
      const report = JSON.parse(forced.stdout) as { card: string; fill: { field: string }[] };
      assert.equal(report.card, 'modelcard.yaml');
      assert.ok(report.fill.some((item) => item.field === 'model.version'));

      for (const [args, message] of [
        [['card'], /card needs export or import/],
        [['card', 'export'], /card export needs --hf/],
        [['card', 'import'], /card import needs the README\.md/],
        [['card', 'import', 'README.md', '--output', 'card.yaml'], /--output must be named modelcard\.yaml/],
        [['card', 'import', 'absent.md'], /absent\.md does not exist/],
      ] as const) {
        const result = mlpipe([...args], folder);
        assert.equal(result.status, 2, args.join(' '));
        assert.match(result.stderr, message);
      }
    } finally {
      done();
    }
  });
});
