/**
 * Streaming readers for the drift engine: CSV/TSV (a byte scanner: quoted fields with delimiters,
 * line breaks and "" inside, CRLF, a BOM, ragged rows), JSON Lines and Parquet (hyparquet, one row
 * group at a time). Values go straight into the per-column accumulators, so memory stays bounded
 * by the accumulators' limits whatever the file size.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import { extname } from 'node:path';
import { sniffDelimiter } from '../util/csv';
import { DriftError } from './errors';
import { DatasetAccumulator } from './infer';

const QUOTE = 34;
const LF = 10;
const CR = 13;
const CHUNK = 1 << 20;

export type DataFormat = 'csv' | 'jsonl' | 'parquet';

export function formatOf(path: string): DataFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.csv' || ext === '.tsv' || ext === '.txt') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.parquet' || ext === '.pq') return 'parquet';
  throw new DriftError(
    `${path}: unknown data format "${ext || '(no extension)'}"`,
    'Use .csv, .tsv, .jsonl, .ndjson or .parquet.',
    path,
  );
}

async function checkFile(path: string): Promise<number> {
  let size: number;
  try {
    const stat = await fsp.stat(path);
    if (!stat.isFile()) throw new DriftError(`${path} is not a file`, 'Give the path of a data file.', path);
    size = stat.size;
  } catch (error) {
    if (error instanceof DriftError) throw error;
    throw new DriftError(`cannot read ${path}: ${(error as Error).message}`, 'Check the path.', path);
  }
  if (size === 0) throw new DriftError(`${path} is empty`, 'Give a file with a header row and data rows.', path);
  return size;
}

export async function readDataset(path: string, sink: DatasetAccumulator): Promise<void> {
  const format = formatOf(path);
  await checkFile(path);
  if (format === 'csv') await readCsv(path, sink);
  else if (format === 'jsonl') await readJsonLines(path, sink);
  else await readParquet(path, sink);
  for (const column of sink.columns.values()) column.finish();
  if (sink.rows === 0) {
    throw new DriftError(`${path} has no data rows`, 'Give a file with at least one data row.', path);
  }
}

/** Header names: trimmed BOM, empty names as "Unnamed: i", duplicates as "name.1" (pandas). */
function headerNames(raw: string[]): string[] {
  const seen = new Map<string, number>();
  return raw.map((name, i) => {
    let n = name.trim() === '' ? `Unnamed: ${i}` : name;
    const count = seen.get(n);
    if (count !== undefined) {
      seen.set(n, count + 1);
      n = `${n}.${count + 1}`;
    }
    seen.set(n, seen.get(n) ?? 0);
    return n;
  });
}

function unquote(buf: Buffer, start: number, end: number): string {
  // The field starts with a quote; "" inside is one quote; text after the closing quote is kept.
  let out = '';
  let i = start + 1;
  let segment = i;
  while (i < end) {
    if (buf[i] === QUOTE) {
      out += buf.toString('utf8', segment, i);
      if (i + 1 < end && buf[i + 1] === QUOTE) {
        out += '"';
        i += 2;
        segment = i;
        continue;
      }
      // closing quote: keep whatever follows (pandas keeps it too)
      out += buf.toString('utf8', i + 1, end);
      return out;
    }
    i++;
  }
  return out + buf.toString('utf8', segment, end);
}

