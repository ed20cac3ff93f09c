import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { build } from 'esbuild';
import { CHROMIUM, launchChromium } from '../support/chromium';
import { embedJson, inlineScript, renderDriftHtml } from '../../core/src/drift/html';
import type {
  CategoryDetail,
  ColumnDrift,
  DriftMethod,
  DriftReport,
  HistogramDetail,
} from '../../core/src/drift/types';
import { driftStateOf, isDriftReport, parseDriftMessage, sortOf } from '../../webviews/src/drift/contract';
import {
  ecdfAt,
  ecdfPath,
  fileName,
  formatCount,
  formatPercent,
  formatScore,
  headline,
  largestGap,
  linearScale,
  methodExplanation,
  nextSort,
  niceTicks,
  sortColumns,
  stepArea,
  thresholdText,
  topCategories,
  verdictText,
} from '../../webviews/src/drift/model';

const ROOT = join(__dirname, '..', '..');
const XSS_IMG = '<img src=x onerror=alert(1)>';
const XSS_SCRIPT = '</script><script>alert(1)</script>';

// ---- a realistic report: numeric and categorical columns, drifted and not, skipped columns, notes

function histogram(edges: number[], reference: number[], current: number[]): HistogramDetail {
  const ecdf = (shares: number[]) => {
    let sum = 0;
    return { x: edges.slice(1), y: shares.map((share) => (sum += share)) };
  };
  return { kind: 'histogram', edges, reference, current, reference_ecdf: ecdf(reference), current_ecdf: ecdf(current) };
}

function categories(names: string[], reference: number[], current: number[]): CategoryDetail {
  return { kind: 'categories', categories: names, reference, current };
}

function column(
  name: string,
  type: 'num' | 'cat',
  method: DriftMethod,
  score: number,
  threshold: number,
  details?: HistogramDetail | CategoryDetail,
  notes: string[] = [],
): ColumnDrift {
  const test = method === 'ks' || method === 'chisquare' || method === 'z';
  return {
    column: name,
    type,
    method,
    statistic: test ? 0.2 : score,
    p_value: test ? score : null,
    score,
    threshold,
    drifted: test ? score < threshold : score >= threshold,
    reference_rows: 1000,
    current_rows: 900,
    method_reason: 'default rule',
    notes,
    ...(details ? { details } : {}),
  };
}

function sampleReport(driftShare = 0.3): DriftReport {
  const edges = [0, 10, 20, 30, 40];
  const columns = [
    column('age', 'num', 'ks', 1.2e-9, 0.05, histogram(edges, [0.1, 0.4, 0.4, 0.1], [0.05, 0.15, 0.4, 0.4])),
    column(
      'income',
      'num',
      'wasserstein',
      0.234,
      0.1,
      histogram(edges, [0.25, 0.25, 0.25, 0.25], [0.1, 0.2, 0.3, 0.4]),
      ['Quantiles estimated from a sketch.'],
    ),
    column('tenure', 'num', 'ks', 0.41, 0.05, histogram(edges, [0.25, 0.25, 0.25, 0.25], [0.24, 0.26, 0.25, 0.25])),
    column(
      'country',
      'cat',
      'chisquare',
      3.4e-12,
      0.05,
      categories(['US', 'DE', 'BR'], [0.6, 0.4, 0], [0.5, 0.3, 0.2]),
      ['1 category only in the current data: BR.'],
    ),
    column('gender', 'cat', 'z', 0.62, 0.05, categories(['F', 'M'], [0.51, 0.49], [0.5, 0.5])),
    column('device', 'cat', 'jensenshannon', 0.03, 0.1),
    column(XSS_IMG, 'num', 'ks', 0.83, 0.05, histogram(edges, [0.25, 0.25, 0.25, 0.25], [0.25, 0.25, 0.25, 0.25])),
    column(XSS_SCRIPT, 'cat', 'chisquare', 0.51, 0.05, categories(['a', XSS_SCRIPT], [0.5, 0.5], [0.5, 0.5])),
  ];
  const drifted = columns.filter((entry) => entry.drifted).length;
  return {
    version: 1,
    dataset_drift: drifted / columns.length >= driftShare,
    drift_share: driftShare,
    share_of_drifted_columns: drifted / columns.length,
    number_of_columns: columns.length,
    number_of_drifted_columns: drifted,
    columns,
    skipped: [{ column: 'customer_id', reason: 'every value is distinct (an identifier)' }],
    reference: { path: 'data/reference.csv', rows: 1000 },
    current: { path: 'data/current.csv', rows: 903 },
    notes: ['3 ragged rows in data/current.csv were skipped.'],
  };
}

