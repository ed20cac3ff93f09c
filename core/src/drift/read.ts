/**
 * Streaming readers for the drift engine: CSV/TSV (a byte scanner: quoted fields with delimiters,
 * line breaks and "" inside, CRLF, a BOM, ragged rows; the delimiter detected from the header line,
 * decimal commas), JSON Lines and Parquet (./parquet.ts).
 * Values go straight into the per-column accumulators, so memory stays bounded by the
 * accumulators' limits whatever the file size, and every size a file claims is held to the limits
 * of ./limits.ts (columns, record length, nesting) with an error that names the file and line.
 *
 * Files are opened through the workspace boundary (core/src/util/boundary.ts) when the caller
 * gives one: a path inside it that leads outside through a symbolic link is refused before a byte
 * of it is read.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, read, realpathSync, type Stats } from 'node:fs';
import { extname, join, relative, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { Boundary, BoundaryError, within } from '../util/boundary';
import { DriftError, throwIfCancelled } from './errors';
import {
  type ColumnAccumulator,
  DatasetAccumulator,
  parsed,
  parseNumberBytes,
  parseNumberString,
  POW10,
} from './infer';
import { clip, escapeControls, MAX_COLUMNS, MAX_JSON_DEPTH, MAX_RECORD_BYTES } from './limits';
import { readParquetFile, readParquetNames } from './parquet';
import { type DriftBoundary } from './types';

const QUOTE = 34;
const LF = 10;
const CR = 13;
const CHUNK = 1 << 20;
const MINUS = 45;
const PLUS = 43;
const DOT = 46;
const COMMA = 44;
const SEMICOLON = 59;
const TAB = 9;
const SPACE = 32;
/** Delimiters the fast path cannot tell from a number's characters or a line end (the general scanner reads those files). */
/** Rows at least this wide are staged in blocks of about BLOCK_VALUES fields (see flushBlock). */
const WIDE_ROW = 64;
const BLOCK_VALUES = 32768;
/** A staged field the row did not have. */
const ABSENT = 3;
const FAST_UNSAFE = [MINUS, PLUS, DOT, CR, LF, QUOTE, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57];
const readAsync = promisify(read);

export type DataFormat = 'csv' | 'jsonl' | 'parquet';

/** The CSV field delimiters mlpipe reads (`--delimiter`). */
export type CsvDelimiter = ',' | ';' | '\t';
/** The decimal marks mlpipe reads (`--decimal`). */
export type CsvDecimal = '.' | ',';

/** How a CSV file is written; what is absent is detected (see readCsv). */
export interface CsvDialect {
  /** Absent: detected from the header line (the one of comma, semicolon, tab it has most of outside quotes; .tsv: tab). */
  delimiter?: CsvDelimiter;
  /** Absent: "." (with ";" as the delimiter a value written with a decimal comma, 1,5, reads as 1.5 too). */
  decimal?: CsvDecimal;
}

/** `--delimiter`'s value: ",", ";", a tab ("\t" as typed, a real tab, or "tab"); undefined for anything else. */
export function parseDelimiter(value: string): CsvDelimiter | undefined {
  if (value === ',' || value === ';' || value === '\t') return value;
  if (value === '\\t' || value.toLowerCase() === 'tab') return '\t';
  return undefined;
}

/** `--decimal`'s value: "." or ","; undefined for anything else. */
export function parseDecimal(value: string): CsvDecimal | undefined {
  return value === '.' || value === ',' ? value : undefined;
}

/** A delimiter as messages name it. */
function delimiterName(delimiter: number): string {
  return delimiter === TAB ? 'tab' : delimiter === SEMICOLON ? '";"' : `"${String.fromCharCode(delimiter)}"`;
}

export interface ReadOptions {
  /** Where the file may be read from (none: anywhere, for callers that checked themselves). */
  boundary?: DriftBoundary;
  /** Stops the read between chunks (DriftCancelled). */
  signal?: AbortSignal;
  /** CSV: every row through the general scanner; Parquet: every column through hyparquet (tests compare them with the fast paths). */
  _generalScanner?: boolean;
  /** Parquet: decode only these columns (the others are registered with every value missing). */
  decode?: ReadonlySet<string>;
  /** CSV: the field delimiter (absent: detected from the header line). */
  delimiter?: CsvDelimiter;
  /** CSV: the decimal mark (absent: ".", and with ";" as the delimiter a decimal comma too). */
  decimal?: CsvDecimal;
  /** CSV: only these columns are checked for numbers that do not parse (absent or empty: every column). */
  columns?: readonly string[];
}

