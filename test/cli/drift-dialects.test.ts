/**
 * `mlpipe drift` on CSV as people have it (issue 16): a European export (BOM, quoted header,
 * semicolons, decimal commas, CRLF) gives the verdicts the same data written the usual way gives;
 * numbers that do not read as numbers and a header shorter than the rows stop the check with an
 * error instead of a verdict; `--delimiter` and `--decimal` say how a file is written.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tempWorkspace } from '../support/files';
import { mlpipe } from '../support/mlpipe-cli';
import { pick, seeded } from '../support/random';

interface Report {
  dataset_drift: boolean;
  share_of_drifted_columns: number;
  number_of_columns: number;
  number_of_drifted_columns: number;
  columns: { column: string; type: string; method: string; score: number; drifted: boolean }[];
  skipped: { column: string; reason: string }[];
  reference: { rows: number };
  current: { rows: number };
  notes: string[];
}

/** The same rows written the usual way (comma, decimal point) and as a European Excel exports them. */
function datasets(seed: number, shift: number): { usual: string; european: string; rows: string[][] } {
  const random = seeded(seed);
  const rows: string[][] = [];
  for (let r = 0; r < 600; r++) {
    rows.push([
      `C-${r}`,
      (40 + 20 * random() + shift).toFixed(2),
      ((random() - 0.5) * 10 - shift / 3).toFixed(3),
      String(Math.floor(random() * 24)),
      pick(random, ['Month-to-month', 'One year', 'Two year']),
      pick(random, ['Köln', 'Frankfurt, Main', 'Berlin']),
    ]);
  }
  const header = ['customer_id', 'monthly_charges', 'balance', 'tenure_months', 'contract', 'city'];
  const quote = (value: string) => (value.includes(',') ? `"${value}"` : value);
  const usual = [header.join(','), ...rows.map((row) => row.map(quote).join(','))].join('\n') + '\n';
  const european =
    '\ufeff' +
    [
      header.map((name) => `"${name}"`).join(';'),
      ...rows.map((row) =>
        row.map((value) => (/^-?\d+\.\d+$/.test(value) ? value.replace('.', ',') : value)).join(';'),
      ),
    ].join('\r\n') +
    '\r\n';
  return { usual, european, rows };
}

