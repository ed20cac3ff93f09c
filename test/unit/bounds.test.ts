import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_PARAM_ENTRIES, readParamsFile } from '../../core/src/params/params';
import { MAX_VARIANTS, buildPipeline } from '../../core/src/pipeline/model';
import { IncrementalYamlParser } from '../../core/src/yaml/build';
import { QUOTE_LIMIT, boundMessage, quoteValue } from '../../core/src/yaml/quote';

describe('bounded quoting', () => {
  it('cuts long strings with their length and escapes controls and bidi overrides', () => {
    assert.equal(quoteValue('short'), 'short');
    const long = quoteValue('y'.repeat(10_000));
    assert.ok(long.startsWith('y'.repeat(QUOTE_LIMIT)) && long.endsWith('… (10,000 characters)'), long);
    assert.equal(quoteValue('a\nb\u202ec\u0000'), 'a\\nb\\u202ec\\u0000');
  });

  it('previews a large mapping without writing all of it', () => {
    const big: Record<string, number> = {};
    for (let i = 0; i < 100_000; i++) big[`k${i}`] = i;
    const text = quoteValue(big);
    assert.ok(text.length <= QUOTE_LIMIT + 1, text);
    assert.ok(text.startsWith('{"k0":0,"k1":1'), text);
    const loop: Record<string, unknown> = { a: 1 };
    loop.self = loop;
    assert.doesNotThrow(() => quoteValue(loop));
  });

  it('bounds any message: controls escaped, long words cut, plain messages untouched', () => {
    const plain = "Unknown stage 'prepar' in needs of stage 'train'; did you mean 'prepare'?";
    assert.equal(boundMessage(plain), plain);
    assert.equal(boundMessage('x\ny'), 'x\\ny');
    assert.ok(boundMessage(`Unknown key '${'k'.repeat(5000)}'`).length < 200);
  });
});

describe('bounded params and matrices', () => {
  it('follows no alias of a params file whose aliases were cut, and indexes at most MAX_PARAM_ENTRIES', () => {
    const lines = ['a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]'];
    for (let i = 1; i < 9; i++)
      lines.push(
        `l${i}: &l${i} [${Array(10)
          .fill(i === 1 ? '*a' : `*l${i - 1}`)
          .join(', ')}]`,
      );
    const bomb = readParamsFile('/w/params.yaml', `${lines.join('\n')}\n`);
    assert.ok(bomb.yaml?.aliasesCut);
    assert.ok(bomb.entries.size < 200, `${bomb.entries.size} entries`);
    const many = readParamsFile(
      '/w/params.yaml',
      Array.from({ length: MAX_PARAM_ENTRIES + 5 }, (_, i) => `k${i}: ${i}`).join('\n'),
    );
    assert.equal(many.entries.size, MAX_PARAM_ENTRIES);
    assert.deepEqual(
      many.problems.map((problem) => problem.code),
      ['too-many-params'],
    );
  });

  it('keeps aliases and merge keys of a params file under the limit', () => {
    const file = readParamsFile(
      '/w/params.yaml',
      'base: &b { lr: 0.1, epochs: 3 }\ntrain:\n  <<: *b\n  lr: 0.2\ncopy: *b\n',
    );
    assert.equal(file.entries.get('train.lr')?.value, 0.2);
    assert.equal(file.entries.get('train.epochs')?.value, 3);
    assert.equal(file.entries.get('copy.lr')?.value, 0.1);
  });

  it('shares MAX_VARIANTS among all matrices, keeping one variant of each stage past it', () => {
    const values = Array.from({ length: 100 }, (_, i) => i).join(', ');
    const text = `stages:\n${[0, 1, 2].map((s) => `  s${s}:\n    matrix: { a: [${values}], b: [${values}] }\n    cmd: x\n`).join('')}  plain:\n    cmd: y\n  small:\n    matrix: { c: [1, 2] }\n    cmd: z\n`;
    const model = buildPipeline(new IncrementalYamlParser().parse(text).root, text, null);
    assert.deepEqual(
      model.stages.map((stage) => [stage.matrixSize, stage.variants.length]),
      [
        [10_000, MAX_VARIANTS],
        [10_000, 1],
        [10_000, 1],
        [1, 1],
        [2, 1],
      ],
    );
    assert.equal(model.stages[0].variants[101].name, 's0@1-1');
  });
});