export function formatOf(path: string): DataFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.csv' || ext === '.tsv' || ext === '.txt') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.parquet' || ext === '.pq') return 'parquet';
  throw new DriftError(
    `${path}: unknown data format "${clip(ext) || '(no extension)'}"`,
    'Use .csv, .tsv, .jsonl, .ndjson or .parquet.',
    path,
  );
}

/** The first part of `path` below the boundary's root that is a symbolic link leading outside it. */
function linkLeadingOutside(boundary: Boundary, path: string): string | undefined {
  const absolute = resolve(boundary.root, path);
  let current = boundary.root;
  for (const part of relative(boundary.root, absolute).split(sep).filter(Boolean)) {
    current = join(current, part);
    try {
      if (!lstatSync(current).isSymbolicLink()) continue;
      if (!within(boundary.real, realpathSync.native(current))) return current;
    } catch {
      // a dangling link, or one that loops: it leads nowhere inside either
      return current;
    }
  }
  return undefined;
}

/**
 * Opens a dataset to read, through the boundary when there is one: a path inside the boundary
 * that leads outside through a link (the file itself or a folder on the way) is refused, naming
 * the link and never reading or showing what it points to; with `outside: 'refuse'` a path that is
 * outside to begin with is refused too (paths a pipeline file names).
 */
export function openDataset(path: string, boundary?: DriftBoundary): { fd: number; size: number } {
  let fd: number;
  let stat: Stats;
  try {
    if (boundary) {
      const guard = new Boundary(boundary.root);
      if (boundary.outside === 'refuse' && !guard.contains(path)) {
        throw new DriftError(
          `${escapeControls(path)}: refusing to read it: it is outside ${escapeControls(guard.root)}${boundary.what ? ` (${boundary.what})` : ''}`,
          'A pipeline reads its data from its own folder: move the file there, or give the path on the command line (mlpipe drift REFERENCE CURRENT).',
          path,
        );
      }
      try {
        ({ fd, stat } = guard.openRead(path));
      } catch (error) {
        if (!(error instanceof BoundaryError)) throw error;
        const link = linkLeadingOutside(guard, path);
        if (link === undefined)
          throw new DriftError(
            `${escapeControls(path)}: ${escapeControls(error.message)}`,
            'Give the path of a regular data file.',
            path,
          );
        const self = resolve(guard.root, path) === link;
        throw new DriftError(
          `${escapeControls(guard.show(path))}: refusing to read it: ${self ? 'it' : escapeControls(guard.show(link))} is a symbolic link that leads outside ${escapeControls(guard.root)}${boundary.what ? ` (${boundary.what})` : ''}`,
          'mlpipe reads data only inside the workspace. Replace the link with the file itself (or, for your own file, give its real path on the command line).',
          path,
        );
      }
    } else {
      fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
      try {
        stat = fstatSync(fd);
      } catch (error) {
        closeSync(fd);
        throw error;
      }
    }
  } catch (error) {
    if (error instanceof DriftError) throw error;
    throw new DriftError(
      `cannot read ${escapeControls(path)}: ${escapeControls((error as Error).message)}`,
      'Check the path.',
      path,
    );
  }
  if (!stat.isFile()) {
    closeSync(fd);
    throw new DriftError(`${escapeControls(path)} is not a file`, 'Give the path of a data file.', path);
  }
  return { fd, size: stat.size };
}

export async function readDataset(path: string, sink: DatasetAccumulator, options: ReadOptions = {}): Promise<void> {
  const format = formatOf(path);
  throwIfCancelled(options.signal);
  const { fd, size } = openDataset(path, options.boundary);
  try {
    if (size === 0) throw new DriftError(`${path} is empty`, 'Give a file with a header row and data rows.', path);
    if (format === 'csv')
      await readCsv(path, fd, sink, options.signal, options._generalScanner, {
        delimiter: options.delimiter,
        decimal: options.decimal,
        columns: options.columns,
      });
    else if (format === 'jsonl') await readJsonLines(path, fd, sink, options.signal);
    else await readParquetFile(path, fd, size, sink, options.signal, options._generalScanner, options.decode);
  } finally {
    closeSync(fd);
  }
  for (const column of sink.columns.values()) column.finish();
  if (sink.rows === 0) {
    throw new DriftError(`${path} has no data rows`, 'Give a file with at least one data row.', path);
  }
}

