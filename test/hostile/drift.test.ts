import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readlinkSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DatasetAccumulator } from '../../core/src/drift/infer';
import { readDataset } from '../../core/src/drift/read';
import {
  Compact,
  parquetInt32,
  parquetWithPage,
  TYPE_STRUCT,
  withFooter,
} from '../fixtures/hostile/drift/parquet-bytes';
import { makeDecoy, type Decoy } from '../support/decoy';
import { ROOT } from '../support/files';
import { mlpipe, mlpipeAsync, until, type CliResult } from '../support/mlpipe-cli';

const CLI = join(ROOT, 'dist/cli.js');

/**
 * `mlpipe drift` on data made to hurt: files that claim more than they hold, tables too wide, keys
 * without end, values nested without end, cells of megabytes with terminal escapes, links out of
 * the workspace, and a user who cancels. Each is refused with a message that names the file (and
 * line) in bounded memory (the CLI runs with a 512 MB heap, so a regression dies of it), never a
 * crash or a stack trace, with no secret printed and nothing outside the workspace changed.
 */

/** The bundled CLI with a 512 MB heap (its reader threads share the limit). */
function bounded(args: string[], cwd: string): CliResult {
  // the timeout only keeps a regression from hanging the suite; nothing here is timed
  const result = spawnSync(process.execPath, ['--max-old-space-size=512', CLI, ...args], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    timeout: 300_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function refused(result: CliResult, message: RegExp, decoy?: Decoy): void {
  assert.equal(result.status, 2, `exit 2 expected, got ${result.status}; stderr: ${result.stderr.slice(0, 2000)}`);
  assert.match(result.stderr, message);
  assert.doesNotMatch(result.stderr, /internal error|heap out of memory|\n\s+at /, 'no crash, no stack trace');
  assert.ok(result.stderr.length < 4000, `a short message, not ${result.stderr.length} characters`);
  if (decoy)
    assert.ok(
      !result.stdout.includes(decoy.secret) && !result.stderr.includes(decoy.secret),
      'the secret is never printed',
    );
}

describe('mlpipe drift on hostile data', () => {
  let dir: string;
  let decoy: Decoy;
  let untouched: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mlpipe-hostile-drift-'));
    decoy = makeDecoy();
    // a data file outside the workspace, as a link would reach it
    writeFileSync(join(decoy.dir, 'secret.csv'), `token\n${decoy.secret}\n${decoy.secret}\n`);
    untouched = decoy.fingerprint();
    writeFileSync(join(dir, 'ok.csv'), 'a,b\n1,x\n2,y\n3,x\n');
  });
  after(() => {
    assert.equal(decoy.fingerprint(), untouched, 'nothing outside the workspace changed');
    decoy.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('Parquet that claims more than it holds', () => {
    before(() => writeFileSync(join(dir, 'ok.parquet'), parquetWithPage({ pageValues: 1, rows: 1, run: 1 })));

    it('reads a well-formed hand-written file (the crafted ones below differ from it in one claim)', () => {
      const result = bounded(['drift', 'ok.parquet', 'ok.parquet', '--format', 'json'], dir);
      assert.equal(result.status, 0, result.stderr);
      assert.equal((JSON.parse(result.stdout) as { reference: { rows: number } }).reference.rows, 1);
    });

    it('reads a row group larger than a decoding slice every value once, across pages and row groups', async () => {
      const page = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);
      // 1.5 million rows in one row group (two slices of at most 2^20 rows, a page across the cut), then 1,000 more
      writeFileSync(
        join(dir, 'long.parquet'),
        parquetInt32([[page(0, 750_000), page(750_000, 750_000)], [page(1_500_000, 1000)]]),
      );
      const sink = new DatasetAccumulator(join(dir, 'long.parquet'), undefined, 64);
      await readDataset(join(dir, 'long.parquet'), sink);
      const column = sink.columns.get('x');
      assert.equal(sink.rows, 1_501_000);
      assert.equal(column?.missing, 0);
      const values = column?.sortValues() ?? new Float64Array(0);
      assert.equal(values.length, 1_501_000);
      assert.ok(
        values.every((value, i) => value === i),
        'each row once, none lost or doubled',
      );
    });

    it('refuses a 119-byte file whose page claims 2^31 values before decoding it (hyparquet filled new Array(2^31) until the heap ran out)', () => {
      const bomb = parquetWithPage({ pageValues: 2 ** 31 - 1, rows: 2 ** 31 - 1, run: 2 ** 31 - 1 });
      assert.ok(bomb.length < 128);
      writeFileSync(join(dir, 'bomb.parquet'), bomb);
      refused(
        bounded(['drift', 'bomb.parquet', 'ok.parquet'], dir),
        /bomb\.parquet: the page at byte 4 of column x in row group 0 claims 2,147,483,647 values \(limit 16,777,216 per page\), more than mlpipe reads\nSee "Limits" in docs\/drift\.md/,
      );
      // the same page under metadata that claims one row
      writeFileSync(
        join(dir, 'bomb1.parquet'),
        parquetWithPage({ pageValues: 2 ** 31 - 1, rows: 1, run: 2 ** 31 - 1 }),
      );
      refused(
        bounded(['drift', 'ok.parquet', 'bomb1.parquet'], dir),
        /bomb1\.parquet: the page at byte 4 .* claims 2,147,483,647 values/,
      );
    });

    it('refuses pages, chunks and footers that do not add up or do not fit in the file', () => {
      writeFileSync(join(dir, 'mismatch.parquet'), parquetWithPage({ pageValues: 1_000_000, rows: 1, run: 1_000_000 }));
      refused(
        bounded(['drift', 'mismatch.parquet', 'ok.parquet'], dir),
        /mismatch\.parquet: not a readable Parquet file \(the pages of column x in row group 0 hold 1000000 values, its metadata says 1\)/,
      );

      writeFileSync(
        join(dir, 'far.parquet'),
        parquetWithPage({ pageValues: 1, rows: 1, run: 1, chunkOffset: 1 << 30 }),
      );
      refused(
        bounded(['drift', 'far.parquet', 'ok.parquet'], dir),
        /far\.parquet: not a readable Parquet file \(column x in row group 0 claims bytes 1073741824-\d+, outside the data/,
      );

      // a footer whose schema list claims 2^28 entries in a few bytes (hyparquet: new Array(2^28))
      const list = new Compact()
        .i32(1, 1)
        .listHeader(2, TYPE_STRUCT, 2 ** 28)
        .inner(() => undefined)
        .stop()
        .buffer();
      writeFileSync(join(dir, 'list.parquet'), withFooter(Buffer.alloc(0), list));
      refused(
        bounded(['drift', 'list.parquet', 'ok.parquet'], dir),
        /list\.parquet: not a readable Parquet file \(its metadata claims a list of 268435456 items with \d+ bytes left\)/,
      );

      // a footer nested 100,000 structs deep (hyparquet recursed once per level)
      const deep = Buffer.concat([Buffer.alloc(100_000, 0x1c), Buffer.alloc(100_001, 0)]);
      writeFileSync(join(dir, 'nested.parquet'), withFooter(Buffer.alloc(0), deep));
      refused(
        bounded(['drift', 'nested.parquet', 'ok.parquet'], dir),
        /nested\.parquet: not a readable Parquet file \(its metadata nests deeper than 32 levels\)/,
      );

      // a real file (pandas/pyarrow) whose footer claims more metadata than the file holds
      const real = readFileSync(join(ROOT, 'test/fixtures/drift/small_ref.parquet'));
      real.writeUInt32LE(0x7fffffff, real.length - 8);
      writeFileSync(join(dir, 'footer.parquet'), real);
      refused(
        bounded(['drift', 'footer.parquet', 'ok.parquet'], dir),
        /footer\.parquet: not a readable Parquet file \(the footer claims 2147483647 bytes of metadata in a file of \d+ bytes\)/,
      );
    });
  });

  describe('tables too wide and records too long', () => {
    const wide = (columns: number, name: string): void => {
      const header = Array.from({ length: columns }, (_, i) => `c${i}`).join(',');
      const row = Array.from({ length: columns }, (_, i) => String(i % 10)).join(',');
      writeFileSync(join(dir, name), `${header}\n${row}\n${row}\n`);
    };

    it('refuses a CSV of 100,000 and of 1,000,000 columns at its header, in bounded memory (it took 63 s and 2.3 GB, and > 10 GB)', () => {
      wide(100_000, 'wide100k.csv');
      refused(
        bounded(['drift', 'wide100k.csv', 'ok.csv'], dir),
        /wide100k\.csv:1: the header has more than 20,000 fields; mlpipe compares at most 20,000 columns/,
      );
      wide(1_000_000, 'wide1m.csv');
      refused(bounded(['drift', 'ok.csv', 'wide1m.csv'], dir), /wide1m\.csv:1: the header has more than 20,000 fields/);
    });

    it('reads a CSV of 20,000 columns (the limit) in bounded memory', () => {
      wide(20_000, 'wide20k.csv');
      const result = bounded(
        ['drift', 'wide20k.csv', 'wide20k.csv', '--columns', 'c1,c19999', '--format', 'json'],
        dir,
      );
      assert.equal(result.status, 0, result.stderr);
      assert.deepEqual(
        (JSON.parse(result.stdout) as { columns: { column: string }[] }).columns.map((column) => column.column),
        ['c1', 'c19999'],
      );
    });

    it('reads JSON Lines with a new key on every line in one pass, up to 20,000 keys, and refuses the next key', async () => {
      const lines: string[] = [];
      for (let i = 0; i < 19_999; i++) lines.push(JSON.stringify({ k: i % 3, [`key_${i}`]: i }));
      writeFileSync(join(dir, 'keys.jsonl'), `${lines.join('\n')}\n`);
      const sink = new DatasetAccumulator(join(dir, 'keys.jsonl'), undefined, 64);
      await readDataset(join(dir, 'keys.jsonl'), sink);
      assert.equal(sink.columns.size, 20_000);
      assert.equal(sink.rows, 19_999);
      // a key absent from a row is missing there: counted once at the end, not per row and key
      for (const name of ['key_0', 'key_5000', 'key_19998']) {
        const column = sink.columns.get(name);
        assert.equal(column?.missing, 19_998, name);
        assert.equal(column?.numbers, 1, name);
      }
      assert.equal(sink.columns.get('k')?.missing, 0);

      writeFileSync(join(dir, 'keys.jsonl'), `${lines.join('\n')}\n${JSON.stringify({ k: 1, key_19999: 1 })}\n`);
      refused(
        bounded(['drift', 'keys.jsonl', 'ok.csv'], dir),
        /keys\.jsonl:20000: more than 20,000 distinct keys \(the next is "key_19999"\); mlpipe compares at most 20,000 columns/,
      );
    });

    it('refuses a JSON value nested 200,000 deep, naming the file and line (it was an internal error)', () => {
      const nested = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
      writeFileSync(join(dir, 'deep.jsonl'), `{"a": 1}\n{"a": 2, "b": ${nested}}\n`);
      refused(
        bounded(['drift', 'deep.jsonl', 'deep.jsonl'], dir),
        /deep\.jsonl:2: a value nested more than 64 levels deep \(at character 78\)/,
      );
      // brackets inside strings are text, not nesting
      writeFileSync(join(dir, 'text.jsonl'), `{"a": "${'['.repeat(1000)}"}\n{"a": "x"}\n`);
      assert.equal(bounded(['drift', 'text.jsonl', 'text.jsonl'], dir).status, 0);
    });

    it('refuses a CSV row longer than 64 MiB (an unclosed quote) instead of growing its buffer with the file', () => {
      const path = join(dir, 'quote.csv');
      const fd = openSync(path, 'w');
      writeSync(fd, 'a,b\n1,"');
      const block = Buffer.alloc(1 << 20, 'x');
      for (let i = 0; i < 66; i++) writeSync(fd, block);
      writeSync(fd, '\n2,3\n');
      closeSync(fd);
      refused(
        bounded(['drift', 'quote.csv', 'ok.csv'], dir),
        /quote\.csv:2: the row that starts here is longer than 64 MiB/,
      );
    });
  });

  describe('values echoed in notes and errors', () => {
    const escape = '\u001b[2J\u001b]0;pwned\u0007';
    const huge = `${escape}${'A'.repeat(10 * 1024 * 1024)}`;

    it('shows a 10 MB cell by its first 80 characters, with its control characters escaped', () => {
      const rows = Array.from({ length: 300 }, (_, i) => `${i},${i % 3}`);
      writeFileSync(join(dir, 'cell_ref.csv'), `n,c\n${rows.join('\n')}\n"${huge}",1\n`);
      writeFileSync(join(dir, 'cell_cur.csv'), `n,c\n${rows.join('\n')}\n`);
      for (const format of ['text', 'json']) {
        const result = bounded(['drift', 'cell_ref.csv', 'cell_cur.csv', '--format', format], dir);
        assert.equal(result.status, 0, result.stderr);
        assert.ok(result.stdout.length < 10_000, `${format}: ${result.stdout.length} characters`);
        assert.ok(
          !result.stdout.includes('\u001b') && !result.stdout.includes('\u0007'),
          `${format}: no raw control character`,
        );
        assert.ok(
          result.stdout.includes(
            format === 'json' ? '\\\\x1b[2J\\\\x1b]0;pwned\\\\x07AAAA' : '\\x1b[2J\\x1b]0;pwned\\x07AAAA',
          ),
          `${format}: the value's start, escaped`,
        );
        assert.match(result.stdout, /AAAA… \(10,485,774 characters\)/);
      }
    });

    it('clips a 10 MB category in the chi-square note and in the chart labels', () => {
      const base = Array.from({ length: 30 }, (_, i) => ['a', 'b', 'c'][i % 3]);
      writeFileSync(join(dir, 'cat_ref.csv'), `c\n${base.join('\n')}\n`);
      writeFileSync(join(dir, 'cat_cur.csv'), `c\n${base.join('\n')}\n"${huge}"\n`);
      const result = bounded(['drift', 'cat_ref.csv', 'cat_cur.csv', '--format', 'json', '--details'], dir);
      assert.equal(result.status, 0, result.stderr);
      assert.ok(result.stdout.length < 10_000, `${result.stdout.length} characters`);
      const report = JSON.parse(result.stdout) as {
        columns: { method: string; notes: string[]; details: { categories: string[] } }[];
      };
      assert.equal(report.columns[0].method, 'chisquare');
      assert.match(
        report.columns[0].notes.join('\n'),
        /categories missing from the reference: "\\x1b\[2J\\x1b\]0;pwned\\x07A+… \(10,485,774 characters\)"/,
      );
      assert.ok(report.columns[0].details.categories.every((label) => label.length < 300));
    });

    it('clips a 10 MB column name and a list of 20,000 names in an error', () => {
      writeFileSync(join(dir, 'name.csv'), `b,"${huge}"\n1,2\n`);
      const result = bounded(['drift', 'name.csv', 'name.csv', '--columns', 'nope'], dir);
      refused(
        result,
        /column nope not found in .*name\.csv\nColumns there: b, \\x1b\[2J\\x1b\]0;pwned\\x07A+… \(10,485,774 characters\)\./,
      );
      assert.ok(!result.stderr.includes('\u001b'));
      const many = bounded(['drift', 'wide20k.csv', 'wide20k.csv', '--columns', 'nope'], dir);
      refused(many, /Columns there: c0, c1, .*, c19 and 19,980 more\./);
    });
  });

  describe('cancel', () => {
    before(() => {
      // large enough that reading is still going on when the signal comes
      const path = join(dir, 'big.csv');
      const fd = openSync(path, 'w');
      writeSync(fd, 'a,b,c,d,e,f,g,h\n');
      const rows: string[] = [];
      for (let i = 0; i < 100_000; i++) rows.push(`${i},${i * 0.5},${i % 7},x${i % 5},${i * 3},${i % 11},${i / 3},y`);
      const block = `${rows.join('\n')}\n`;
      for (let i = 0; i < 40; i++) writeSync(fd, block);
      closeSync(fd);
    });

    for (const [signal, code] of [
      ['SIGTERM', 143],
      ['SIGINT', 130],
    ] as const) {
      it(`${signal} (VS Code's Cancel sends SIGTERM) ends a check that is reading, reader threads and all`, async () => {
        const run = mlpipeAsync(['drift', 'big.csv', 'big.csv'], dir);
        const pid = run.child.pid as number;
        // signal once the file is open: the check is reading
        await until(
          'the CLI to open big.csv',
          () =>
            readdirSync(`/proc/${pid}/fd`).some((fd) => {
              try {
                return readlinkSync(`/proc/${pid}/fd/${fd}`).endsWith('big.csv');
              } catch {
                return false;
              }
            }) || undefined,
        );
        run.child.kill(signal);
        const result = await run.done;
        assert.equal(result.status, code, `exit ${code} expected; stderr: ${result.stderr}`);
        assert.match(result.stderr, new RegExp(`mlpipe: drift cancelled \\(${signal}\\)`));
        assert.equal(result.stdout, '', 'no report');
      });
    }
  });

  describe('symbolic links out of the workspace', () => {
    /** A workspace with a pipeline whose monitor.drift reads `reference` and `current`. */
    const workspace = (name: string, reference: string, current: string): string => {
      const ws = join(dir, name);
      mkdirSync(join(ws, 'data'), { recursive: true });
      writeFileSync(
        join(ws, 'mlpipe.yaml'),
        `version: 1\nname: w\nstages:\n  s:\n    cmd: echo\nmonitor:\n  drift:\n    reference: ${reference}\n    current: ${current}\n`,
      );
      writeFileSync(join(ws, 'data/reference.csv'), 'token\na\nb\n');
      return ws;
    };

    it('refuses a committed data/current.csv -> a file outside, naming the link and never its content', () => {
      const ws = workspace('link-file', 'data/reference.csv', 'data/current.csv');
      symlinkSync(join(decoy.dir, 'secret.csv'), join(ws, 'data/current.csv'));
      for (const format of ['text', 'json', 'html']) {
        refused(
          mlpipe(['drift', '--format', format], ws),
          /mlpipe: data\/current\.csv: refusing to read it: it is a symbolic link that leads outside .*link-file \(the pipeline's folder\)\nmlpipe reads data only inside the workspace/,
          decoy,
        );
      }
      // the same link given on the command line, from the folder it is in
      refused(
        mlpipe(['drift', 'data/reference.csv', 'data/current.csv'], ws),
        /data\/current\.csv: refusing to read it: it is a symbolic link that leads outside .*link-file \(the folder mlpipe runs in\)/,
        decoy,
      );
      // and a link to a key (no data extension needed to be refused: the extension is the link's)
      symlinkSync(decoy.secretFile, join(ws, 'data/key.csv'));
      refused(
        mlpipe(['drift', 'data/key.csv', 'data/reference.csv'], ws),
        /data\/key\.csv: refusing to read it: it is a symbolic link/,
        decoy,
      );
    });

    it('refuses a reference reached through a linked folder, naming the folder', () => {
      const ws = workspace('link-folder', 'linked/secret.csv', 'data/reference.csv');
      symlinkSync(decoy.dir, join(ws, 'linked'));
      refused(
        mlpipe(['drift'], ws),
        /linked\/secret\.csv: refusing to read it: linked is a symbolic link that leads outside/,
        decoy,
      );
      refused(
        bounded(['drift', 'data/reference.csv', 'linked/secret.csv'], ws),
        /linked\/secret\.csv: refusing to read it: linked is a symbolic link/,
        decoy,
      );
    });

    it("refuses a pipeline's path outside its folder, and allows what a user types outside", () => {
      const ws = workspace('outside', 'data/reference.csv', `${join(decoy.dir, 'secret.csv')}`);
      refused(
        mlpipe(['drift'], ws),
        /secret\.csv: refusing to read it: it is outside .*outside \(the pipeline's folder\)/,
        decoy,
      );
      const up = workspace('up', '../outside/data/reference.csv', 'data/reference.csv');
      refused(mlpipe(['drift'], up), /reference\.csv: refusing to read it: it is outside/);
      // typed by the user: their choice
      const typed = mlpipe(['drift', join(dir, 'ok.csv'), 'data/reference.csv'], ws);
      assert.equal(typed.status, 0, typed.stderr);
    });

    it('follows a link that stays inside the workspace', () => {
      const ws = workspace('inside', 'data/reference.csv', 'data/current.csv');
      mkdirSync(join(ws, 'exports'));
      writeFileSync(join(ws, 'exports/today.csv'), 'token\na\nb\nb\n');
      symlinkSync('../exports/today.csv', join(ws, 'data/current.csv'));
      const result = mlpipe(['drift', '--format', 'json'], ws);
      assert.equal(result.status, 0, result.stderr);
      assert.equal((JSON.parse(result.stdout) as { current: { rows: number } }).current.rows, 3);
    });

    it('writes --output only where no link leads out', () => {
      const ws = workspace('output', 'data/reference.csv', 'data/reference.csv');
      symlinkSync(decoy.folder, join(ws, 'reports'));
      refused(
        mlpipe(['drift', '--format', 'json', '--output', 'reports/drift.json'], ws),
        /--output .*reports.* symbolic link/,
        decoy,
      );
      assert.deepEqual(readdirSync(decoy.folder).sort(), ['a.txt', 'nested']);
      const ok = mlpipe(['drift', '--format', 'json', '--output', 'out/drift.json'], ws);
      assert.equal(ok.status, 0, ok.stderr);
      assert.ok(readFileSync(join(ws, 'out/drift.json'), 'utf8').includes('"dataset_drift"'));
    });
  });
});
