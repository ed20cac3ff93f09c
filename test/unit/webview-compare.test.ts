import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compareIdsOf,
  knownIds,
  parseCompareMessage,
  parseExperimentsMessage,
  safeFileName,
  type RunRow,
  type Series,
} from '../../webviews/src/contract';
import { alignSeries, chartGroups, guessDirection, paramRows, scalarRows } from '../../webviews/src/compare/model';
import { buildSvg, escapeXml, niceTicks } from '../../webviews/src/compare/svg';
import { runColor, themeOf } from '../../webviews/src/shared/colors';

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
    stages: { done: 1, total: 1, running: [] },
    ...extra,
  };
}

function series(name: string, steps: number[], values: number[], stage = 'train', file = 'metrics/loss.csv'): Series {
  return { name, stage, file, x: 'step', steps, values };
}

describe('compare: scalars and params', () => {
  const runs = [
    run('a', { metrics: { auc: 0.8, loss: 0.5, note: 'x' }, params: { lr: 0.1, model: { depth: 10, width: 64 } } }),
    run('b', { metrics: { auc: 0.9, loss: 0.4, note: 'x' }, params: { lr: 0.01, model: { depth: 10, width: 64 } } }),
    run('c', { metrics: { auc: 0.8 }, params: { lr: 0.1, model: { depth: 12, width: 64 }, extra: true } }),
  ];

  it('marks values that differ from the first run, with deltas, and the best run', () => {
    const rows = scalarRows(runs);
    const auc = rows.find((row) => row.metric === 'auc')!;
    assert.deepEqual(auc.differs, [false, true, false]);
    assert.ok(Math.abs(auc.deltas[1]! - 0.1) < 1e-12);
    assert.equal(auc.deltas[2], 0);
    assert.equal(auc.best, 1);
    const loss = rows.find((row) => row.metric === 'loss')!;
    assert.equal(loss.direction, 'lower');
    assert.equal(loss.best, 1);
    assert.deepEqual(loss.differs, [false, true, true], 'a missing value differs');
    assert.equal(rows.find((row) => row.metric === 'note')!.best, undefined);
    assert.equal(guessDirection('val_accuracy'), 'higher');
    assert.equal(guessDirection('eval.rmse'), 'lower');
  });

  it('lists only the params that differ unless asked for all', () => {
    assert.deepEqual(
      paramRows(runs, false).map((row) => row.key),
      ['extra', 'lr', 'model.depth'],
    );
    assert.deepEqual(
      paramRows(runs, true).map((row) => [row.key, row.differs]),
      [
        ['extra', true],
        ['lr', true],
        ['model.depth', true],
        ['model.width', false],
      ],
    );
  });
});

describe('compare: charts', () => {
  it('makes one chart per series name, grouped by stage and file, declared plots first', () => {
    const groups = chartGroups(
      ['a', 'b'],
      {
        a: [series('loss', [0, 1], [1, 0.5]), series('eval.auc', [0], [0.8], 'evaluate', 'metrics/eval.json')],
        b: [series('loss', [0, 1, 2], [1, 0.6, 0.4])],
      },
      [{ stage: 'evaluate', file: 'metrics/eval.json' }],
    );
    assert.deepEqual(
      groups.map((group) => [
        group.title,
        group.declared,
        group.charts.map((chart) => [chart.name, [...chart.series.keys()]]),
      ]),
      [
        ['evaluate \u00B7 metrics/eval.json', true, [['eval.auc', ['a']]]],
        ['train \u00B7 metrics/loss.csv', false, [['loss', ['a', 'b']]]],
      ],
    );
  });

  it('aligns runs on the union of their steps, null where a run has none', () => {
    const aligned = alignSeries([series('loss', [0, 2], [1, 0.5]), undefined, series('loss', [1, 2], [0.9, 0.4])]);
    assert.deepEqual(aligned.x, [0, 1, 2]);
    assert.deepEqual(aligned.ys, [
      [1, null, 0.5],
      [null, null, null],
      [null, 0.9, 0.4],
    ]);
    assert.equal(aligned.decimated, false);
  });

  it('decimates huge series to min/max buckets, keeping spikes', () => {
    const steps = Array.from({ length: 100_000 }, (_, i) => i);
    const values = steps.map((i) => (i === 54_321 ? 1000 : Math.sin(i / 1000)));
    const aligned = alignSeries(
      [
        series('loss', steps, values),
        series(
          'loss',
          steps.filter((s) => s % 2 === 0),
          values.filter((_, i) => i % 2 === 0),
        ),
      ],
      2000,
    );
    assert.equal(aligned.decimated, true);
    assert.equal(aligned.x.length, 2000);
    assert.equal(aligned.ys[0].length, 2000);
    assert.equal(Math.max(...aligned.ys[0].map((value) => value ?? -Infinity)), 1000, 'the spike survives');
    assert.ok(
      aligned.ys[1].every((value) => value !== null && value <= 1),
      'the other run has no spike (it skips odd steps)',
    );
  });

  // How long this takes is measured by `npm run bench:store`, not asserted here.
  it('decimates 100 runs of 20,000 steps to the default 4,000 points, keeping each run\u2019s extremes', () => {
    const steps = Array.from({ length: 20_000 }, (_, i) => i * 3);
    const many = Array.from({ length: 100 }, (_, r) =>
      series(
        'loss',
        steps,
        steps.map((s) => Math.exp(-s / 10_000) + r / 100),
      ),
    );
    const aligned = alignSeries(many);
    assert.equal(aligned.decimated, true);
    assert.equal(aligned.x.length, 4000);
    assert.equal(aligned.ys.length, 100);
    for (const [r, ys] of aligned.ys.entries()) {
      const values = ys.filter((value): value is number => value !== null);
      assert.equal(values.length, 4000, `run ${r} has a value in every bucket`);
      assert.equal(Math.max(...values), 1 + r / 100, `run ${r} keeps its first (highest) value`);
      assert.equal(
        Math.min(...values),
        Math.exp(-steps.at(-1)! / 10_000) + r / 100,
        `run ${r} keeps its last (lowest) value`,
      );
    }
  });
});

