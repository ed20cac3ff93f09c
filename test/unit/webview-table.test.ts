import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunRow } from '../../webviews/src/contract';
import {
  cellText,
  discoverColumns,
  moveColumn,
  moveColumnBefore,
  orderColumns,
  prepareRow,
  type Column,
} from '../../webviews/src/experiments/columns';
import {
  applyClick,
  compareValues,
  filterRows,
  parseFilter,
  rangeIds,
  sortRows,
} from '../../webviews/src/experiments/table-model';
import { flattenParams, formatDuration, formatValue } from '../../webviews/src/shared/values';

function run(id: string, extra: Partial<RunRow> = {}): RunRow {
  return {
    id,
    name: id,
    pipeline: 'mlpipe.yaml',
    status: 'succeeded',
    started: '2025-03-01T10:00:00Z',
    params: {},
    metrics: {},
    tags: {},
    stages: { done: 3, total: 3, running: [] },
    ...extra,
  };
}

const rows = [
  run('a', {
    params: { lr: 0.1, model: { depth: 10 } },
    metrics: { auc: 0.9, loss: 0.3 },
    tags: { team: 'vision' },
    durationMs: 5000,
  }),
  run('b', { params: { lr: 0.01 }, metrics: { auc: 0.75 }, status: 'failed', durationMs: 200 }),
  run('c', {
    params: { lr: 0.001, model: { depth: 20 } },
    metrics: { auc: 0.82, loss: 0.1 },
    status: 'running',
    stages: { done: 1, total: 4, running: ['train'] },
  }),
  run('run-10', { metrics: { auc: 'n/a' } }),
  run('run-9', { metrics: {} }),
].map(prepareRow);

const column = (id: string): Column => {
  const found = discoverColumns(rows).find((candidate) => candidate.id === id);
  assert.ok(found, `column ${id}`);
  return found;
};
const ids = (list: { row: RunRow }[]) => list.map((prepared) => prepared.row.id);

describe('experiments table: columns', () => {
  it('discovers fixed, param (flattened), metric and tag columns in order', () => {
    assert.deepEqual(
      discoverColumns(rows).map((candidate) => candidate.id),
      [
        'status',
        'name',
        'started',
        'duration',
        'params.lr',
        'params.model.depth',
        'metrics.auc',
        'metrics.loss',
        'tags.team',
      ],
    );
  });

  it('flattens nested params and formats values', () => {
    assert.deepEqual(flattenParams({ a: { b: 1, c: { d: 'x' } }, e: [1, 2], f: {} }), {
      'a.b': 1,
      'a.c.d': 'x',
      e: [1, 2],
      f: {},
    });
    assert.equal(formatValue(0.123456789), '0.123457');
    assert.equal(formatValue(3), '3');
    assert.equal(formatValue(0.00001234), '1.234e-5');
    assert.equal(formatValue([1, 'a']), '[1,"a"]');
    assert.equal(formatValue(undefined), '');
    assert.equal(formatDuration(450), '450 ms');
    assert.equal(formatDuration(12_340), '12.3 s');
    assert.equal(formatDuration(185_000), '3m 05s');
    assert.equal(formatDuration(7_620_000), '2h 07m');
  });

  it('shows live progress for running runs and keeps markup as text', () => {
    assert.equal(cellText(rows[2], column('status')), '\u25CC running 1/4');
    const xss = prepareRow(run('x1', { name: '<img src=x onerror=alert(1)>' }));
    // The text is returned verbatim; the view sets it with textContent, so it is never parsed.
    assert.equal(cellText(xss, column('name')), '<img src=x onerror=alert(1)> (x1)');
  });

  it('keeps a saved column order, appends new columns, and moves columns', () => {
    const ordered = orderColumns(discoverColumns(rows), ['metrics.auc', 'gone', 'status']).map(
      (candidate) => candidate.id,
    );
    assert.deepEqual(ordered.slice(0, 3), ['metrics.auc', 'status', 'name']);
    assert.equal(ordered.length, 9);
    assert.deepEqual(moveColumn(['a', 'b', 'c'], 'b', -1), ['b', 'a', 'c']);
    assert.deepEqual(moveColumn(['a', 'b', 'c'], 'c', 1), ['a', 'b', 'c']);
    assert.deepEqual(moveColumnBefore(['a', 'b', 'c'], 'c', 'a'), ['c', 'a', 'b']);
    assert.deepEqual(moveColumnBefore(['a', 'b', 'c'], 'a', 'c'), ['b', 'a', 'c']);
  });
});

