/**
 * CSV as people have it (issue 16): a BOM before a quoted header, semicolon-separated files with
 * decimal commas (the European default), the delimiter detected from the header line or given
 * (`--delimiter`, `--decimal`), a column whose numbers do not read as numbers (an error, not a
 * verdict), and a header shorter than every row (an error that says so). The reader is held to
 * the same values on its fast path and its general scanner.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { computeDrift, DriftError } from '../../core/src/drift/engine';
import { DatasetAccumulator } from '../../core/src/drift/infer';
import { type CsvDialect, detectDelimiter, parseDecimal, parseDelimiter, readDataset } from '../../core/src/drift/read';
import { pick, seeded } from '../support/random';

const dir = mkdtempSync(join(tmpdir(), 'mlpipe-drift-dialects-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function read(path: string, options: CsvDialect & { general?: boolean; columns?: string[] } = {}) {
  const sink = new DatasetAccumulator(path, undefined, 64);
  await readDataset(path, sink, {
    delimiter: options.delimiter,
    decimal: options.decimal,
    columns: options.columns,
    _generalScanner: options.general,
  });
  return sink;
}

/** Each column: its numbers in file order, and its text values with their counts. */
async function columnsOf(path: string, options: CsvDialect & { general?: boolean } = {}) {
  const sink = await read(path, options);
  return Object.fromEntries(
    [...sink.columns.values()].map((column) => [
      column.name,
      {
        numbers: Array.from(column.values.subarray(0, column.count)),
        integers: column.allIntegers,
        text: Object.fromEntries(column.strings ?? []),
        missing: column.missing,
      },
    ]),
  );
}

async function readError(path: string, options: CsvDialect & { columns?: string[] } = {}): Promise<DriftError> {
  try {
    await read(path, options);
  } catch (error) {
    assert.ok(error instanceof DriftError, `a DriftError, got ${String(error)}`);
    assert.ok(error.hint.length > 0, 'says what to do');
    return error;
  }
  assert.fail(`expected a DriftError reading ${path}`);
}

describe('CSV dialects: the BOM', () => {
  it('a UTF-8 BOM before a quoted header: the first column keeps its name', async () => {
    for (const [name, text] of [
      ['bom-quoted.csv', '\ufeff"id","x"\n1,2.5\n2,3.5\n'],
      ['bom-quoted-crlf.csv', '\ufeff"id","x"\r\n1,2.5\r\n2,3.5\r\n'],
      ['bom-quoted-semicolon.csv', '\ufeff"id";"x"\n1;2,5\n2;3,5\n'],
      ['bom-plain.csv', '\ufeffid,x\n1,2.5\n2,3.5\n'],
      ['bom-inside-quotes.csv', '"\ufeffid","x"\n1,2.5\n2,3.5\n'],
    ]) {
      for (const general of [false, true]) {
        const columns = await columnsOf(file(name, text), { general });
        assert.deepEqual(Object.keys(columns), ['id', 'x'], name);
        assert.deepEqual(columns.id.numbers, [1, 2], name);
        assert.deepEqual(columns.x.numbers, [2.5, 3.5], name);
      }
    }
  });

  it('UTF-16 text (Excel\'s "Unicode Text") is an error that says to save it as UTF-8', async () => {
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('id\tx\r\n1\t2\r\n', 'utf16le')]);
    const error = await readError(file('unicode.txt', utf16));
    assert.match(error.message, /unicode\.txt: this is UTF-16 text; mlpipe reads CSV files written in UTF-8/);
    assert.match(error.hint, /UTF-8/);
  });
});