describe('mlpipe drift on CSV dialects', () => {
  let dir: string;
  let cleanup: () => void;

  before(() => {
    const reference = datasets(1, 0);
    const current = datasets(2, 6);
    ({ dir, cleanup } = tempWorkspace({
      'usual_ref.csv': reference.usual,
      'usual_cur.csv': current.usual,
      'eu_ref.csv': reference.european,
      'eu_cur.csv': current.european,
      'eu_ref.tsv': reference.european.replaceAll(';', '\t'),
      'eu_cur.tsv': current.european.replaceAll(';', '\t'),
      'short_header.csv': 'id,amount\n1,2,3\n4,5,6\n',
    }));
  });
  after(() => cleanup?.());

  const drift = (args: string[]) => mlpipe(['drift', ...args], dir);
  const json = (args: string[]): Report => {
    const result = drift([...args, '--format', 'json']);
    assert.equal(result.status, 0, result.stderr);
    return JSON.parse(result.stdout) as Report;
  };

  it('a European CSV pair gives the same verdicts as the same data written the usual way', () => {
    const usual = json(['usual_ref.csv', 'usual_cur.csv']);
    const european = json(['eu_ref.csv', 'eu_cur.csv']);
    assert.deepEqual(european.columns, usual.columns);
    assert.deepEqual(european.skipped, usual.skipped);
    assert.deepEqual(european.notes, usual.notes);
    for (const key of [
      'dataset_drift',
      'share_of_drifted_columns',
      'number_of_columns',
      'number_of_drifted_columns',
    ] as const)
      assert.equal(european[key], usual[key], key);
    assert.equal(european.reference.rows, 600);
    // the numbers are compared as numbers, the drift is found, the id is skipped as text-like
    assert.equal(usual.dataset_drift, true);
    assert.deepEqual(
      usual.columns.map((column) => [column.column, column.type]),
      [
        ['monthly_charges', 'num'],
        ['balance', 'num'],
        ['tenure_months', 'num'],
        ['contract', 'cat'],
        ['city', 'cat'],
      ],
    );
    assert.ok(usual.columns.find((column) => column.column === 'monthly_charges')?.drifted);
    assert.deepEqual(
      usual.skipped.map((skipped) => skipped.column),
      ['customer_id'],
    );
    // and the text report's verdict line
    const text = drift(['eu_ref.csv', 'eu_cur.csv']);
    assert.equal(text.status, 0, text.stderr);
    assert.equal(text.stdout.split('\n')[0], drift(['usual_ref.csv', 'usual_cur.csv']).stdout.split('\n')[0]);
  });

  it('numbers that do not read as numbers stop the check with the file, the column, a value and what to do', () => {
    const result = drift(['usual_ref.csv', 'eu_cur.tsv', '--fail-on-drift']);
    assert.equal(result.status, 2, result.stderr);
    assert.equal(result.stdout, '', 'no verdict');
    assert.match(
      result.stderr,
      /^mlpipe: .*eu_cur\.tsv:2: column monthly_charges: 600 of its 600 values look like numbers but do not read as numbers with decimal mark "\." \(delimiter tab\); the first is "\d+,\d\d"; mlpipe stops rather than compare the column as text\nIf the file writes decimals with a comma \(1,5\), give --decimal ,/,
    );
  });

  it('a header shorter than every row says which row, where, and what to do', () => {
    const result = drift(['short_header.csv', 'usual_cur.csv']);
    assert.equal(result.status, 2);
    assert.match(
      result.stderr,
      /short_header\.csv:2: row 1 has 3 fields, but the header \(line 1\) has 2 fields; all 2 data rows have more fields than the header, so none could be read\nName every column in the header, or check the delimiter: the file was read with delimiter ",", detected from the header \(give --delimiter ",", ";" or tab\)\./,
    );
    assert.doesNotMatch(result.stderr, /no data rows/);
  });

  // These need `mlpipe drift` to take --delimiter and --decimal (core/src/cli/main.ts) and the
  // engine to hand them to the readers (types.ts, engine.ts, read-threads.ts, worker.ts).
  it('--delimiter and --decimal say how the files are written', () => {
    const usual = json(['usual_ref.csv', 'usual_cur.csv']);
    assert.deepEqual(json(['eu_ref.tsv', 'eu_cur.tsv', '--delimiter', 'tab', '--decimal', ',']).columns, usual.columns);
    assert.deepEqual(json(['eu_ref.csv', 'eu_cur.csv', '--delimiter', ';']).columns, usual.columns);
    assert.deepEqual(json(['eu_ref.tsv', 'eu_cur.tsv', '--delimiter', '\\t', '--decimal', ',']).columns, usual.columns);
    assert.deepEqual(json(['eu_ref.csv', 'eu_cur.csv', '--decimal=,']).columns, usual.columns);
    const told = drift(['eu_ref.csv', 'eu_cur.csv', '--decimal', '.']);
    assert.equal(told.status, 2);
    assert.match(told.stderr, /eu_ref\.csv:2: column monthly_charges: 600 of its 600 values/);
    assert.match(told.stderr, /give --decimal ,/);
  });

  it('refuses other --delimiter and --decimal values', () => {
    const delimiter = drift(['usual_ref.csv', 'usual_cur.csv', '--delimiter', '|']);
    assert.equal(delimiter.status, 2);
    assert.match(delimiter.stderr, /^mlpipe: --delimiter must be ",", ";", "\\t" or tab, not '\|'/);
    const decimal = drift(['usual_ref.csv', 'usual_cur.csv', '--decimal', 'comma']);
    assert.equal(decimal.status, 2);
    assert.match(decimal.stderr, /^mlpipe: --decimal must be "\." or ",", not 'comma'/);
    assert.match(drift(['usual_ref.csv', 'usual_cur.csv', '--decimal']).stderr, /--decimal needs a value/);
  });
});