describe('compare: SVG export', () => {
  it('escapes every piece of text', () => {
    assert.equal(escapeXml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const svg = buildSvg({
      title: '<script>alert(1)</script>',
      xLabel: 'step & "epoch"',
      x: [0, 1, 2],
      lines: [{ label: '<img src=x onerror=alert(1)>', color: 'red" onload="alert(1)', values: [1, null, 3] }],
    });
    assert.ok(!svg.includes('<script'), 'no script element');
    assert.ok(!svg.includes('<img'), 'no img element');
    assert.ok(!svg.includes('onload='), 'a colour cannot add attributes');
    assert.ok(svg.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
    assert.ok(svg.includes('step &amp; &quot;epoch&quot;'));
    assert.ok(svg.includes('&lt;img src=x onerror=alert(1)&gt;'));
  });

  it('draws a polyline per unbroken stretch, axes and a legend', () => {
    const svg = buildSvg({
      title: 'loss',
      xLabel: 'step',
      x: [0, 1, 2, 3, 4],
      lines: [
        { label: 'a', color: '#ff0000', values: [4, 3, null, 2, 1] },
        { label: 'b', color: 'hsl(10, 50%, 50%)', values: [1, 1, 1, 1, 1] },
      ],
      width: 400,
      height: 300,
    });
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="400"/);
    assert.equal((svg.match(/<polyline/g) ?? []).length, 3);
    assert.ok(svg.includes('stroke="#ff0000"'));
    assert.ok(svg.includes('stroke="hsl(10, 50%, 50%)"'));
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
    assert.deepEqual(niceTicks(3, 3), [3]);
  });
});

describe('compare: colours', () => {
  it('uses the theme palette first, then distinct hues', () => {
    assert.equal(runColor(0, 'dark', ['#111', '']), '#111');
    assert.match(runColor(1, 'dark', ['#111', '']), /^hsl\(\d+, 65%, 62%\)$/);
    assert.match(runColor(5, 'light'), /38%\)$/);
    assert.equal(themeOf('vscode-body vscode-high-contrast'), 'high-contrast');
    assert.equal(themeOf('vscode-light'), 'light');
  });
});

describe('webview contract', () => {
  const known = (id: string) => ['a', 'b'].includes(id);

  it('accepts well-formed messages naming known runs only', () => {
    assert.deepEqual(parseExperimentsMessage({ type: 'compare', ids: ['a', 'b', 'a'] }, known), {
      type: 'compare',
      ids: ['a', 'b'],
    });
    assert.equal(parseExperimentsMessage({ type: 'compare', ids: ['a', 'zz'] }, known), undefined);
    assert.equal(parseExperimentsMessage({ type: 'compare', ids: 'a' }, known), undefined);
    assert.equal(parseExperimentsMessage({ type: 'compare', ids: [] }, known), undefined);
    assert.equal(parseExperimentsMessage({ type: 'openRun', id: 7 }, known), undefined);
    assert.deepEqual(parseExperimentsMessage({ type: 'openRun', id: 'b' }, known), { type: 'openRun', id: 'b' });
    assert.equal(parseExperimentsMessage({ type: 'eval', code: '1' }, known), undefined);
    assert.equal(parseExperimentsMessage(null, known), undefined);
    assert.deepEqual(knownIds(['a'], known), ['a']);
  });

  it('checks exports: format, base64 PNG data, a safe file name', () => {
    assert.deepEqual(
      parseCompareMessage({ type: 'export', format: 'svg', name: '../../etc/passwd', data: '<svg/>' }, known),
      { type: 'export', format: 'svg', name: 'etc-passwd', data: '<svg/>' },
    );
    assert.equal(parseCompareMessage({ type: 'export', format: 'exe', name: 'x', data: '' }, known), undefined);
    assert.equal(
      parseCompareMessage({ type: 'export', format: 'png', name: 'x', data: 'not base64!' }, known),
      undefined,
    );
    assert.equal(
      parseCompareMessage({ type: 'export', format: 'png', name: 'x', data: 'iVBORw0KGgo=' }, known)?.type,
      'export',
    );
    assert.equal(safeFileName('<loss>/val'), 'loss-val');
    assert.equal(safeFileName('...'), 'chart');
  });

  it('reads the run ids back from a restored compare panel\u2019s state', () => {
    assert.deepEqual(compareIdsOf({ ids: ['a', 3, 'b'], showAllParams: true }), ['a', 'b']);
    assert.equal(compareIdsOf({ ids: [] }), undefined);
    assert.equal(compareIdsOf('junk'), undefined);
  });
});