export async function readCsv(path: string, sink: DatasetAccumulator): Promise<void> {
  let delimiter = -1;
  let header: string[] | null = null;
  let columns: import('./infer').ColumnAccumulator[] = [];
  let width = 0;
  let starts = new Int32Array(256);
  let ends = new Int32Array(256);
  let quotedFlags = new Uint8Array(256);
  let line = 1; // line of the next row's start
  let checkedBinary = false;

  const handleRow = (buf: Buffer, fieldCount: number, rowLine: number): void => {
    if (header === null) {
      const raw: string[] = [];
      for (let f = 0; f < fieldCount; f++) {
        raw.push(quotedFlags[f] ? unquote(buf, starts[f], ends[f]) : buf.toString('utf8', starts[f], ends[f]));
      }
      if (raw.length > 0 && raw[0].charCodeAt(0) === 0xfeff) raw[0] = raw[0].slice(1);
      header = headerNames(raw);
      width = header.length;
      sink.setColumnCount(width);
      columns = header.map((name) => sink.column(name));
      return;
    }
    if (fieldCount > width) {
      sink.longRows++;
      if (sink.firstLongLine === 0) sink.firstLongLine = rowLine;
      return;
    }
    sink.rows++;
    for (let f = 0; f < fieldCount; f++) {
      const column = columns[f];
      if (quotedFlags[f]) column.addText(unquote(buf, starts[f], ends[f]), rowLine);
      else column.addBytes(buf, starts[f], ends[f], rowLine);
    }
    if (fieldCount < width) {
      sink.shortRows++;
      if (sink.firstShortLine === 0) sink.firstShortLine = rowLine;
      for (let f = fieldCount; f < width; f++) columns[f].missing++;
    }
  };

  const grow = (): void => {
    const size = starts.length * 2;
    const s = new Int32Array(size);
    s.set(starts);
    starts = s;
    const e = new Int32Array(size);
    e.set(ends);
    ends = e;
    const q = new Uint8Array(size);
    q.set(quotedFlags);
    quotedFlags = q;
  };

  /** Scans complete rows of buf; returns where the unfinished row starts (buf.length if none). */
  const scan = (buf: Buffer, final: boolean): number => {
    const len = buf.length;
    const delim = delimiter;
    const maxSpecial = Math.max(delim, QUOTE, LF);
    let i = 0;
    while (i < len) {
      const rowStart = i;
      const rowLine = line;
      let newlines = 0;
      let f = 0;
      let fieldStart = i;
      let complete = false;
      quotedFlags[0] = 0;
      while (i < len) {
        const c = buf[i];
        if (c > maxSpecial) {
          i++;
          continue;
        }
        if (c === QUOTE && i === fieldStart) {
          // quoted field: find the closing quote ("" is an escaped quote)
          quotedFlags[f] = 1;
          let j = i + 1;
          let closed = -1;
          while (j < len) {
            const q = buf.indexOf(QUOTE, j);
            if (q === -1) break;
            for (let k = j; k < q; k++) if (buf[k] === LF) newlines++;
            if (q + 1 < len && buf[q + 1] === QUOTE) {
              j = q + 2;
              continue;
            }
            if (q + 1 >= len && !final) break; // could be the first of ""
            closed = q;
            break;
          }
          if (closed === -1) {
            if (!final) return rowStart;
            throw new DriftError(
              `${path}:${rowLine}: a quoted field that starts on line ${rowLine} never ends`,
              'Close the quote ("), or double quotes inside quoted fields ("").',
              path,
              rowLine,
            );
          }
          i = closed + 1;
          continue;
        }
        if (c === delim) {
          if (f + 1 >= starts.length) grow();
          starts[f] = fieldStart;
          ends[f] = i;
          f++;
          quotedFlags[f] = 0;
          i++;
          fieldStart = i;
          continue;
        }
        if (c === LF) {
          let e = i;
          if (e > fieldStart && buf[e - 1] === CR) e--;
          starts[f] = fieldStart;
          ends[f] = e;
          f++;
          newlines++;
          i++;
          complete = true;
          break;
        }
        i++;
      }
      if (!complete) {
        if (!final) return rowStart;
        let e = len;
        if (e > fieldStart && buf[e - 1] === CR) e--;
        starts[f] = fieldStart;
        ends[f] = e;
        f++;
      }
      line += newlines;
      // a blank line is not a row
      if (f === 1 && starts[0] === ends[0] && !quotedFlags[0]) continue;
      handleRow(buf, f, rowLine);
    }
    return len;
  };

  // One reusable buffer: the unfinished row moves to its start before the next read, so reading
  // allocates nothing per chunk (it grows only for a row longer than the buffer).
  let buf = Buffer.allocUnsafe(CHUNK);
  let filled = 0;
  const handle = await fsp.open(path, 'r');
  try {
    for (;;) {
      if (filled === buf.length) {
        const grown = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(grown, 0, 0, filled);
        buf = grown;
      }
      const { bytesRead } = await handle.read(buf, filled, buf.length - filled, null);
      if (bytesRead === 0) break;
      filled += bytesRead;
      const view = buf.subarray(0, filled);
      if (!checkedBinary) {
        checkedBinary = true;
        const probe = view.subarray(0, Math.min(view.length, 65536));
        const nul = probe.indexOf(0);
        if (nul !== -1) {
          const badLine = 1 + countLines(probe, nul);
          throw new DriftError(
            `${path}:${badLine}: this is not a text CSV file (binary data)`,
            'Give a CSV/TSV text file, or a .parquet/.jsonl file with the right extension.',
            path,
            badLine,
          );
        }
        if (delimiter === -1) {
          let firstLine = view.toString('utf8', 0, Math.min(view.length, 65536));
          const nl = firstLine.indexOf('\n');
          if (nl !== -1) firstLine = firstLine.slice(0, nl);
          delimiter = sniffDelimiter(path, firstLine).charCodeAt(0);
        }
      }
      const consumed = scan(view, false);
      if (consumed > 0) {
        buf.copyWithin(0, consumed, filled);
        filled -= consumed;
      }
    }
    if (filled > 0) scan(buf.subarray(0, filled), true);
  } finally {
    await handle.close();
  }
  if (header === null) {
    throw new DriftError(`${path} is empty`, 'Give a file with a header row and data rows.', path);
  }
}

