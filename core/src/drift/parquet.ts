/**
 * Parquet for the drift engine: hyparquet decodes, but only after every size the file claims has
 * been checked against the file and the limits of ./limits.ts. hyparquet believes what it reads
 * (a 114-byte file that claims 2^31 values in a page is `new Array(2^31)` and a heap that runs
 * out), so before anything is decoded:
 *
 * - the footer: magic bytes, a metadata length inside the file, its Thrift walked by ./thrift.ts
 *   (lists no longer than the bytes left, nesting and entries capped);
 * - the schema (a tree whose child counts add up, not too deep, at most MAX_COLUMNS columns), the
 *   row groups (row counts that add up) and each column chunk (a byte range inside the file);
 * - every page header of every column chunk: its size inside the chunk, at most MAX_PAGE_BYTES
 *   once decompressed, at most MAX_PAGE_VALUES values, and values that add up to the chunk's and
 *   (flat columns) to the row group's rows.
 *
 * Then row groups are decoded a batch of columns and a slice of rows at a time (values go straight
 * into the accumulators, never into row objects), so memory stays near DECODE_BUDGET_VALUES values
 * whatever the row groups' size.
 */
import { readSync } from 'node:fs';
import { DriftError, throwIfCancelled } from './errors';
import { type ColumnAccumulator, type DatasetAccumulator } from './infer';
import {
  clip,
  DECODE_BUDGET_VALUES,
  MAX_COLUMNS,
  MAX_PAGE_BYTES,
  MAX_PAGE_VALUES,
  MAX_PARQUET_METADATA_BYTES,
  MAX_PARQUET_METADATA_ENTRIES,
} from './limits';
import {
  ENCODING_RLE,
  type FlatPage,
  FlatMalformed,
  flatPageReadable,
  type FlatType,
  PAGE_DATA,
  PAGE_DATA_V2,
  PAGE_DICTIONARY,
  PAGE_INDEX,
  readFlatChunk,
  snappyDecompress,
} from './parquet-flat';
import { field, readStruct, subStruct, ThriftError, type ThriftStruct } from './thrift';

type Hyparquet = typeof import('hyparquet', { with: { 'resolution-mode': 'import' } });
type FileMetaData = ReturnType<Hyparquet['parquetMetadata']>;
type ColumnData = Parameters<NonNullable<Parameters<Hyparquet['parquetRead']>[0]['onChunk']>>[0];

const MAGIC = 0x31524150; // "PAR1", little-endian
const FOOTER_LIMITS = { maxDepth: 32, maxEntries: MAX_PARQUET_METADATA_ENTRIES };
const PAGE_HEADER_LIMITS = { maxDepth: 8, maxEntries: 100_000 };
const PAGE_HEADER_WINDOW = 4 * 1024;
const MAX_PAGE_HEADER_BYTES = 16 * 1024 * 1024;
const MAX_SCHEMA_DEPTH = 32;
/** Rows of a flat column decoded per call; compressed bytes of a batch of columns held at once. */
const SLICE_ROWS = 1 << 20;
const BATCH_BYTES = 256 * 1024 * 1024;

/** A file whose structure does not hold together: reported as "not a readable Parquet file". */
class Malformed extends Error {}

function readAt(fd: number, position: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, done, length - done, position + done);
    if (n === 0) throw new Malformed('the file ends early (was it changed while it was read?)');
    done += n;
  }
  return out;
}

function count(value: bigint | number | undefined, what: string): number {
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (n === undefined || !Number.isSafeInteger(n) || n < 0)
    throw new Malformed(`${what} is ${value === undefined ? 'missing' : String(value)}`);
  return n;
}

interface Column {
  name: string;
  integer: boolean;
  accumulator: ColumnAccumulator;
}

/** One top-level column in one row group, as its pages describe it. */
interface ChunkPlan {
  column: number;
  /** Compressed bytes of its chunks; values decoded at once when read in slices; all its values. */
  bytes: number;
  slicePeak: number;
  values: number;
  flat: boolean;
  /** A flat numeric chunk read by parquet-flat.ts (its byte range and pages), or null: hyparquet reads it. */
  direct: { start: number; length: number; pages: FlatPage[] } | null;
}

