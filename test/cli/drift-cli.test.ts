import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, tempWorkspace } from '../support/files';
import { mlpipe } from '../support/mlpipe-cli';

interface Report {
  dataset_drift: boolean;
  drift_share: number;
  number_of_columns: number;
  number_of_drifted_columns: number;
  columns: {
    column: string;
    type: string;
    method: string;
    statistic: number;
    p_value: number | null;
    score: number;
    threshold: number;
    drifted: boolean;
    details?: unknown;
  }[];
  skipped: { column: string; reason: string }[];
}

/** `mlpipe drift` on the sample workspace's data, as a user or a CI job runs it. */
describe('mlpipe drift', () => {
  let dir: string;
  let cleanup: () => void;

  before(() => {
    ({ dir, cleanup } = tempWorkspace({}));
    cpSync(join(ROOT, 'sample-workspace'), dir, { recursive: true });
    // What the prepare stage would write: the training rows (here the raw export, for speed).
    mkdirSync(join(dir, 'data/prepared'), { recursive: true });
    cpSync(join(dir, 'data/raw.csv'), join(dir, 'data/prepared/train.csv'));
  });
  after(() => cleanup?.());

  it("reports the drift in the sample's current data, from the pipeline's monitor section", () => {
    const text = mlpipe(['drift'], dir);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^Drift detected in \d+ of \d+ columns; dataset drift: YES/);
    assert.match(text.stdout, /^COLUMN\s+TYPE\s+METHOD\s+SCORE\s+THRESHOLD\s+DRIFTED$/m);
    assert.match(text.stdout, /^monthly_charges\s+num\s+wasserstein\s+[\d.]+\s+0\.1\s+DRIFT$/m);
    assert.match(text.stdout, /^skipped customer_id: /m);
    const report = JSON.parse(mlpipe(['drift', '--format', 'json'], dir).stdout) as Report;
    assert.equal(report.dataset_drift, true);
    assert.equal(report.drift_share, 0.5);
    assert.equal(report.number_of_drifted_columns, report.columns.filter((column) => column.drifted).length);
    for (const column of report.columns) {
      assert.ok(['num', 'cat'].includes(column.type));
      assert.equal(column.details, undefined, 'no chart data unless --details');
      if (['ks', 'chisquare', 'z'].includes(column.method)) assert.equal(column.score, column.p_value);
      else assert.equal(column.p_value, null);
    }
  });

  it('fails on drift only when asked, and forces methods and columns', () => {
    assert.equal(mlpipe(['drift', '--fail-on-drift'], dir).status, 1);
    const forced = JSON.parse(
      mlpipe(
        [
          'drift',
          'data/raw.csv',
          'data/current.csv',
          '--columns',
          'tenure_months,contract',
          '--method',
          'tenure_months=ks',
          '--method',
          'contract=chisquare',
          '--format',
          'json',
        ],
        dir,
      ).stdout,
    ) as Report;
    assert.deepEqual(
      forced.columns.map((column) => [column.column, column.method]),
      [
        ['tenure_months', 'ks'],
        ['contract', 'chisquare'],
      ],
    );
    assert.ok(forced.columns.every((column) => column.p_value !== null && column.threshold === 0.05));
    const same = mlpipe(['drift', 'data/raw.csv', 'data/raw.csv', '--fail-on-drift', '--format', 'json'], dir);
    assert.equal(same.status, 0, 'a dataset does not drift from itself');
    assert.equal((JSON.parse(same.stdout) as Report).number_of_drifted_columns, 0);
  });

  it('writes a self-contained HTML report', () => {
    const result = mlpipe(['drift', '--format', 'html', '--output', 'report.html'], dir);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /Drift detected in \d+ of \d+ columns; report written to report\.html/);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    assert.match(
      html,
      /<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;; script-src &#39;sha256-/,
    );
    assert.ok(!/\b(src|href)="https?:/.test(html), 'loads nothing from the network');
    assert.match(html, /monthly_charges/);
  });

  it('explains mistakes plainly', () => {
    const missing = mlpipe(['drift', 'nope.csv', 'data/current.csv'], dir);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /^mlpipe: nope\.csv: no such file \(the reference dataset\)/);
    assert.match(mlpipe(['drift', 'data/raw.csv'], dir).stderr, /two files, REFERENCE and CURRENT/);
    assert.match(
      mlpipe(['drift', '--method', 'tenure_months=magic'], dir).stderr,
      /--method takes COLUMN=METHOD with METHOD one of ks, chisquare/,
    );
    assert.match(mlpipe(['drift', '--drift-share', '2'], dir).stderr, /--drift-share must be a number in \(0, 1\]/);
    const empty = tempWorkspace({ 'empty.csv': '', 'b.csv': 'a\n1\n' });
    try {
      const result = mlpipe(['drift', 'empty.csv', 'b.csv'], empty.dir);
      assert.equal(result.status, 2);
      assert.match(result.stderr, /empty\.csv/);
      assert.ok(!/at \S+\.(ts|js):\d+/.test(result.stderr), 'no stack trace');
    } finally {
      empty.cleanup();
    }
  });
});