function countLines(buf: Buffer, end: number): number {
  let n = 0;
  for (let i = 0; i < end; i++) if (buf[i] === LF) n++;
  return n;
}

export async function readJsonLines(path: string, sink: DatasetAccumulator): Promise<void> {
  let carry = '';
  let line = 0;
  let sized = false;
  const handle = (text: string): void => {
    line++;
    const trimmed = text.trim();
    if (trimmed === '') return;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (error) {
      throw new DriftError(
        `${path}:${line}: not valid JSON (${(error as Error).message})`,
        'Each line of a JSON Lines file must be one JSON object.',
        path,
        line,
      );
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new DriftError(`${path}:${line}: not a JSON object`, 'Each line must be one JSON object: {"column": value, ...}.', path, line);
    }
    const record = value as Record<string, unknown>;
    if (!sized) {
      sized = true;
      sink.setColumnCount(Object.keys(record).length);
    }
    const seen = new Set<string>();
    for (const [key, v] of Object.entries(record)) {
      const column = sink.column(key);
      seen.add(key);
      if (v === null || v === undefined) column.missing++;
      else if (typeof v === 'number') column.addNumber(v, Number.isInteger(v) && !/[.eE]/.test(String(v)));
      else if (typeof v === 'string') column.addText(v, line);
      else if (typeof v === 'boolean') column.addString(String(v), line);
      else column.addString(JSON.stringify(v), line);
    }
    for (const [name, column] of sink.columns) if (!seen.has(name)) column.missing++;
    sink.rows++;
  };
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: CHUNK });
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      const text = carry + chunk;
      let start = 0;
      let nl = text.indexOf('\n', start);
      while (nl !== -1) {
        handle(text.slice(start, nl));
        start = nl + 1;
        nl = text.indexOf('\n', start);
      }
      carry = text.slice(start);
    }
    if (carry.trim() !== '') handle(carry);
  } finally {
    stream.destroy();
  }
}

export async function readParquet(path: string, sink: DatasetAccumulator): Promise<void> {
  const hyparquet = await import('hyparquet');
  let metadata: Awaited<ReturnType<typeof hyparquet.parquetMetadataAsync>>;
  const file = await hyparquet.asyncBufferFromFile(path);
  try {
    metadata = await hyparquet.parquetMetadataAsync(file);
  } catch (error) {
    throw new DriftError(`${path}: not a readable Parquet file (${(error as Error).message})`, 'Check that the file is Parquet and complete.', path);
  }
  const children = hyparquet.parquetSchema(metadata).children;
  const names = children.map((child) => child.element.name);
  const integerTyped = children.map((child) => child.element.type === 'INT32' || child.element.type === 'INT64');
  sink.setColumnCount(names.length);
  const columns = names.map((name) => sink.column(name));
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    let rows: unknown[][] = [];
    try {
      await hyparquet.parquetRead({
        file,
        metadata,
        rowStart,
        rowEnd,
        onComplete: (result: unknown[][]) => {
          rows = result;
        },
      });
    } catch (error) {
      throw new DriftError(`${path}: cannot read rows ${rowStart}-${rowEnd} (${(error as Error).message})`, 'Check that the Parquet file is complete.', path);
    }
    for (const row of rows) {
      for (let c = 0; c < columns.length; c++) {
        const v = row[c];
        const column = columns[c];
        if (v === null || v === undefined) column.missing++;
        else if (typeof v === 'number') column.addNumber(v, integerTyped[c]);
        else if (typeof v === 'bigint') column.addNumber(Number(v), true);
        else if (typeof v === 'string') column.addString(v, 0);
        else if (typeof v === 'boolean') column.addString(String(v), 0);
        else if (v instanceof Date) column.addString(v.toISOString(), 0);
        else column.addString(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)), 0);
      }
      sink.rows++;
    }
    rowStart = rowEnd;
  }
}