describe('experiments table: sorting', () => {
  it('sorts numbers numerically with missing values last in both directions', () => {
    assert.deepEqual(ids(sortRows(rows, column('metrics.loss'), false)), ['c', 'a', 'b', 'run-10', 'run-9']);
    assert.deepEqual(ids(sortRows(rows, column('metrics.loss'), true)), ['a', 'c', 'b', 'run-10', 'run-9']);
  });

  it('puts numbers before text and sorts text naturally', () => {
    assert.deepEqual(ids(sortRows(rows, column('metrics.auc'), false)), ['b', 'c', 'a', 'run-10', 'run-9']);
    assert.deepEqual(ids(sortRows(rows, column('name'), false)), ['a', 'b', 'c', 'run-9', 'run-10']);
    assert.ok(compareValues(2, 10) < 0);
    assert.ok(compareValues('run-2', 'run-10') < 0);
    assert.ok(compareValues(false, true) < 0);
  });

  it('is stable and leaves the input alone', () => {
    const before = ids(rows);
    assert.deepEqual(ids(sortRows(rows, column('duration'), false)), ['b', 'a', 'c', 'run-10', 'run-9']);
    assert.deepEqual(ids(rows), before);
  });
});

describe('experiments table: filtering', () => {
  const visible = discoverColumns(rows);

  it('speaks the CLI query language', () => {
    assert.deepEqual(ids(filterRows(rows, parseFilter('metrics.auc > 0.8'), visible)), ['a', 'c']);
    assert.deepEqual(ids(filterRows(rows, parseFilter('params.model.depth >= 20 or status = "failed"'), visible)), [
      'b',
      'c',
    ]);
    assert.deepEqual(ids(filterRows(rows, parseFilter("tags.team = 'vision'"), visible)), ['a']);
    assert.deepEqual(ids(filterRows(rows, parseFilter("status = 'running'"), visible)), ['c']);
  });

  it('reports query mistakes with their column', () => {
    const filter = parseFilter('metrics.auc > ');
    assert.equal(filter.kind, 'error');
    if (filter.kind === 'error') {
      assert.equal(filter.offset, 14);
      assert.match(filter.message, /number|string/);
    }
    assert.equal(parseFilter('metrics.auc >> 1').kind, 'error');
  });

  it('treats plain words as a text search over the visible cells', () => {
    const filter = parseFilter('RUN-1');
    assert.equal(filter.kind, 'text');
    assert.deepEqual(ids(filterRows(rows, filter, visible)), ['run-10']);
    assert.deepEqual(ids(filterRows(rows, parseFilter('failed'), visible)), ['b']);
    assert.deepEqual(ids(filterRows(rows, parseFilter('  '), visible)), ids(rows));
  });
});

describe('experiments table: selection', () => {
  const order = ['a', 'b', 'c', 'd', 'e'];

  it('selects ranges between the anchor and the clicked row, either way', () => {
    assert.deepEqual(rangeIds(order, 'b', 'd'), ['b', 'c', 'd']);
    assert.deepEqual(rangeIds(order, 'd', 'b'), ['b', 'c', 'd']);
    assert.deepEqual(rangeIds(order, 'gone', 'c'), ['c']);
    assert.deepEqual(rangeIds(order, undefined, 'zz'), []);
  });

  it('toggles, and shift-click sets the whole range to the clicked row\u2019s new state', () => {
    let selected = applyClick(new Set(), order, undefined, 'b', false);
    assert.deepEqual([...selected], ['b']);
    selected = applyClick(selected, order, 'b', 'd', true);
    assert.deepEqual([...selected].sort(), ['b', 'c', 'd']);
    selected = applyClick(selected, order, 'd', 'c', true);
    assert.deepEqual([...selected].sort(), ['b'], 'c was selected, so the range c..d is cleared');
    selected = applyClick(selected, order, 'c', 'b', false);
    assert.deepEqual([...selected], []);
  });
});