describe('drift view: text and numbers', () => {
  it('writes the headline and the dataset verdict', () => {
    const report = sampleReport();
    const line = headline(report);
    assert.equal(line.title, 'Drift detected in 3 of 8 columns');
    assert.equal(line.verdict, 'Dataset drift: yes. 37.5% of the columns drifted, at or above the 30% threshold.');
    assert.equal(line.drift, true);
    const calm = headline({
      ...sampleReport(0.5),
      columns: [],
      number_of_drifted_columns: 0,
      number_of_columns: 12,
      share_of_drifted_columns: 0,
      dataset_drift: false,
    });
    assert.equal(calm.title, 'No drift: 0 of 12 columns drifted');
    assert.equal(calm.verdict, 'Dataset drift: no. 0% of the columns drifted, below the 50% threshold.');
    assert.equal(calm.drift, false);
    assert.equal(
      headline({ ...sampleReport(), columns: [], number_of_columns: 1, number_of_drifted_columns: 0 }).title,
      'No drift: 0 of 1 column drifted',
    );
    assert.equal(
      headline({ ...sampleReport(), number_of_columns: 0, number_of_drifted_columns: 0 }).title,
      'No columns compared',
    );
    // A drifted column is drift even when the dataset share stays below drift_share.
    assert.equal(headline(sampleReport(0.9)).drift, true);
  });

  it('formats scores, shares, counts and thresholds', () => {
    assert.equal(formatScore(1.2e-9), '1.2e-9');
    assert.equal(formatScore(0.04567), '0.0457');
    assert.equal(formatScore(0.5), '0.5');
    assert.equal(formatScore(0), '0');
    assert.equal(formatScore(null), '\u2014');
    assert.equal(formatScore(Infinity), '\u221e');
    assert.equal(formatPercent(1 / 3), '33.3%');
    assert.equal(formatPercent(0.5), '50%');
    assert.equal(formatPercent(0.0005), '0.05%');
    assert.equal(formatCount(1234567), '1,234,567');
    assert.equal(formatCount(12), '12');
    assert.equal(thresholdText({ method: 'ks', threshold: 0.05 }), 'p < 0.05');
    assert.equal(thresholdText({ method: 'psi', threshold: 0.1 }), '\u2265 0.1');
    assert.equal(
      verdictText({ method: 'ks', score: 0.0012, threshold: 0.05, drifted: true }),
      'p = 0.0012 < 0.05: drift',
    );
    assert.equal(
      verdictText({ method: 'wasserstein', score: 0.04, threshold: 0.1, drifted: false }),
      'score 0.04 < 0.1: no drift',
    );
    assert.equal(fileName('data/in/current.csv'), 'current.csv');
    assert.equal(fileName('C:\\data\\ref.csv'), 'ref.csv');
  });

  it('explains every method in one sentence that says when it is drift', () => {
    for (const method of ['ks', 'chisquare', 'z', 'wasserstein', 'jensenshannon', 'psi', 'kl'] as const) {
      const text = methodExplanation(method);
      assert.match(text, /drift when/, method);
      assert.equal(text.split(/\.\s/).length, 1, `${method}: one sentence`);
    }
  });
});

describe('drift view: sorting', () => {
  const columns = sampleReport().columns;
  it('sorts by each key, stable, drifted first by default', () => {
    assert.deepEqual(sortOf(undefined), { key: 'drifted', descending: true });
    assert.deepEqual(
      sortColumns(columns, sortOf(undefined))
        .map((entry) => entry.column)
        .slice(0, 3),
      ['age', 'income', 'country'],
    );
    assert.deepEqual(
      sortColumns(columns, { key: 'score', descending: false }).map((entry) => entry.score),
      [...columns.map((entry) => entry.score)].sort((a, b) => a - b),
    );
    assert.deepEqual(
      sortColumns(columns, { key: 'column', descending: false })
        .map((entry) => entry.column)
        .slice(0, 3),
      [XSS_SCRIPT, XSS_IMG, 'age'],
    );
    const byType = sortColumns(columns, { key: 'type', descending: true });
    assert.deepEqual(
      byType.slice(0, 4).map((entry) => entry.column),
      ['age', 'income', 'tenure', XSS_IMG],
      'ties keep the report order',
    );
    const withNaN = [{ ...columns[0]!, column: 'nan', score: NaN }, ...columns];
    assert.equal(sortColumns(withNaN, { key: 'score', descending: false }).at(-1)!.column, 'nan');
    assert.equal(sortColumns(withNaN, { key: 'score', descending: true }).at(-1)!.column, 'nan');
  });

  it('flips the same key and starts a new one ascending (drift: drifted first)', () => {
    assert.deepEqual(nextSort({ key: 'score', descending: false }, 'score'), { key: 'score', descending: true });
    assert.deepEqual(nextSort({ key: 'score', descending: true }, 'column'), { key: 'column', descending: false });
    assert.deepEqual(nextSort({ key: 'score', descending: false }, 'drifted'), { key: 'drifted', descending: true });
  });
});