/** How parquet-flat.ts reads a top-level column, or null when hyparquet does. */
interface FlatColumn {
  type: FlatType;
  optional: boolean;
}

export async function readParquetFile(
  path: string,
  fd: number,
  size: number,
  sink: DatasetAccumulator,
  signal?: AbortSignal,
  hyparquetOnly = false,
  decode?: ReadonlySet<string>,
): Promise<void> {
  await withErrors(path, (tooLarge) => read(fd, size, sink, signal, tooLarge, { hyparquetOnly, decode }));
}

/** The file's top-level column names, from its footer (checked as a read checks it), in order. */
export async function readParquetNames(path: string, fd: number, size: number): Promise<string[]> {
  const names: string[] = [];
  await withErrors(path, (tooLarge) => read(fd, size, null, undefined, tooLarge, { hyparquetOnly: false, names }));
  return names;
}

/** How a read goes: hyparquet for every column (tests), only some columns decoded, or only the names wanted. */
interface ReadMode {
  hyparquetOnly: boolean;
  /** Decode only these columns (the others are registered, empty): a wide table read a group of columns at a time. */
  decode?: ReadonlySet<string>;
  /** Collect the top-level names here and stop after the schema. */
  names?: string[];
}

async function withErrors(path: string, run: (tooLarge: (what: string) => DriftError) => Promise<void>): Promise<void> {
  const unreadable = (reason: string): DriftError =>
    new DriftError(
      `${path}: not a readable Parquet file (${clip(reason, 200)})`,
      'Check that the file is Parquet and complete (write it again, e.g. with pandas DataFrame.to_parquet).',
      path,
    );
  const tooLarge = (what: string): DriftError =>
    new DriftError(
      `${path}: ${what}, more than mlpipe reads`,
      'See "Limits" in docs/drift.md; split the data or write it with smaller pages and row groups.',
      path,
    );
  try {
    await run(tooLarge);
  } catch (error) {
    if (error instanceof Malformed || error instanceof ThriftError || error instanceof FlatMalformed)
      throw unreadable(error.message);
    if (error instanceof DriftError) throw error;
    // hyparquet's own complaint about a file that passed the checks
    throw unreadable(error instanceof Error ? error.message : String(error));
  }
}