/** A Parquet file's top-level column names from its footer (opened as a read opens it); null for other formats. */
export async function parquetColumnNames(path: string, boundary?: DriftBoundary): Promise<string[] | null> {
  if (formatOf(path) !== 'parquet') return null;
  const { fd, size } = openDataset(path, boundary);
  try {
    if (size === 0) return null;
    return await readParquetNames(path, fd, size);
  } finally {
    closeSync(fd);
  }
}

function tooManyColumns(path: string, line: number, what: string): DriftError {
  return new DriftError(
    `${path}:${line}: ${what}; mlpipe compares at most ${MAX_COLUMNS.toLocaleString('en-US')} columns`,
    'Choose the columns to compare in a narrower file (see "Limits" in docs/drift.md).',
    path,
    line,
  );
}

function recordTooLong(path: string, line: number, what: string): DriftError {
  return new DriftError(
    `${path}:${line}: ${what} longer than ${MAX_RECORD_BYTES / (1024 * 1024)} MiB`,
    'Check that this is a data file with one record per line (see "Limits" in docs/drift.md).',
    path,
    line,
  );
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

/**
 * The delimiter a header line uses: the one of comma, semicolon and tab it holds most of outside
 * quotes (a tie goes to comma, then tab); a comma when it holds none (a single column). Leading
 * blank lines are passed over, as the scanner passes over them.
 */
export function detectDelimiter(buf: Uint8Array, end = buf.length): number {
  let i = 0;
  while (i < end && (buf[i] === LF || buf[i] === CR)) i++;
  let commas = 0;
  let semicolons = 0;
  let tabs = 0;
  let quoted = false;
  for (; i < end; i++) {
    const c = buf[i];
    if (c === QUOTE) quoted = !quoted;
    else if (quoted) continue;
    else if (c === LF) break;
    else if (c === COMMA) commas++;
    else if (c === SEMICOLON) semicolons++;
    else if (c === TAB) tabs++;
  }
  if (semicolons > commas && semicolons > tabs) return SEMICOLON;
  if (tabs > commas) return TAB;
  return COMMA;
}

/**
 * A number written another way than mlpipe reads it: a decimal comma (1,5), thousands separators
 * (1,234.5, 1.234,5, 1 234, 1'234), with an exponent or not. Dates (01.02.2024), versions and
 * addresses (1.2.3, 10.0.0.1) are not: their groups are not of three digits.
 */
const OTHER_NOTATION =
  /^[+-]?(?:\d+,\d*|,\d+|\d{1,3}([.,' \u00a0\u202f])\d{3}(?:\1\d{3})*(?:[.,]\d+)?)(?:[eE][+-]?\d+)?$/;

/** The bytes could be a number in another notation (only then is the text decoded and tried with OTHER_NOTATION). */
function mayBeOtherNotation(buf: Uint8Array, start: number, end: number): boolean {
  if (end - start > 64) return false;
  let digits = false;
  for (let k = start; k < end; k++) {
    const c = buf[k];
    if (c >= 48 && c <= 57) digits = true;
    else if (
      c !== COMMA &&
      c !== DOT &&
      c !== SPACE &&
      c !== 39 /* ' */ &&
      c !== MINUS &&
      c !== PLUS &&
      c !== 101 /* e */ &&
      c !== 69 /* E */ &&
      c < 0x80 // the bytes of a no-break space (C2 A0, E2 80 AF) and others: the pattern decides
    )
      return false;
  }
  return digits;
}

/** How a CSV file's values were read, for messages: `decimal "," (delimiter ";")`. */
function readAs(delimiter: number, decimal: 'dot' | 'comma' | 'both'): string {
  const mark = decimal === 'dot' ? '"."' : decimal === 'comma' ? '","' : '"," or "."';
  return `decimal mark ${mark} (delimiter ${delimiterName(delimiter)})`;
}

export async function readCsv(
  path: string,
  fd: number,
  sink: DatasetAccumulator,
  signal?: AbortSignal,
  generalOnly = false,
  dialect: CsvDialect & { columns?: readonly string[] } = {},
): Promise<void> {
  let delimiter = dialect.delimiter === undefined ? -1 : dialect.delimiter.charCodeAt(0);
  // decimal marks: "." (dot), "," (comma: a number written with "." is text), or either (both:
  // ";" as the delimiter and no --decimal, the European default); set once the delimiter is known
  let decimal: 'dot' | 'comma' | 'both' = 'dot';
  let markA = DOT;
  let markB = DOT;
  let header: string[] | null = null;
  let headerLine = 1;
  let columns: ColumnAccumulator[] = [];
  let width = 0;
  let starts = new Int32Array(256);
  let ends = new Int32Array(256);
  let quotedFlags = new Uint8Array(256);
  let line = 1; // line of the next row's start
  let checkedBinary = false;
  // the first row with more fields than the header: its data row number and its fields
  let firstLongRow = 0;
  let firstLongFields = 0;
  // per column: values that look like numbers written another way (OTHER_NOTATION, or "1.5" with
  // --decimal ,) but are not numbers as read, the first of them and its line
  let otherNotation = new Float64Array(0);
  let otherExample: string[] = [];
  let otherLine = new Int32Array(0);
  let checked: boolean[] = [];

  const noteOther = (f: number, text: string, rowLine: number): void => {
    if (otherNotation[f]++ === 0) {
      otherExample[f] = text;
      otherLine[f] = rowLine;
    }
  };

  /** After a field went to its column as text: counted when it looks like a number written another way. */
  const checkText = (f: number, text: string, rowLine: number): void => {
    if (checked[f] && text.length <= 64 && OTHER_NOTATION.test(text.trim())) noteOther(f, text, rowLine);
  };

  /** An unquoted field (the general scanner's, or one the fast path did not read as a number). */
  const addField = (f: number, buf: Buffer, start: number, end: number, rowLine: number): void => {
    const column = columns[f];
    if (decimal !== 'dot') {
      let comma = false;
      let dot = false;
      for (let k = start; k < end; k++) {
        const c = buf[k];
        if (c === COMMA) comma = true;
        else if (c === DOT) dot = true;
      }
      if (comma && !dot) {
        if (parseNumberBytes(buf, start, end, COMMA)) {
          column.addNumber(parsed.value, parsed.isInt);
          return;
        }
        // an exponent or a long mantissa, as addBytes reads them with "."
        const text = buf.toString('utf8', start, end);
        if (parseNumberString(text.replace(',', '.'))) {
          column.addNumber(parsed.value, parsed.isInt);
          return;
        }
      } else if (dot && !comma && decimal === 'comma') {
        // --decimal ,: a number written with "." is text (as pandas reads it with decimal=",")
        const text = buf.toString('utf8', start, end);
        if (parseNumberString(text)) {
          column.addString(text, rowLine);
          if (checked[f]) noteOther(f, text, rowLine);
          return;
        }
      }
    }
    const before = column.stringCount;
    column.addBytes(buf, start, end, rowLine);
    if (column.stringCount !== before && checked[f] && mayBeOtherNotation(buf, start, end))
      checkText(f, buf.toString('utf8', start, end), rowLine);
  };

  /** A quoted field, unquoted: read as an unquoted one would be. */
  const addQuoted = (f: number, text: string, rowLine: number): void => {
    const column = columns[f];
    if (decimal !== 'dot') {
      const comma = text.indexOf(',') !== -1;
      const dot = text.indexOf('.') !== -1;
      if (comma && !dot && parseNumberString(text.replace(',', '.'))) {
        column.addNumber(parsed.value, parsed.isInt);
        return;
      }
      if (dot && !comma && decimal === 'comma' && parseNumberString(text)) {
        column.addString(text, rowLine);
        if (checked[f]) noteOther(f, text, rowLine);
        return;
      }
    }
    const before = column.stringCount;
    column.addText(text, rowLine);
    if (column.stringCount !== before) checkText(f, text, rowLine);
  };

  const handleRow = (buf: Buffer, fieldCount: number, rowLine: number, allFields: number): void => {
    if (header === null) {
      headerLine = rowLine;
      if (fieldCount > MAX_COLUMNS)
        throw tooManyColumns(path, rowLine, `the header has ${fieldCount.toLocaleString('en-US')} fields`);
      const raw: string[] = [];
      for (let f = 0; f < fieldCount; f++) {
        raw.push(quotedFlags[f] ? unquote(buf, starts[f], ends[f]) : buf.toString('utf8', starts[f], ends[f]));
      }
      // (the file's BOM is gone before the scan; this is one inside the first name's quotes)
      if (raw.length > 0 && raw[0].charCodeAt(0) === 0xfeff) raw[0] = raw[0].slice(1);
      header = headerNames(raw);
      width = header.length;
      sink.setColumnCount(width);
      columns = header.map((name) => sink.column(name));
      otherNotation = new Float64Array(width);
      otherExample = new Array<string>(width).fill('');
      otherLine = new Int32Array(width);
      const only = dialect.columns && dialect.columns.length > 0 ? new Set(dialect.columns) : null;
      checked = header.map((name) => only === null || only.has(name));
      // room for every field of a row and one more: a longer row is only counted (see scan)
      while (starts.length < width + 2) grow();
      // wide rows are staged a block at a time and handed to the columns column by column
      blockRows = width >= WIDE_ROW ? Math.max(1, Math.floor(BLOCK_VALUES / width)) : 1;
      stagedValues = new Float64Array(blockRows * (width + 1));
      stagedKinds = new Uint8Array(blockRows * (width + 1));
      stagedStarts = new Int32Array(blockRows * (width + 1));
      stagedEnds = new Int32Array(blockRows * (width + 1));
      stagedLines = new Int32Array(blockRows);
      // the fast path reads a decimal mark as a number's: not when it is the delimiter too
      fast = !generalOnly && FAST_UNSAFE.indexOf(delimiter) === -1 && delimiter !== markA && delimiter !== markB;
      return;
    }
    if (fieldCount > width) {
      sink.longRows++;
      if (sink.firstLongLine === 0) {
        sink.firstLongLine = rowLine;
        firstLongRow = sink.rows + sink.longRows;
        firstLongFields = allFields;
      }
      return;
    }
    sink.rows++;
    for (let f = 0; f < fieldCount; f++) {
      if (quotedFlags[f]) addQuoted(f, unquote(buf, starts[f], ends[f]), rowLine);
      else addField(f, buf, starts[f], ends[f], rowLine);
    }
    if (fieldCount < width) shortRow(fieldCount, rowLine);
  };

  const shortRow = (fieldCount: number, rowLine: number): void => {
    sink.shortRows++;
    if (sink.firstShortLine === 0) sink.firstShortLine = rowLine;
    for (let f = fieldCount; f < width; f++) columns[f].missing++;
  };

  // The fast path's row, staged until its end is seen: per field a number (kind 1; 2 when written
  // as an integer) or its bytes (kind 0: starts/ends, given to addBytes as the general scanner does).
  let stagedValues = new Float64Array(0);
  let stagedKinds = new Uint8Array(0);
  let stagedStarts = new Int32Array(0);
  let stagedEnds = new Int32Array(0);
  let stagedLines = new Int32Array(0);
  let blockRows = 1;
  let staged = 0;

  /**
   * Hands the staged rows of a wide table to their columns, one column at a time (each column
   * still gets its values in row order, so its accumulator ends the same): a column's state stays
   * in the cache for the block instead of being fetched again for every row.
   */
  const flushBlock = (buf: Buffer): void => {
    const rows = staged;
    if (rows === 0) return;
    staged = 0;
    const stride = width + 1;
    for (let f = 0; f < width; f++) {
      const column = columns[f];
      for (let r = 0, at = f; r < rows; r++, at += stride) {
        const kind = stagedKinds[at];
        if (kind === 1 || kind === 2) column.addNumber(stagedValues[at], kind === 2);
        else if (kind === 0) addField(f, buf, stagedStarts[at], stagedEnds[at], stagedLines[r]);
      }
    }
  };
  let fast = false;

  /**
   * One data row without quotes and with no more fields than the header, read in one pass over its
   * bytes: a field that is a plain decimal (what parseNumberBytes accepts, with the same value; its
   * decimal mark "." or the file's, as addField reads it) is parsed while it is scanned, any other
   * field goes to addField exactly as the general scanner would give it. Returns where the next row starts, or -1 (nothing added) when the row needs the
   * general scanner: a field starting with a quote, more fields than the header, the buffer ending
   * before the row does.
   */
  const fastRow = (buf: Buffer, start: number, len: number): number => {
    const delim = delimiter;
    const w = width;
    const mark = markA;
    const otherMark = markB;
    // this row's fields in the staging arrays: base + f
    const base = staged * (w + 1);
    const values = stagedValues;
    const kinds = stagedKinds;
    const fieldStarts = stagedStarts;
    const fieldEnds = stagedEnds;
    let j = start;
    let f = 0;
    for (;;) {
      if (j >= len) return -1;
      const fieldStart = j;
      let c = buf[j];
      if (c === QUOTE) return -1;
      let negative = false;
      if (c === MINUS) {
        negative = true;
        j++;
      } else if (c === PLUS) j++;
      const digitsStart = j;
      // the first 9 digits in a small integer (a short dependency chain per byte), any more in a
      // double: head * 10^more + tail is the same exact integer below 2^53 (15 digits at most)
      let head = 0;
      let tail = 0;
      let digits = 0;
      let dot = -1;
      while (j < len) {
        c = buf[j];
        const d = c - 48;
        if (d >= 0 && d <= 9) {
          if (digits < 9) head = head * 10 + d;
          else tail = tail * 10 + d;
          digits++;
          j++;
        } else if ((c === mark || c === otherMark) && dot < 0) {
          dot = j;
          j++;
        } else break;
      }
      if (j >= len) return -1;
      let end = j;
      let rowEnds = false;
      let numeric = true;
      if (c === delim) {
        // the field ends here
      } else if (c === LF) rowEnds = true;
      else if (c === CR && j + 1 < len && buf[j + 1] === LF) {
        rowEnds = true;
        j++;
      } else {
        // not a plain decimal: the rest of the field, as the general scanner cuts it
        numeric = false;
        while (j < len) {
          c = buf[j];
          if (c === delim || c === LF) break;
          j++;
        }
        if (j >= len) return -1;
        end = j;
        if (c === LF) {
          rowEnds = true;
          if (end > fieldStart && buf[end - 1] === CR) end--;
        }
      }
      if (numeric) {
        // parseNumberBytes's rules: at most 16 characters after the sign, 1 to 15 digits
        if (end - digitsStart > 16 || digits === 0 || digits > 15) numeric = false;
        else {
          const mantissa = digits > 9 ? head * POW10[digits - 9] + tail : head;
          const fraction = dot >= 0 ? end - dot - 1 : 0;
          const value = fraction ? mantissa / POW10[fraction] : mantissa;
          values[base + f] = negative ? -value : value;
          kinds[base + f] = dot < 0 ? 2 : 1;
        }
      }
      if (!numeric) {
        fieldStarts[base + f] = fieldStart;
        fieldEnds[base + f] = end;
        kinds[base + f] = 0;
      }
      f++;
      j++;
      if (rowEnds) break;
      // more fields than the header: the general scanner counts the row and skips it
      if (f >= w) return -1;
    }
    const rowLine = line;
    line++;
    // a blank line is not a row
    if (f === 1 && kinds[base] === 0 && fieldStarts[base] === fieldEnds[base]) return j;
    sink.rows++;
    if (blockRows === 1) {
      for (let k = 0; k < f; k++) {
        const kind = kinds[k];
        if (kind === 0) addField(k, buf, fieldStarts[k], fieldEnds[k], rowLine);
        else columns[k].addNumber(values[k], kind === 2);
      }
    } else {
      // fields the row lacks are counted missing by shortRow: nothing to hand over
      for (let k = f; k < w; k++) kinds[base + k] = ABSENT;
      stagedLines[staged++] = rowLine;
      if (staged === blockRows) flushBlock(buf);
    }
    if (f < w) shortRow(f, rowLine);
    return j;
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

  /** Scans complete rows of buf (staged rows handed over before it returns: the buffer moves after); returns where the unfinished row starts. */
  const scan = (buf: Buffer, final: boolean): number => {
    try {
      return scanRows(buf, final);
    } finally {
      flushBlock(buf);
    }
  };

  const scanRows = (buf: Buffer, final: boolean): number => {
    const len = buf.length;
    const delim = delimiter;
    const maxSpecial = Math.max(delim, QUOTE, LF);
    let i = 0;
    while (i < len) {
      if (fast) {
        const next = fastRow(buf, i, len);
        if (next !== -1) {
          i = next;
          continue;
        }
      }
      const rowStart = i;
      const rowLine = line;
      let newlines = 0;
      let f = 0;
      // fields of a row longer than the header beyond the ones kept (counted for the message)
      let extra = 0;
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
          if (f + 1 >= starts.length) {
            // A row longer than the header is skipped whole: its extra fields are counted, not kept.
            if (header !== null) {
              f--;
              extra++;
            } else if (f + 1 >= MAX_COLUMNS)
              throw tooManyColumns(
                path,
                rowLine,
                `the header has more than ${MAX_COLUMNS.toLocaleString('en-US')} fields`,
              );
            else grow();
          }
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
      // rows reach the columns in order: the staged ones first
      flushBlock(buf);
      handleRow(buf, f, rowLine, f + extra);
    }
    return len;
  };

  // One reusable buffer: the unfinished row moves to its start before the next read, so reading
  // allocates nothing per chunk (it grows only for a row longer than the buffer).
  let buf = Buffer.allocUnsafe(CHUNK);
  let filled = 0;
  {
    for (;;) {
      throwIfCancelled(signal);
      if (filled === buf.length) {
        if (buf.length >= MAX_RECORD_BYTES) throw recordTooLong(path, line, `the row that starts here is`);
        const grown = Buffer.allocUnsafe(Math.min(MAX_RECORD_BYTES, buf.length * 2));
        buf.copy(grown, 0, 0, filled);
        buf = grown;
      }
      const { bytesRead } = await readAsync(fd, buf, filled, buf.length - filled, null);
      if (bytesRead === 0) break;
      filled += bytesRead;
      if (!checkedBinary) {
        checkedBinary = true;
        if ((buf[0] === 0xff && buf[1] === 0xfe) || (buf[0] === 0xfe && buf[1] === 0xff)) {
          throw new DriftError(
            `${path}: this is UTF-16 text; mlpipe reads CSV files written in UTF-8`,
            'Save the file as UTF-8 CSV (in Excel: "CSV UTF-8"), or convert it: iconv -f UTF-16 -t UTF-8.',
            path,
          );
        }
        // a UTF-8 BOM goes before the scan, so a quoted first name is read as quoted
        if (filled >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) {
          buf.copyWithin(0, 3, filled);
          filled -= 3;
        }
        const probe = buf.subarray(0, Math.min(filled, 65536));
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
        if (delimiter === -1) delimiter = /\.tsv$/i.test(path) ? TAB : detectDelimiter(probe);
        if (dialect.decimal === ',') {
          decimal = 'comma';
          markA = markB = COMMA;
        } else if (dialect.decimal === undefined && delimiter === SEMICOLON) {
          decimal = 'both';
          markB = COMMA;
        }
      }
      const view = buf.subarray(0, filled);
      const consumed = scan(view, false);
      if (consumed > 0) {
        buf.copyWithin(0, consumed, filled);
        filled -= consumed;
      }
    }
    if (filled > 0) scan(buf.subarray(0, filled), true);
  }
  if (header === null) {
    throw new DriftError(`${path} is empty`, 'Give a file with a header row and data rows.', path);
  }
  const names: string[] = header;
  if (sink.rows === 0 && sink.longRows > 0) {
    const how = dialect.delimiter === undefined ? ', detected from the header' : '';
    throw new DriftError(
      `${path}:${sink.firstLongLine}: row ${firstLongRow.toLocaleString('en-US')} has ${firstLongFields.toLocaleString('en-US')} fields, but the header (line ${headerLine}) has ${plural(width, 'field')}; ${sink.longRows === 1 ? 'the only data row has' : `all ${sink.longRows.toLocaleString('en-US')} data rows have`} more fields than the header, so none could be read`,
      `Name every column in the header, or check the delimiter: the file was read with delimiter ${delimiterName(delimiter)}${how} (give --delimiter ",", ";" or tab).`,
      path,
      sink.firstLongLine,
    );
  }
  for (let f = 0; f < width; f++) {
    const bad = otherNotation[f];
    if (bad === 0) continue;
    const column = columns[f];
    const values = column.numericCount + column.infinite + column.stringCount;
    if (bad * 2 <= values) continue;
    const example = otherExample[f];
    throw new DriftError(
      `${path}:${otherLine[f]}: column ${clip(names[f])}: ${bad.toLocaleString('en-US')} of its ${plural(values, 'value')} look like numbers but do not read as numbers with ${readAs(delimiter, decimal)}; the first is "${clip(example)}"; mlpipe stops rather than compare the column as text`,
      notationHint(example, decimal),
      path,
      otherLine[f],
    );
  }
}

function plural(count: number, what: string): string {
  return `${count.toLocaleString('en-US')} ${what}${count === 1 ? '' : 's'}`;
}

/** What to do about numbers written another way than they were read. */
function notationHint(example: string, decimal: 'dot' | 'comma' | 'both'): string {
  const text = example.trim();
  if (decimal === 'comma' && /^[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?$/.test(text))
    return 'The file writes decimals with a point (1.5): give --decimal . or leave --decimal out.';
  if (decimal === 'dot' && /^[+-]?(\d+,\d*|,\d+)([eE][+-]?\d+)?$/.test(text)) {
    return 'If the file writes decimals with a comma (1,5), give --decimal , ; if the commas separate thousands (1,234), write the numbers without them.';
  }
  return `Write the numbers without thousands separators (1234.5, or 1234,5 with --decimal ,).`;
}

function countLines(buf: Buffer, end: number): number {
  let n = 0;
  for (let i = 0; i < end; i++) if (buf[i] === LF) n++;
  return n;
}

/** Where a JSON text nests deeper than `max` (the index), or -1; strings are skipped. */
function tooDeepAt(text: string, max: number): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      // a string: skip to its closing quote (\" inside does not close it)
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 92) i++;
        else if (d === 34) break;
      }
    } else if (c === 123 || c === 91) {
      if (++depth > max) return i;
    } else if (c === 125 || c === 93) depth--;
  }
  return -1;
}

export async function readJsonLines(
  path: string,
  fd: number,
  sink: DatasetAccumulator,
  signal?: AbortSignal,
): Promise<void> {
  // Per key: its column, the rows read before it first appeared, and the rows it appeared in. A
  // key absent from a row counts as missing there, settled once at the end (not per row and key).
  const keys = new Map<string, { column: ColumnAccumulator; since: number; present: number }>();
  let line = 0;
  let sized = false;
  const handle = (text: string): void => {
    line++;
    const trimmed = text.trim();
    if (trimmed === '') return;
    // JSON.parse builds any depth (and slowly); the values are stringified later, which recurses
    const deep =
      trimmed.indexOf('[') !== -1 || trimmed.indexOf('{', 1) !== -1 ? tooDeepAt(trimmed, MAX_JSON_DEPTH) : -1;
    if (deep !== -1) {
      throw new DriftError(
        `${path}:${line}: a value nested more than ${MAX_JSON_DEPTH} levels deep (at character ${deep + 1})`,
        'Each line must be one JSON object of columns; flatten nested values (see "Limits" in docs/drift.md).',
        path,
        line,
      );
    }
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (error) {
      throw new DriftError(
        `${path}:${line}: not valid JSON (${clip((error as Error).message, 160)})`,
        'Each line of a JSON Lines file must be one JSON object.',
        path,
        line,
      );
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new DriftError(
        `${path}:${line}: not a JSON object`,
        'Each line must be one JSON object: {"column": value, ...}.',
        path,
        line,
      );
    }
    const record = value as Record<string, unknown>;
    const names = Object.keys(record);
    if (!sized) {
      sized = true;
      sink.setColumnCount(Math.min(names.length, MAX_COLUMNS));
    }
    for (const key of names) {
      let entry = keys.get(key);
      if (entry === undefined) {
        if (keys.size >= MAX_COLUMNS)
          throw tooManyColumns(
            path,
            line,
            `more than ${MAX_COLUMNS.toLocaleString('en-US')} distinct keys (the next is "${clip(key)}")`,
          );
        entry = { column: sink.column(key), since: sink.rows, present: 0 };
        keys.set(key, entry);
      }
      entry.present++;
      const column = entry.column;
      const v = record[key];
      if (v === null || v === undefined) column.missing++;
      else if (typeof v === 'number') column.addNumber(v, Number.isInteger(v) && !/[.eE]/.test(String(v)));
      else if (typeof v === 'string') column.addText(v, line);
      else if (typeof v === 'boolean') column.addString(String(v), line);
      else column.addString(JSON.stringify(v), line);
    }
    sink.rows++;
  };

  // Lines are cut from the bytes (a line split between two reads is joined once, when it ends), so
  // a long line costs its length, not its length times the reads it spans.
  const buf = Buffer.allocUnsafe(CHUNK);
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for (;;) {
    throwIfCancelled(signal);
    const { bytesRead } = await readAsync(fd, buf, 0, CHUNK, null);
    if (bytesRead === 0) break;
    const view = buf.subarray(0, bytesRead);
    let start = 0;
    for (let nl = view.indexOf(LF, start); nl !== -1; nl = view.indexOf(LF, start)) {
      if (pendingBytes + nl - start > MAX_RECORD_BYTES) throw recordTooLong(path, line + 1, 'a line');
      if (pending.length > 0) {
        pending.push(view.subarray(start, nl));
        handle(Buffer.concat(pending).toString('utf8'));
        pending = [];
        pendingBytes = 0;
      } else {
        handle(view.toString('utf8', start, nl));
      }
      start = nl + 1;
    }
    if (start < bytesRead) {
      pendingBytes += bytesRead - start;
      if (pendingBytes > MAX_RECORD_BYTES) throw recordTooLong(path, line + 1, 'a line');
      pending.push(Buffer.from(view.subarray(start)));
    }
  }
  if (pending.length > 0) handle(Buffer.concat(pending).toString('utf8'));
  for (const { column, since, present } of keys.values()) column.missing += sink.rows - since - present;
}