describe('drift view: chart geometry', () => {
  it('scales, ticks and step paths', () => {
    const x = linearScale(0, 40, 0, 400);
    assert.equal(x(10), 100);
    assert.equal(linearScale(5, 5, 0, 100)(5), 50, 'a zero-width domain maps to the middle');
    assert.deepEqual(niceTicks(0, 1, 4), [0, 0.5, 1]);
    assert.deepEqual(niceTicks(0, 100, 5), [0, 20, 40, 60, 80, 100]);
    assert.deepEqual(niceTicks(-0.3, 0.3, 3), [-0.2, 0, 0.2]);
    const y = linearScale(0, 1, 100, 0);
    assert.equal(stepArea([0, 10, 20], [0.5, 1], x, y), 'M0,100V50H100V0H200V100Z');
    assert.equal(stepArea([0], [], x, y), '');
    assert.equal(ecdfPath({ x: [10, 20], y: [0.5, 1] }, x, y, 0, 40), 'M0,100H100V50H200V0H400');
  });

  it('finds the ECDF values and the largest gap between them', () => {
    const reference = { x: [1, 2, 3], y: [0.2, 0.6, 1] };
    const current = { x: [1.5, 2.5, 3], y: [0.1, 0.3, 1] };
    assert.equal(ecdfAt(reference, 0), 0);
    assert.equal(ecdfAt(reference, 2.5), 0.6);
    assert.equal(ecdfAt(reference, 9), 1);
    const gap = largestGap(reference, current)!;
    assert.equal(gap.x, 2);
    assert.ok(Math.abs(gap.gap - 0.5) < 1e-12);
  });

  it('keeps the largest categories (a new one included) and sums the rest', () => {
    const detail = categories(['a', 'b', 'c', 'd', 'new'], [0.4, 0.3, 0.2, 0.1, 0], [0.2, 0.1, 0.1, 0.1, 0.5]);
    const rows = topCategories(detail, 3);
    assert.deepEqual(
      rows.map((row) => row.label),
      ['a', 'new', '3 other categories'],
    );
    assert.equal(rows[1]!.change, 'new');
    assert.ok(Math.abs(rows[2]!.reference - 0.6) < 1e-12);
    assert.equal(rows[2]!.other, 3);
    assert.equal(topCategories(detail, 10).length, 5);
  });
});

describe('drift contract', () => {
  it('accepts the three messages and nothing else', () => {
    assert.deepEqual(parseDriftMessage({ type: 'ready' }), { type: 'ready' });
    assert.deepEqual(parseDriftMessage({ type: 'rerun', extra: 1 }), { type: 'rerun' });
    assert.deepEqual(parseDriftMessage({ type: 'exportHtml' }), { type: 'exportHtml' });
    for (const raw of [null, 'ready', [], {}, { type: 'init' }, { type: 'openRun', id: 'x' }])
      assert.equal(parseDriftMessage(raw), undefined);
  });

  it('restores a saved state only with a well-formed report', () => {
    const report = sampleReport();
    assert.ok(isDriftReport(report));
    assert.ok(isDriftReport(JSON.parse(JSON.stringify(report))));
    const state = driftStateOf({ sort: { key: 'score', descending: true }, selected: 'age', report, title: 'Drift' })!;
    assert.deepEqual(state.sort, { key: 'score', descending: true });
    assert.equal(state.selected, 'age');
    assert.equal(driftStateOf({ sort: { key: 'bogus' }, report })!.sort.key, 'drifted');
    assert.equal(driftStateOf({ sort: {} }), undefined);
    assert.equal(driftStateOf({ report: { ...report, version: 2 } }), undefined);
    assert.equal(driftStateOf({ report: { ...report, columns: [{ column: 'x' }] } }), undefined);
  });
});