async function read(
  fd: number,
  size: number,
  sink: DatasetAccumulator | null,
  signal: AbortSignal | undefined,
  tooLarge: (what: string) => DriftError,
  mode: ReadMode,
): Promise<void> {
  const { hyparquetOnly, decode } = mode;
  if (size < 12) throw new Malformed(`${size} bytes is too short for Parquet`);
  const head = readAt(fd, 0, 4);
  const tail = readAt(fd, size - 8, 8);
  if (head.readUInt32LE(0) !== MAGIC || tail.readUInt32LE(4) !== MAGIC)
    throw new Malformed('it does not start and end with PAR1');
  const metadataLength = tail.readUInt32LE(0);
  if (metadataLength > size - 12)
    throw new Malformed(`the footer claims ${metadataLength} bytes of metadata in a file of ${size} bytes`);
  if (metadataLength > MAX_PARQUET_METADATA_BYTES)
    throw tooLarge(
      `its metadata is ${metadataLength.toLocaleString('en-US')} bytes (limit ${MAX_PARQUET_METADATA_BYTES.toLocaleString('en-US')})`,
    );
  const footer = readAt(fd, size - 8 - metadataLength, metadataLength + 8);
  try {
    readStruct(footer, 0, metadataLength, FOOTER_LIMITS, false);
  } catch (error) {
    if (error instanceof ThriftError && error.message.startsWith('holds more than'))
      throw tooLarge(`its metadata ${error.message}`);
    if (error instanceof ThriftError) throw new Malformed(`its metadata ${error.message}`);
    throw error;
  }
  const hyparquet = await import('hyparquet');
  let metadata: FileMetaData;
  try {
    metadata = hyparquet.parquetMetadata(footer);
  } catch (error) {
    throw new Malformed(error instanceof Error ? error.message : String(error));
  }
  const dataEnd = size - 8 - metadataLength;

  // The schema: a flat list that is a tree by its child counts.
  const schema = metadata.schema;
  if (!Array.isArray(schema) || schema.length === 0) throw new Malformed('it has no schema');
  const topLevel: { name: string; integer: boolean; flat: FlatColumn | null }[] = [];
  const leaves = new Set<string>();
  const flatLeaves = new Set<string>();
  {
    const remaining = [count(schema[0].num_children ?? 0, "the root's number of columns")];
    const names: string[] = [];
    let position = 1;
    while (remaining.length > 0) {
      if (remaining[remaining.length - 1] === 0) {
        remaining.pop();
        names.pop();
        continue;
      }
      remaining[remaining.length - 1]--;
      const element = schema[position++];
      if (!element) throw new Malformed('its schema ends before its columns do');
      const name = typeof element.name === 'string' ? element.name : '';
      const children = count(element.num_children ?? 0, `the number of children of ${name}`);
      if (remaining.length === 1)
        topLevel.push({
          name,
          integer: element.type === 'INT32' || element.type === 'INT64',
          flat: flatColumn(element),
        });
      if (topLevel.length > MAX_COLUMNS)
        throw tooLarge(`it has more than ${MAX_COLUMNS.toLocaleString('en-US')} columns`);
      if (children > 0) {
        if (remaining.length >= MAX_SCHEMA_DEPTH)
          throw new Malformed(`its schema nests deeper than ${MAX_SCHEMA_DEPTH} levels`);
        remaining.push(children);
        names.push(name);
      } else {
        const leaf = [...names, name].join('\u0000');
        leaves.add(leaf);
        if (remaining.length === 1 && element.repetition_type !== 'REPEATED') flatLeaves.add(leaf);
        if (leaves.size > MAX_COLUMNS)
          throw tooLarge(`it has more than ${MAX_COLUMNS.toLocaleString('en-US')} leaf columns`);
      }
    }
    if (position !== schema.length)
      throw new Malformed(`its schema lists ${schema.length} elements, its tree ${position}`);
  }
  const byName = new Map<string, number>();
  topLevel.forEach((column, index) => {
    if (byName.has(column.name)) throw new Malformed(`column ${clip(column.name)} appears twice`);
    byName.set(column.name, index);
  });
  if (mode.names || sink === null) {
    mode.names?.push(...topLevel.map((column) => column.name));
    return;
  }

  // Row groups and their column chunks: ranges inside the file, rows that add up.
  const groups = metadata.row_groups ?? [];
  let total = 0;
  const plans: ChunkPlan[][] = [];
  for (let g = 0; g < groups.length; g++) {
    const group = groups[g];
    const rows = count(group.num_rows, `the row count of row group ${g}`);
    total += rows;
    if (group.columns.length !== leaves.size)
      throw new Malformed(`row group ${g} has ${group.columns.length} column chunks for ${leaves.size} columns`);
    const byColumn = new Map<number, ChunkPlan>();
    for (const chunk of group.columns) {
      const meta = chunk.meta_data;
      if (!meta) throw new Malformed(`a column chunk of row group ${g} has no metadata`);
      if (chunk.file_path)
        throw new Malformed(
          `row group ${g} keeps a column in another file (${clip(String(chunk.file_path))}); mlpipe reads one file`,
        );
      const leaf = (meta.path_in_schema ?? []).join('\u0000');
      const column = byName.get(meta.path_in_schema?.[0] ?? '');
      if (!leaves.has(leaf) || column === undefined)
        throw new Malformed(`row group ${g} has a chunk for a column the schema does not have`);
      const what = `column ${clip(topLevel[column].name)} in row group ${g}`;
      const start = count(meta.dictionary_page_offset || meta.data_page_offset, `the offset of ${what}`);
      const length = count(meta.total_compressed_size, `the size of ${what}`);
      if (start < 4 || start + length > dataEnd)
        throw new Malformed(`${what} claims bytes ${start}-${start + length}, outside the data (4-${dataEnd})`);
      const values = count(meta.num_values, `the number of values of ${what}`);
      const flat = flatLeaves.has(leaf);
      const direct =
        !hyparquetOnly && flat && (meta.codec === 'UNCOMPRESSED' || meta.codec === 'SNAPPY')
          ? topLevel[column].flat
          : null;
      const pages = scanPages(fd, start, start + length, meta.codec, what, tooLarge, direct !== null);
      if (pages.values !== values)
        throw new Malformed(`the pages of ${what} hold ${pages.values} values, its metadata says ${values}`);
      if (flat && values !== rows) throw new Malformed(`${what} holds ${values} values for ${rows} rows`);
      const plan = byColumn.get(column) ?? { column, bytes: 0, slicePeak: 0, values: 0, flat: true, direct: null };
      if (pages.flat && !byColumn.has(column)) plan.direct = { start, length, pages: pages.flat };
      plan.bytes += length;
      plan.values += values;
      plan.flat &&= flat;
      plan.slicePeak += Math.min(rows, SLICE_ROWS) + 2 * pages.largest;
      byColumn.set(column, plan);
    }
    for (const plan of byColumn.values()) {
      if (!plan.flat && plan.values > DECODE_BUDGET_VALUES)
        throw tooLarge(
          `nested column ${clip(topLevel[plan.column].name)} holds ${plan.values.toLocaleString('en-US')} values in row group ${g} (limit ${DECODE_BUDGET_VALUES.toLocaleString('en-US')} per row group)`,
        );
    }
    plans.push([...byColumn.values()].sort((a, b) => a.column - b.column));
  }
  if (total !== count(metadata.num_rows, 'the row count'))
    throw new Malformed(`its row groups hold ${total} rows, its metadata says ${String(metadata.num_rows)}`);

  // Decode: per row group, batches of columns within the budgets, each in slices of rows.
  sink.setColumnCount(topLevel.length);
  const columns: Column[] = topLevel.map((column) => ({
    name: column.name,
    integer: column.integer,
    accumulator: sink.column(column.name),
  }));
  const cache = new Map<string, ArrayBuffer>();
  const file = {
    byteLength: size,
    slice(start: number, end: number = size): ArrayBuffer {
      if (!(start >= 0 && start <= end && end <= size))
        throw new Malformed(`a read of bytes ${start}-${end} outside the file`);
      const key = `${start}-${end}`;
      let buffer = cache.get(key);
      if (!buffer) {
        const bytes = readAt(fd, start, end - start);
        buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
        cache.set(key, buffer);
      }
      return buffer;
    },
  };
  let groupStart = 0;
  for (let g = 0; g < groups.length; g++) {
    const rows = Number(groups[g].num_rows);
    const fed = new Array<number>(columns.length).fill(0);
    const wanted = decode ? plans[g].filter((plan) => decode.has(columns[plan.column].name)) : plans[g];
    for (const plan of wanted) {
      if (!plan.direct) continue;
      throwIfCancelled(signal);
      const column = columns[plan.column];
      const flat = topLevel[plan.column].flat as FlatColumn;
      const bytes = readAt(fd, plan.direct.start, plan.direct.length);
      fed[plan.column] += readFlatChunk(
        bytes,
        plan.direct.pages,
        flat.type,
        flat.optional,
        groups[g].columns.find((chunk) => chunk.meta_data?.path_in_schema?.[0] === column.name)?.meta_data?.codec ===
          'SNAPPY'
          ? snappyDecompress
          : null,
        column.accumulator,
        column.integer,
      );
    }
    for (const batch of batches(wanted.filter((plan) => !plan.direct))) {
      cache.clear();
      const sliceRows = batch.every((plan) => plan.flat) ? SLICE_ROWS : Math.max(rows, 1);
      const names = batch.map((plan) => columns[plan.column].name);
      for (let from = 0; from < rows; from += sliceRows) {
        throwIfCancelled(signal);
        const to = Math.min(rows, from + sliceRows);
        await hyparquet.parquetRead({
          file,
          metadata,
          columns: names,
          rowStart: groupStart + from,
          rowEnd: groupStart + to,
          useOffsetIndex: false,
          onChunk: (chunk: ColumnData) => {
            const index = byName.get(chunk.columnName);
            if (index === undefined) return;
            fed[index] += feed(columns[index], chunk, groupStart + from, groupStart + to);
          },
        });
      }
    }
    cache.clear();
    for (let c = 0; c < columns.length; c++) {
      if (decode && !decode.has(columns[c].name)) {
        // not decoded in this pass: its rows count as missing (the report compares it in its own pass)
        columns[c].accumulator.missing += rows;
        continue;
      }
      if (fed[c] !== rows)
        throw new Malformed(
          `column ${clip(columns[c].name)} decoded to ${fed[c]} values for the ${rows} rows of row group ${g}`,
        );
    }
    sink.rows += rows;
    groupStart += rows;
  }
}

