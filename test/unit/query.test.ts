import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileFilter, parseSort, QueryError, sortRuns, type Queryable } from '../../core/src/store/query';

function run(
  id: string,
  metrics: Record<string, unknown>,
  params: Record<string, unknown> = {},
  tags: Record<string, unknown> = {},
  attributes: Record<string, unknown> = {},
): Queryable {
  return { attributes: { id, status: 'succeeded', ...attributes }, metrics, params, tags };
}

const runs = [
  run(
    'a',
    { auc: 0.91, 'eval-test.auc': 0.88, loss: 0.3 },
    { 'train.lr': 0.001, optimizer: 'adam' },
    { team: 'vision' },
  ),
  run(
    'b',
    { auc: 0.75, loss: 0.5 },
    { 'train.lr': 0.1, optimizer: 'sgd' },
    {},
    { status: 'failed', commit: '3f9c0aa' },
  ),
  run('c', { auc: 0.85 }, { 'train.lr': 0.01, optimizer: 'Adam' }, { team: 'nlp' }),
  run('d', {}, { optimizer: 'adamw' }),
];

function ids(filter: string): string[] {
  const predicate = compileFilter(filter);
  return runs.filter(predicate).map((one) => one.attributes.id as string);
}

describe('filter expressions', () => {
  it('compares metrics and params with and/or/not and parentheses', () => {
    assert.deepEqual(ids('metrics.auc > 0.8 and params.`train.lr` < 0.01'), ['a']);
    assert.deepEqual(ids('metrics.auc > 0.8 and params.train.lr <= 0.01'), ['a', 'c']);
    assert.deepEqual(ids('metrics.auc < 0.8 or tags.team = "nlp"'), ['b', 'c']);
    assert.deepEqual(ids('not (metrics.auc >= 0.8)'), ['b', 'd']);
    assert.deepEqual(ids('metrics."eval-test.auc" >= 0.88'), ['a']);
  });

  it('treats a field a run lacks as NULL: comparisons are false, is null is true', () => {
    assert.deepEqual(ids('metrics.auc != 0.75'), ['a', 'c']);
    assert.deepEqual(ids('metrics.auc is null'), ['d']);
    assert.deepEqual(ids('tags.team is not null'), ['a', 'c']);
  });

  it('supports in, not in, like and ilike, and MLflow status names', () => {
    assert.deepEqual(ids("params.optimizer in ('adam', 'sgd')"), ['a', 'b']);
    assert.deepEqual(ids("params.optimizer not in ('adam', 'sgd')"), ['c', 'd']);
    assert.deepEqual(ids("params.optimizer like 'adam%'"), ['a', 'd']);
    assert.deepEqual(ids("params.optimizer ilike 'ADAM'"), ['a', 'c']);
    assert.deepEqual(ids("attributes.status = 'failed'"), ['b']);
    assert.deepEqual(ids("status = 'failed'"), ['b']);
    assert.deepEqual(ids("attributes.commit like '3f9c%'"), ['b']);
    assert.deepEqual(ids("status = 'finished'"), ['a', 'c', 'd']);
  });

  const bad: [string, number, RegExp][] = [
    ['metrics.auc >', 13, /number|string/],
    ['metrics.auc >> 1', 13, /./],
    ["params.lr < 'x", 12, /quote|string/],
    ['foo.bar = 1', 0, /metrics|params|tags|attribute/],
    ['metrics.auc in (1, 2', 20, /\)/],
    ['and metrics.auc > 1', 0, /./],
    ['metrics.auc > 1 metrics.loss < 2', 16, /and|or/],
    ['metrics. > 1', 9, /name after 'metrics\.'/],
  ];
  for (const [text, offset, reason] of bad) {
    it(`rejects ${JSON.stringify(text)} with the position of the mistake`, () => {
      assert.throws(
        () => compileFilter(text),
        (error: unknown) => {
          assert.ok(error instanceof QueryError, `expected a QueryError, got ${String(error)}`);
          assert.equal(error.offset, offset, `offset for ${text}: ${error.message}`);
          assert.match(error.reason, reason);
          assert.match(error.message, new RegExp(`column ${offset + 1}`));
          assert.ok(
            error
              .pointer()
              .split('\n')[1]
              .startsWith(`${' '.repeat(offset)}^`),
          );
          return true;
        },
      );
    });
  }
});

describe('sorting', () => {
  it('sorts by a metric either way with missing values last, stable on ties', () => {
    const order = (text: string) => sortRuns([...runs], parseSort(text)).map((one) => one.attributes.id);
    assert.deepEqual(order('metrics.auc'), ['b', 'c', 'a', 'd']);
    assert.deepEqual(order('-metrics.auc'), ['a', 'c', 'b', 'd']);
    assert.deepEqual(order('metrics.auc desc'), ['a', 'c', 'b', 'd']);
    assert.deepEqual(order('metrics.loss, params.optimizer desc'), ['a', 'b', 'd', 'c']);
  });

  it('names the bad key in a sort expression', () => {
    assert.throws(
      () => parseSort('metrics.auc, '),
      (error: unknown) => error instanceof QueryError && error.offset === 13,
    );
    assert.throws(
      () => parseSort('-bogus.x'),
      (error: unknown) => error instanceof QueryError && error.offset === 1,
    );
  });
});