describe('drift HTML export', () => {
  const assets = {
    script: 'console.log("</script><!-- x");\n//# sourceMappingURL=drift.js.map\n',
    css: 'body { color: red }\n/*# sourceMappingURL=drift.css.map */',
  };

  it('keeps every value inside the JSON element and the CSP hashes the inline script and style', () => {
    const report = sampleReport();
    const html = renderDriftHtml(report, assets);
    const json = /<script type="application\/json" id="report">([\s\S]*?)<\/script>/.exec(html)![1]!;
    assert.deepEqual(JSON.parse(json), report);
    assert.ok(!json.includes('<') && !json.includes('>'));
    assert.equal((html.match(/<script/g) ?? []).length, 2, 'no script element from the data');
    assert.ok(!html.includes('sourceMappingURL'));
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1]!;
    assert.equal(script, inlineScript('console.log("</script><!-- x");\n'));
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html)![1]!.replace(/&#39;/g, "'");
    const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
    assert.ok(csp.startsWith("default-src 'none'"));
    assert.ok(csp.includes(`script-src ${hash(script)}`), csp);
    assert.ok(csp.includes(`style-src ${hash(style)}`), csp);
    assert.ok(!csp.includes('unsafe'));
    assert.match(html, /<title>Drift report: current.csv vs reference.csv<\/title>/);
  });

  it('escapes <, >, & and the line separators in the embedded JSON', () => {
    const text = embedJson({ a: '</script>&<!--\u2028\u2029' });
    assert.equal(text, '{"a":"\\u003c/script\\u003e\\u0026\\u003c!--\\u2028\\u2029"}');
    assert.deepEqual(JSON.parse(text), { a: '</script>&<!--\u2028\u2029' });
  });
});

describe('drift report in Chromium', { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}` }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlpipe-drift-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('renders the exported file offline: headline, rows, details, no CSP violation, names as text', async () => {
    // The bundle as scripts/build.mjs makes it, built in memory so the test does not need dist/.
    const built = await build({
      entryPoints: {
        drift: join(ROOT, 'webviews/src/drift/main.ts'),
        'drift-style': join(ROOT, 'webviews/src/drift/drift.css'),
      },
      bundle: true,
      platform: 'browser',
      target: 'es2022',
      format: 'iife',
      write: false,
      outdir: join(dir, 'out'),
      logLevel: 'silent',
    });
    const text = (suffix: string) => built.outputFiles.find((file) => file.path.endsWith(suffix))!.text;
    const file = join(dir, 'report.html');
    writeFileSync(file, renderDriftHtml(sampleReport(), { script: text('drift.js'), css: text('drift-style.css') }));

    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ colorScheme: 'dark' });
      const problems: string[] = [];
      let dialogs = 0;
      page.on('dialog', (dialog) => {
        dialogs++;
        void dialog.dismiss();
      });
      page.on('pageerror', (error) => problems.push(String(error)));
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text());
      });
      await page.addInitScript({
        content: `document.addEventListener('securitypolicyviolation', (event) => console.error('CSP: ' + event.violatedDirective + ' ' + event.blockedURI))`,
      });
      await page.goto(`file://${file}`);
      await page.waitForFunction('document.body.dataset.rendered !== undefined', undefined, { timeout: 5000 });
      assert.equal(await page.textContent('h1'), 'Drift detected in 3 of 8 columns');
      assert.equal(await page.locator('.drift-table tbody tr').count(), 8);
      assert.deepEqual(await page.locator('.drift-table tbody th.name').allTextContents(), [
        'age',
        'income',
        'country',
        'tenure',
        'gender',
        'device',
        XSS_IMG,
        XSS_SCRIPT,
      ]);
      assert.equal(await page.locator('img').count(), 0, 'the column named like an img tag is text');
      assert.equal(await page.locator('.detail-title').textContent(), 'age', 'the first row is shown in detail');
      assert.equal(await page.locator('.detail svg.chart').count(), 2, 'histogram and ECDF');
      assert.equal(await page.locator('.actions button').count(), 2);
      assert.equal(await page.locator('.actions button:visible').count(), 0, 'no host, no buttons');
      assert.equal(await page.evaluate('document.body.className'), 'vscode-dark drift-found');
      await page.click('.drift-table th button:has-text("Column")');
      assert.equal(await page.locator('.drift-table tbody th.name').first().textContent(), XSS_SCRIPT);
      await page.click(`.drift-table tbody tr:has-text("country")`);
      assert.equal(await page.locator('.detail-title').textContent(), 'country');
      assert.equal(await page.locator('.cat-table tbody tr').count(), 3);
      assert.match((await page.locator('.skipped').textContent()) ?? '', /customer_id/);
      assert.match((await page.locator('.report-notes').textContent()) ?? '', /ragged rows/);
      assert.deepEqual(problems, []);
      assert.equal(dialogs, 0);
    } finally {
      await browser.close();
    }
  });
});