/** Columns of a row group in batches whose compressed bytes and decoded values stay within the budgets (one column at least). */
function batches(plans: ChunkPlan[]): ChunkPlan[][] {
  const out: ChunkPlan[][] = [];
  let current: ChunkPlan[] = [];
  let bytes = 0;
  let values = 0;
  for (const plan of plans) {
    const cost = plan.flat ? plan.slicePeak : plan.values;
    if (current.length > 0 && (bytes + plan.bytes > BATCH_BYTES || values + cost > DECODE_BUDGET_VALUES)) {
      out.push(current);
      current = [];
      bytes = 0;
      values = 0;
    }
    current.push(plan);
    bytes += plan.bytes;
    values += cost;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** Feeds the rows [from, to) of a decoded chunk to its column; returns how many it fed. */
function feed(column: Column, chunk: ColumnData, from: number, to: number): number {
  const data = chunk.columnData as ArrayLike<unknown>;
  const first = Math.max(from, chunk.rowStart) - chunk.rowStart;
  const last = Math.min(to, chunk.rowEnd, chunk.rowStart + data.length) - chunk.rowStart;
  const accumulator = column.accumulator;
  for (let i = first; i < last; i++) {
    const v = data[i];
    if (v === null || v === undefined) accumulator.missing++;
    else if (typeof v === 'number') accumulator.addNumber(v, column.integer);
    else if (typeof v === 'bigint') accumulator.addNumber(Number(v), true);
    else if (typeof v === 'string') accumulator.addString(v, 0);
    else if (typeof v === 'boolean') accumulator.addString(String(v), 0);
    else if (v instanceof Date) accumulator.addString(Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString(), 0);
    else
      accumulator.addString(
        JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? String(v),
        0,
      );
  }
  return Math.max(0, last - first);
}

/**
 * Walks the page headers of a column chunk in [start, end) without decoding a page: each header's
 * sizes inside the chunk and the limits. Returns the data values the pages hold and the largest page.
 */
function scanPages(
  fd: number,
  start: number,
  end: number,
  codec: string,
  what: string,
  tooLarge: (what: string) => DriftError,
  wantFlat: boolean,
): { values: number; largest: number; flat: FlatPage[] | null } {
  let window: Buffer = Buffer.alloc(0);
  let windowStart = start;
  let position = start;
  let values = 0;
  let largest = 0;
  let flat: FlatPage[] | null = wantFlat ? [] : null;
  while (position < end) {
    let header: ThriftStruct | undefined;
    let headerEnd = 0;
    let want = PAGE_HEADER_WINDOW;
    for (;;) {
      const inWindow = position >= windowStart && position < windowStart + window.length;
      if (!inWindow) {
        window = readAt(fd, position, Math.min(want, end - position));
        windowStart = position;
      }
      try {
        const read = readStruct(window, position - windowStart, window.length, PAGE_HEADER_LIMITS, true);
        header = read.value;
        headerEnd = windowStart + read.end;
        break;
      } catch (error) {
        // the header may go on past the bytes read so far: read more, up to the chunk or the cap
        const more = error instanceof ThriftError && error.truncated && windowStart + window.length < end;
        if (!more)
          throw error instanceof ThriftError ? new Malformed(`a page header of ${what} ${error.message}`) : error;
        if (want >= MAX_PAGE_HEADER_BYTES)
          throw new Malformed(`a page header of ${what} is longer than ${MAX_PAGE_HEADER_BYTES} bytes`);
        want *= 4;
        window = Buffer.alloc(0);
      }
    }
    const at = `the page at byte ${position} of ${what}`;
    const type = field(header, 1);
    const uncompressed = field(header, 2);
    const compressed = field(header, 3);
    if (uncompressed === undefined || compressed === undefined || uncompressed < 0 || compressed < 0)
      throw new Malformed(`${at} has no valid sizes`);
    if (headerEnd + compressed > end)
      throw new Malformed(`${at} claims ${compressed} bytes, its column chunk has ${end - headerEnd} left`);
    if (uncompressed > MAX_PAGE_BYTES)
      throw tooLarge(
        `${at} claims ${uncompressed.toLocaleString('en-US')} bytes once decompressed (limit ${MAX_PAGE_BYTES.toLocaleString('en-US')})`,
      );
    if (codec === 'UNCOMPRESSED' && type !== PAGE_DATA_V2 && uncompressed !== compressed)
      throw new Malformed(`${at} is stored uncompressed but claims ${uncompressed} bytes in ${compressed}`);
    let pageValues = 0;
    const page: FlatPage = {
      type: type ?? -1,
      start: headerEnd - start,
      compressed,
      uncompressed,
      values: 0,
      encoding: -1,
      definitionBytes: 0,
      repetitionBytes: 0,
      dataCompressed: codec !== 'UNCOMPRESSED',
    };
    let definitionEncoding: number | undefined;
    if (type === PAGE_DATA) {
      const v1 = subStruct(header, 5);
      const n = field(v1, 1);
      if (n === undefined || n < 0) throw new Malformed(`${at} has no valid value count`);
      pageValues = n;
      page.encoding = field(v1, 2) ?? -1;
      definitionEncoding = field(v1, 3) ?? ENCODING_RLE;
    } else if (type === PAGE_DATA_V2) {
      const v2 = subStruct(header, 8);
      page.encoding = field(v2, 4) ?? -1;
      page.definitionBytes = field(v2, 5) ?? 0;
      page.repetitionBytes = field(v2, 6) ?? 0;
      if (v2?.get(7) === false || codec === 'UNCOMPRESSED') page.dataCompressed = false;
      const n = field(v2, 1);
      const nulls = field(v2, 2) ?? 0;
      const rows = field(v2, 3) ?? 0;
      const levels = (field(v2, 5) ?? 0) + (field(v2, 6) ?? 0);
      if (
        n === undefined ||
        n < 0 ||
        nulls < 0 ||
        nulls > n ||
        rows < 0 ||
        rows > n ||
        levels < 0 ||
        levels > compressed
      )
        throw new Malformed(`${at} has inconsistent counts`);
      pageValues = n;
    } else if (type === PAGE_DICTIONARY) {
      const dictionary = subStruct(header, 7);
      const n = field(dictionary, 1);
      page.values = n ?? 0;
      page.encoding = field(dictionary, 2) ?? -1;
      if (n === undefined || n < 0) throw new Malformed(`${at} has no valid dictionary size`);
      if (n > MAX_PAGE_VALUES)
        throw tooLarge(
          `${at} claims a dictionary of ${n.toLocaleString('en-US')} values (limit ${MAX_PAGE_VALUES.toLocaleString('en-US')})`,
        );
    } else if (type !== PAGE_INDEX) {
      throw new Malformed(`${at} is of unknown type ${String(type)}`);
    }
    if (pageValues > MAX_PAGE_VALUES)
      throw tooLarge(
        `${at} claims ${pageValues.toLocaleString('en-US')} values (limit ${MAX_PAGE_VALUES.toLocaleString('en-US')} per page)`,
      );
    values += pageValues;
    if (pageValues > largest) largest = pageValues;
    if (flat) {
      if (type !== PAGE_DICTIONARY) page.values = pageValues;
      if (flatPageReadable(page, definitionEncoding)) flat.push(page);
      else flat = null;
    }
    position = headerEnd + compressed;
  }
  return { values, largest, flat };
}

/** A top-level column parquet-flat.ts reads: a plain numeric type, no logical type, REQUIRED or OPTIONAL. */
function flatColumn(element: FileMetaData['schema'][number]): FlatColumn | null {
  const type = element.type;
  if (type !== 'DOUBLE' && type !== 'FLOAT' && type !== 'INT32' && type !== 'INT64') return null;
  if (element.converted_type !== undefined || element.logical_type !== undefined) return null;
  if (element.repetition_type !== 'REQUIRED' && element.repetition_type !== 'OPTIONAL') return null;
  if ((element.num_children ?? 0) > 0) return null;
  return { type, optional: element.repetition_type === 'OPTIONAL' };
}