describe('CSV dialects: the delimiter', () => {
  const detect = (text: string) => String.fromCharCode(detectDelimiter(Buffer.from(text)));
  it('is detected from the header line: the one of comma, semicolon, tab it has most of outside quotes', () => {
    assert.equal(detect('a,b,c\n1;2;3;4;5\n'), ',');
    assert.equal(detect('a;b;c\n1,5;2,5;3\n'), ';');
    assert.equal(detect('a\tb\tc\n'), '\t');
    assert.equal(detect('"name, full";"city";"amount"\n'), ';');
    assert.equal(detect('"a;b","c;d"\n'), ',');
    assert.equal(detect('a;b,c;d\n'), ';');
    assert.equal(detect('\r\n\nid;x\n'), ';', 'leading blank lines are passed over');
    assert.equal(detect('single\n1,5\n'), ',', 'one column: a comma, as before');
    assert.equal(detect('a,b;c\n'), ',', 'a tie goes to comma');
  });

  it('reads semicolon files without being told, .tsv files as tab-separated', async () => {
    const semicolon = await columnsOf(file('semi.csv', '"name, full";city;amount\n"Doe, J";Köln;1\nX;Bonn;2\n'));
    assert.deepEqual(Object.keys(semicolon), ['name, full', 'city', 'amount']);
    assert.deepEqual(semicolon.amount.numbers, [1, 2]);
    const tsv = await columnsOf(file('commas.tsv', 'a,b\tc\n1\t2\n'));
    assert.deepEqual(Object.keys(tsv), ['a,b', 'c']);
  });

  it('--delimiter overrides the detection', async () => {
    const path = file('override.csv', 'a;b;c,d\n1;2;3,5\n');
    const detected = await columnsOf(path);
    assert.deepEqual(Object.keys(detected), ['a', 'b', 'c,d']);
    assert.deepEqual(detected['c,d'].numbers, [3.5]);
    const comma = await columnsOf(path, { delimiter: ',' });
    assert.deepEqual(Object.keys(comma), ['a;b;c', 'd']);
    assert.deepEqual(comma.d.numbers, [5]);
    const tsv = await columnsOf(file('override.tsv', 'a;b\n1;2\n'), { delimiter: ';' });
    assert.deepEqual(Object.keys(tsv), ['a', 'b']);
  });

  it('the option values: , ; \\t tab for --delimiter, . , for --decimal', () => {
    assert.equal(parseDelimiter(','), ',');
    assert.equal(parseDelimiter(';'), ';');
    assert.equal(parseDelimiter('\t'), '\t');
    assert.equal(parseDelimiter('\\t'), '\t');
    assert.equal(parseDelimiter('tab'), '\t');
    assert.equal(parseDelimiter('TAB'), '\t');
    for (const bad of ['', '|', ',,', 'comma', ' ']) assert.equal(parseDelimiter(bad), undefined, bad);
    assert.equal(parseDecimal('.'), '.');
    assert.equal(parseDecimal(','), ',');
    for (const bad of ['', ';', 'comma', '..']) assert.equal(parseDecimal(bad), undefined, bad);
  });
});

describe('CSV dialects: decimal commas', () => {
  const european =
    'id;amount;rate;city\n1;1,42;-0,5;Köln\n2;3;2,25e2;Frankfurt, Main\n3;-12,75;1,;Bonn\n4;NA;,5;Köln\n';
  it('with ";" as the delimiter and no --decimal, 1,42 reads as 1.42 (fast path and general scanner alike)', async () => {
    const path = file('european.csv', european);
    const fast = await columnsOf(path);
    assert.deepEqual(fast.amount.numbers, [1.42, 3, -12.75]);
    assert.equal(fast.amount.integers, false);
    assert.equal(fast.amount.missing, 1);
    assert.deepEqual(fast.rate.numbers, [-0.5, 225, 1, 0.5]);
    assert.deepEqual(fast.id.numbers, [1, 2, 3, 4]);
    assert.equal(fast.id.integers, true);
    assert.deepEqual(fast.city.text, { Köln: 2, 'Frankfurt, Main': 1, Bonn: 1 });
    assert.deepEqual(await columnsOf(path, { general: true }), fast);
  });

  it('a European file gives the report the same data written the usual way gives', async () => {
    const random = seeded(16);
    const usual = ['id,amount,segment,visits'];
    const europe = ['id;amount;segment;visits'];
    const cur = ['id,amount,segment,visits'];
    const curEurope = ['id;amount;segment;visits'];
    for (let r = 0; r < 400; r++) {
      const row = (shift: number) => [
        String(r),
        ((random() - 0.5) * 200 + shift).toFixed(2),
        pick(random, ['a', 'b', 'c']),
        String(Math.floor(random() * 3)),
      ];
      const ref = row(0);
      const now = row(15);
      usual.push(ref.join(','));
      europe.push(ref.map((v) => v.replace('.', ',')).join(';'));
      cur.push(now.join(','));
      curEurope.push(now.map((v) => v.replace('.', ',')).join(';'));
    }
    const expected = await computeDrift(
      file('usual_ref.csv', usual.join('\n') + '\n'),
      file('usual_cur.csv', cur.join('\n') + '\n'),
    );
    const actual = await computeDrift(
      file('eu_ref.csv', '\ufeff' + europe.join('\r\n') + '\r\n'),
      file('eu_cur.csv', '\ufeff' + curEurope.join('\r\n') + '\r\n'),
    );
    assert.deepEqual(actual.columns, expected.columns);
    assert.deepEqual(actual.skipped, expected.skipped);
    assert.equal(actual.dataset_drift, expected.dataset_drift);
    assert.equal(expected.columns.find((column) => column.column === 'amount')?.type, 'num');
  });

  it('--decimal , reads decimal commas whatever the delimiter, and a number written with "." as text', async () => {
    const tab = await columnsOf(file('tab-comma.tsv', 'id\tamount\n1\t1,5\n2\t2\n3\t"4,25"\n'), { decimal: ',' });
    assert.deepEqual(tab.amount.numbers, [1.5, 2, 4.25]);
    const quoted = await columnsOf(file('comma-quoted.csv', 'id,amount\n1,"1,5"\n2,"2,75"\n'), { decimal: ',' });
    assert.deepEqual(quoted.amount.numbers, [1.5, 2.75]);
    // one "1.5" among decimal commas: text, as pandas reads it with decimal=","
    const one = await columnsOf(file('one-dot.csv', 'a;b\n1,5;x\n2,5;y\n3.5;z\n'), { decimal: ',' });
    assert.deepEqual(one.a.numbers, [1.5, 2.5]);
    assert.deepEqual(one.a.text, { '3.5': 1 });
    assert.deepEqual(
      await columnsOf(file('one-dot.csv', 'a;b\n1,5;x\n2,5;y\n3.5;z\n'), { decimal: ',', general: true }),
      one,
    );
  });

  it('--decimal . on a semicolon file keeps 1,5 as text (and stops: see below)', async () => {
    const path = file('semi-dot.csv', 'a;b\n1.5;1,5\n2.5;x\n3.5;y\n4;z\n');
    const columns = await columnsOf(path, { decimal: '.' });
    assert.deepEqual(columns.a.numbers, [1.5, 2.5, 3.5, 4]);
    assert.deepEqual(columns.b.text, { '1,5': 1, x: 1, y: 1, z: 1 });
  });

  it('dates, versions and addresses in a semicolon file stay text and stop nothing', async () => {
    const columns = await columnsOf(
      file('dates.csv', 'day;version;ip;n\n01.02.2024;1.2.3;10.0.0.1;1\n02.02.2024;1.2.4;10.0.0.2;2\n'),
    );
    assert.deepEqual(Object.keys(columns.day.text), ['01.02.2024', '02.02.2024']);
    assert.deepEqual(Object.keys(columns.version.text), ['1.2.3', '1.2.4']);
    assert.deepEqual(Object.keys(columns.ip.text), ['10.0.0.1', '10.0.0.2']);
  });

  it('reads seeded semicolon files with decimal commas alike on the fast path and the general scanner', async () => {
    const FIELDS = [
      '1,5',
      '-0,25',
      ',5',
      '1,',
      ',',
      '1.5',
      '1,5e3',
      ' 2,5 ',
      'NA',
      '',
      'x,y',
      '1,2,3',
      '"3,5"',
      '"a;b"',
    ];
    for (let seed = 1; seed <= 6; seed++) {
      const random = seeded(seed);
      const width = seed % 3 === 0 ? 70 : 1 + Math.floor(random() * 5);
      const lines = [Array.from({ length: width }, (_, i) => `c${i}`).join(';')];
      for (let r = 0; r < 3000; r++) {
        const count = random() < 0.02 ? Math.floor(random() * (width + 2)) : width;
        const fields: string[] = [];
        for (let f = 0; f < count; f++)
          fields.push(
            random() < 0.8
              ? ((random() - 0.3) * 10 ** Math.floor(random() * 6)).toFixed(Math.floor(random() * 5)).replace('.', ',')
              : pick(random, FIELDS),
          );
        lines.push(fields.join(';'));
      }
      const path = file(`fuzz-${seed}.csv`, lines.join(seed % 2 ? '\n' : '\r\n'));
      for (const decimal of [undefined, ','] as const) {
        assert.deepEqual(
          await columnsOf(path, { decimal }),
          await columnsOf(path, { decimal, general: true }),
          `seed ${seed}, decimal ${decimal}`,
        );
      }
    }
  });
});

describe('CSV dialects: numbers that do not read as numbers', () => {
  it('more than half of a column written another way: an error naming the file, the column, a value, what to do', async () => {
    const path = file('eu-told-dot.csv', 'id;amount\n1;1,42\n2;2,5\n3;7\n');
    const error = await readError(path, { decimal: '.' });
    assert.match(
      error.message,
      /eu-told-dot\.csv:2: column amount: 2 of its 3 values look like numbers but do not read as numbers with decimal mark "\." \(delimiter ";"\); the first is "1,42"/,
    );
    assert.equal(error.file, path);
    assert.equal(error.line, 2);
    assert.match(error.hint, /give --decimal ,/);
  });

  it('a tab-separated file with decimal commas: the error says --decimal ,', async () => {
    const path = file('german.tsv', 'id\tpreis\n1\t1,99\n2\t2,49\n3\t0,99\n');
    const error = await readError(path);
    assert.match(error.message, /german\.tsv:2: column preis: 3 of its 3 values .*delimiter tab.*"1,99"/);
    assert.match(error.hint, /--decimal ,/);
    assert.deepEqual((await columnsOf(path, { decimal: ',' })).preis.numbers, [1.99, 2.49, 0.99]);
  });

  it('quoted decimal commas in a comma-separated file, thousands separators, "1.5" with --decimal ,', async () => {
    const quoted = await readError(file('quoted.csv', 'id,amount\n1,"1,5"\n2,"2,5"\n'));
    assert.match(quoted.message, /column amount: 2 of its 2 values/);
    const thousands = await readError(file('thousands.csv', 'id;amount\n1;1.234,50\n2;12.345,00\n3;999,5\n'));
    assert.match(thousands.message, /column amount: 2 of its 3 values .*the first is "1\.234,50"/);
    assert.match(thousands.hint, /without thousands separators/);
    const us = await readError(file('us.csv', 'id,amount\n1,"1,234.50"\n2,"12,345.00"\n'));
    assert.match(us.hint, /without thousands separators/);
    const dots = await readError(file('dots.csv', 'id;amount\n1;1.5\n2;2.5\n'), { decimal: ',' });
    assert.match(dots.message, /column amount: 2 of its 2 values .*decimal mark ","/);
    assert.match(dots.hint, /give --decimal \. or leave --decimal out/);
  });

  it('half or fewer: no error (the column is compared as before), and columns left out are not checked', async () => {
    const half = await columnsOf(file('half.csv', 'a\tb\n1,5\tx\n2\ty\n'));
    assert.deepEqual(half.a.numbers, [2]);
    assert.deepEqual(half.a.text, { '1,5': 1 });
    const path = file('other.tsv', 'a\tb\n1,5\t1\n2,5\t2\n');
    await readError(path);
    const only = await read(path, { columns: ['b'] });
    assert.equal(only.rows, 2);
  });
});

describe('CSV dialects: a header shorter than the rows', () => {
  it('says which row has more fields than the header, where, and what to do', async () => {
    const path = file('short-header.csv', 'id,amount\n1,2,3\n4,5,6,7\n');
    for (const general of [false, true]) {
      const sink = new DatasetAccumulator(path, undefined, 64);
      const error = await readDataset(path, sink, { _generalScanner: general }).then(
        () => assert.fail('expected an error'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof DriftError);
      assert.match(
        error.message,
        /short-header\.csv:2: row 1 has 3 fields, but the header \(line 1\) has 2 fields; all 2 data rows have more fields than the header, so none could be read/,
      );
      assert.equal(error.line, 2);
      assert.match(error.hint, /Name every column in the header, or check the delimiter.*","/);
      assert.match(error.hint, /--delimiter/);
    }
    const one = await readError(file('one-long.csv', '\n\nid\n1;2;3;4\n'), { delimiter: ';' });
    assert.match(
      one.message,
      /one-long\.csv:4: row 1 has 4 fields, but the header \(line 3\) has 1 field; the only data row/,
    );
    assert.doesNotMatch(one.hint, /detected/);
  });

  it('a header-only file still has no data rows; some long rows are skipped and noted as before', async () => {
    const headerOnly = file('header-only.csv', 'a,b\n');
    const ok = file('ok.csv', 'a,b\n1,2\n');
    await assert.rejects(computeDrift(ok, headerOnly), /header-only\.csv has no data rows/);
    const ragged = file('some-long.csv', 'a,b\n1,2\n3,4,5\n6,7\n');
    const report = await computeDrift(ragged, ok, { methods: { a: 'ks', b: 'ks' } });
    assert.equal(report.reference.rows, 2);
    assert.ok(
      report.notes.some((note) =>
        /1 row had more fields than the header and were skipped \(first at line 3\)/.test(note),
      ),
    );
  });
});
