import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import { readSync } from 'node:fs';
import { isRecord } from '../runs/metadata';

/**
 * A columnar snapshot of the experiment index (`.mlpipe/store/index.snap`), written beside
 * `index.jsonl` when the store compacts, so that a large store opens without parsing every line:
 * numeric columns are Float64Arrays read straight from the file, the other values are stored once
 * per distinct value with a code per run, and a run's summary is built only when asked for.
 *
 * The snapshot adds no meaning: it is a cache of what the first `coveredBytes` of one index file
 * say (the file's inode, its size then, and a hash of its first and last 64 KB), and the lines after
 * that are read as before. A snapshot that does not match the index, is damaged or is not
 * well formed is ignored (the index is read line by line); it is input like the index, so every
 * offset, length, code and value in it is checked before it counts, the same checks a line's
 * summary gets. It is written atomically after the index it describes, so a crash between the two
 * leaves a snapshot of the old file, which no longer matches.
 *
 * Layout (little-endian): `MLPSNAP1`, a u32 header length, the header (JSON), then 8-byte aligned
 * sections the header points at: per column its data (Float64Array, or Uint32Array codes with a
 * JSON array of the distinct values), and per run three Uint32 shape codes (summary, params,
 * metrics) naming its keys in their order, so a summary comes back exactly as the line had it.
 */

const MAGIC = 'MLPSNAP1';
const VERSION = 1;
/** Bytes hashed at each end of the covered part of the index. */
const EDGE_BYTES = 64 * 1024;
const MAX_ROWS = 10_000_000;
const MAX_HEADER_BYTES = 64 * 1024 * 1024;
/** In a summary shape: where the params and the metrics objects stand. */
const PARAMS = -1;
const METRICS = -2;

export interface IndexIdentity {
  ino: number;
  /** Bytes of the index the snapshot covers (whole lines). */
  size: number;
  /** Lines in those bytes, and how many of them were damaged. */
  lines: number;
  damaged: number;
  /** Hash of the first and last EDGE_BYTES of the covered bytes. */
  edges: string;
}

/** A run summary as the snapshot sees it (the store's RunSummary; not imported, so no import cycle). */
export interface SummaryLike {
  params: Record<string, unknown>;
  metrics: Record<string, unknown>;
}

export interface SnapshotEntry {
  summary: SummaryLike;
  tags?: Record<string, string>;
  note?: string;
}

type Namespace = 's' | 'p' | 'm' | 'x';

/** Hash of the first and last EDGE_BYTES of the first `size` bytes of an open file. */
export function edgesOf(fd: number, size: number): string {
  const hash = createHash('sha256');
  hash.update(String(size));
  const head = Buffer.allocUnsafe(Math.min(EDGE_BYTES, size));
  readSync(fd, head, 0, head.length, 0);
  hash.update(head);
  const tailStart = Math.max(head.length, size - EDGE_BYTES);
  const tail = Buffer.allocUnsafe(size - tailStart);
  if (tail.length > 0) readSync(fd, tail, 0, tail.length, tailStart);
  hash.update(tail);
  return hash.digest('hex');
}

// ---- writing -------------------------------------------------------------------------------------

class ColumnBuilder {
  numeric = true;
  readonly values: unknown[];
  constructor(
    readonly ns: Namespace,
    readonly key: string,
    rows: number,
  ) {
    this.values = new Array<unknown>(rows);
  }
  set(row: number, value: unknown): void {
    this.values[row] = value;
    if (typeof value !== 'number') this.numeric = false;
  }
}

/** The snapshot of `entries` (in index order) covering `identity`, as bytes. */
export function encodeSnapshot(identity: IndexIdentity, entries: SnapshotEntry[]): Buffer {
  const rows = entries.length;
  const columns: ColumnBuilder[] = [];
  const byKey = new Map<string, number>();
  const column = (ns: Namespace, key: string): number => {
    const name = `${ns}\u0000${key}`;
    let index = byKey.get(name);
    if (index === undefined) {
      index = columns.length;
      columns.push(new ColumnBuilder(ns, key, rows));
      byKey.set(name, index);
    }
    return index;
  };
  const shapes = { s: new Map<string, number>(), p: new Map<string, number>(), m: new Map<string, number>() };
  const shapeLists: Record<'s' | 'p' | 'm', number[][]> = { s: [], p: [], m: [] };
  const shapeOf = (kind: 's' | 'p' | 'm', list: number[]): number => {
    const name = list.join(',');
    let code = shapes[kind].get(name);
    if (code === undefined) {
      code = shapeLists[kind].length;
      shapeLists[kind].push(list);
      shapes[kind].set(name, code);
    }
    return code;
  };
  const rowShapes = new Uint32Array(rows * 3);
  const tagsColumn = column('x', 'tags');
  const noteColumn = column('x', 'note');
  for (let row = 0; row < rows; row++) {
    const { summary, tags, note } = entries[row];
    const list: number[] = [];
    for (const key of Object.keys(summary)) {
      const value = (summary as unknown as Record<string, unknown>)[key];
      if (key === 'params') {
        list.push(PARAMS);
        const params: number[] = [];
        for (const name of Object.keys(summary.params)) {
          const index = column('p', name);
          columns[index].set(row, summary.params[name]);
          params.push(index);
        }
        rowShapes[row * 3 + 1] = shapeOf('p', params);
      } else if (key === 'metrics') {
        list.push(METRICS);
        const metrics: number[] = [];
        for (const name of Object.keys(summary.metrics)) {
          const index = column('m', name);
          columns[index].set(row, summary.metrics[name]);
          metrics.push(index);
        }
        rowShapes[row * 3 + 2] = shapeOf('m', metrics);
      } else if (value !== undefined) {
        const index = column('s', key);
        columns[index].set(row, value);
        list.push(index);
      }
    }
    rowShapes[row * 3] = shapeOf('s', list);
    if (tags !== undefined) columns[tagsColumn].set(row, tags);
    if (note !== undefined) columns[noteColumn].set(row, note);
  }

  const sections: Buffer[] = [];
  let offset = 0;
  const place = (bytes: Buffer): [number, number] => {
    const at = offset;
    sections.push(bytes);
    offset += bytes.length;
    const pad = (8 - (bytes.length % 8)) % 8;
    if (pad) {
      sections.push(Buffer.alloc(pad));
      offset += pad;
    }
    return [at, bytes.length];
  };
  const described = columns.map((built) => {
    if (built.numeric && built.ns !== 'x') {
      const data = new Float64Array(rows).fill(NaN);
      for (let row = 0; row < rows; row++) {
        const value = built.values[row];
        if (typeof value === 'number') data[row] = value;
      }
      return { ns: built.ns, key: built.key, kind: 'f64', data: place(Buffer.from(data.buffer)) };
    }
    const codes = new Uint32Array(rows);
    const distinct: unknown[] = [];
    const seen = new Map<string, number>();
    for (let row = 0; row < rows; row++) {
      const value = built.values[row];
      if (value === undefined) continue;
      const name = typeof value === 'string' ? `s${value}` : `j${JSON.stringify(value)}`;
      let code = seen.get(name);
      if (code === undefined) {
        distinct.push(value);
        code = distinct.length;
        seen.set(name, code);
      }
      codes[row] = code;
    }
    return {
      ns: built.ns,
      key: built.key,
      kind: 'dict',
      data: place(Buffer.from(codes.buffer)),
      values: place(Buffer.from(JSON.stringify(distinct))),
    };
  });
  const shapeSection = place(Buffer.from(rowShapes.buffer));
  const header = Buffer.from(
    JSON.stringify({
      v: VERSION,
      index: identity,
      rows,
      columns: described,
      shapes: shapeLists,
      rowShapes: shapeSection,
    }),
  );
  const start = Math.ceil((MAGIC.length + 4 + header.length) / 8) * 8;
  const head = Buffer.alloc(start);
  head.write(MAGIC, 0, 'latin1');
  head.writeUInt32LE(header.length, MAGIC.length);
  header.copy(head, MAGIC.length + 4);
  // Section offsets in the header are relative to `start`, which the header's own length decides.
  return Buffer.concat([head, ...sections]);
}

// ---- reading -------------------------------------------------------------------------------------

/** One column: a value per run, undefined where the run does not have the key. */
export interface Column {
  get(row: number): unknown;
}

/**
 * Numbers; NaN where a run has none. A value that is not finite (JSON has none) reads as none. Like
 * DictColumn, the column is checked against its key when first read (a summary field that must be
 * a string or a whole number may not come back as any number): one value it does not allow and
 * the whole column reads as none.
 */
class NumberColumn implements Column {
  private valid: boolean | undefined;
  constructor(
    readonly data: Float64Array,
    private readonly check: (value: unknown) => boolean,
  ) {}
  get(row: number): unknown {
    this.valid ??= this.data.every((value) => !Number.isFinite(value) || this.check(value));
    if (!this.valid) return undefined;
    const value = this.data[row];
    return value === value && value !== Infinity && value !== -Infinity ? value : undefined;
  }
}

/**
 * A code per run (0: none) into the distinct values, a JSON array parsed and checked when the
 * column is first read: a column whose values are not all what its key allows reads as none.
 * A code past the values reads as none.
 */
class DictColumn implements Column {
  private parsed: unknown[] | undefined;
  constructor(
    readonly codes: Uint32Array,
    private readonly text: Buffer,
    private readonly check: (value: unknown) => boolean,
  ) {}
  values(): unknown[] {
    if (!this.parsed) {
      let values: unknown;
      try {
        values = JSON.parse(this.text.toString('utf8'));
      } catch {
        values = [];
      }
      this.parsed = Array.isArray(values) && values.every(this.check) ? values : [];
    }
    return this.parsed;
  }
  get(row: number): unknown {
    const code = this.codes[row];
    if (code === 0) return undefined;
    const values = this.values();
    return code <= values.length ? values[code - 1] : undefined;
  }
}

/** Sets a key as an own property: a key named `__proto__` is a key, as JSON.parse makes it. */
function setOwn(object: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  else object[key] = value;
}

/** A fresh copy of a JSON value (a summary built from the snapshot shares nothing with another). */
function copy(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(copy);
  const result: Record<string, unknown> = {};
  for (const key of Object.keys(value)) setOwn(result, key, copy((value as Record<string, unknown>)[key]));
  return result;
}

interface Described {
  ns: Namespace;
  key: string;
  column: Column;
}

export class Snapshot {
  /** Per namespace: whether shape `code` names column `index`, at [code * columns + index]. */
  private readonly members: Record<'s' | 'p' | 'm', Uint8Array>;
  private readonly indexOf: Record<Namespace, Map<string, number>>;
  private readonly readers = new Map<string, (row: number) => unknown>();

  constructor(
    readonly identity: IndexIdentity,
    readonly rows: number,
    private readonly columns: Described[],
    private readonly shapes: Record<'s' | 'p' | 'm', number[][]>,
    private readonly rowShapes: Uint32Array,
    readonly ids: string[],
  ) {
    this.indexOf = { s: new Map(), p: new Map(), m: new Map(), x: new Map() };
    columns.forEach((described, index) => this.indexOf[described.ns].set(described.key, index));
    const width = columns.length;
    const members = {} as Record<'s' | 'p' | 'm', Uint8Array>;
    for (const kind of ['s', 'p', 'm'] as const) {
      const member = new Uint8Array(shapes[kind].length * width);
      shapes[kind].forEach((shape, code) => {
        for (const index of shape) if (index >= 0) member[code * width + index] = 1;
      });
      members[kind] = member;
    }
    this.members = members;
  }

  /**
   * How to read a field of the summary (`s`), a param (`p`) or a metric (`m`) by row: what the
   * built summary would hold there (the row's shape names the key, and the column has a value).
   */
  reader(ns: 's' | 'p' | 'm', key: string): (row: number) => unknown {
    const name = `${ns}\u0000${key}`;
    let reader = this.readers.get(name);
    if (!reader) this.readers.set(name, (reader = this.makeReader(ns, key)));
    return reader;
  }

  private makeReader(ns: 's' | 'p' | 'm', key: string): (row: number) => unknown {
    const index = this.indexOf[ns].get(key);
    if (index === undefined) return () => undefined;
    const column = this.columns[index].column;
    const member = this.members[ns];
    const width = this.columns.length;
    const rowShapes = this.rowShapes;
    const offset = ns === 's' ? 0 : ns === 'p' ? 1 : 2;
    return (row) => (member[rowShapes[row * 3 + offset] * width + index] === 1 ? column.get(row) : undefined);
  }

  summary(row: number): SummaryLike {
    const summary: Record<string, unknown> = {};
    for (const index of this.shapes.s[this.rowShapes[row * 3]]) {
      if (index === PARAMS) summary.params = this.object(this.shapes.p[this.rowShapes[row * 3 + 1]], row);
      else if (index === METRICS) summary.metrics = this.object(this.shapes.m[this.rowShapes[row * 3 + 2]], row);
      else this.put(summary, index, row);
    }
    return summary as unknown as SummaryLike;
  }

  private object(shape: number[], row: number): Record<string, unknown> {
    const object: Record<string, unknown> = {};
    for (const index of shape) this.put(object, index, row);
    return object;
  }

  private put(object: Record<string, unknown>, index: number, row: number): void {
    const { key, column } = this.columns[index];
    const value = column.get(row);
    if (value !== undefined) setOwn(object, key, copy(value));
  }

  tags(row: number): Record<string, string> | undefined {
    const index = this.indexOf.x.get('tags');
    return index === undefined ? undefined : (copy(this.columns[index].column.get(row)) as Record<string, string>);
  }

  note(row: number): string | undefined {
    const index = this.indexOf.x.get('note');
    return index === undefined ? undefined : (this.columns[index].column.get(row) as string | undefined);
  }
}

class Invalid extends Error {}

function fail(why: string): never {
  throw new Invalid(why);
}

function isStringMap(value: unknown): boolean {
  if (!isRecord(value)) return false;
  for (const key in value) if (typeof value[key] !== 'string') return false;
  return true;
}

/** Objects and lists nest no deeper than `depth`. */
function shallow(value: unknown, depth: number): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (depth === 0) return false;
  for (const key in value) if (!shallow((value as Record<string, unknown>)[key], depth - 1)) return false;
  return true;
}

const STATUSES = new Set(['succeeded', 'failed', 'running', 'cancelled']);

/** What a summary field's values must be (the checks `parseSummary` makes); unknown fields may hold any JSON. */
function summaryCheck(
  key: string,
  isIndexId: (value: unknown) => boolean,
  paramsDepth: number,
): (value: unknown) => boolean {
  switch (key) {
    case 'v':
      return (value) => value === 1;
    case 'id':
      return isIndexId;
    case 'status':
      return (value) => typeof value === 'string' && STATUSES.has(value);
    case 'pipeline':
    case 'started':
    case 'name':
    case 'ended':
    case 'commit':
    case 'host':
    case 'error':
      return (value) => typeof value === 'string';
    case 'dirty':
      return (value) => typeof value === 'boolean';
    case 'durationMs':
      return (value) => typeof value === 'number' && Number.isFinite(value);
    case 'pid':
      return (value) => Number.isSafeInteger(value) && (value as number) > 0;
    case 'stages':
      return (value) => isRecord(value) && Object.values(value).every((one) => typeof one === 'number');
    case 'series':
      return (value) => Array.isArray(value) && value.every((one) => typeof one === 'string');
    case 'params':
    case 'metrics':
      return () => false;
    default:
      return (value) => shallow(value, paramsDepth + 8);
  }
}

/** What the reader checks a snapshot against. */
export interface SnapshotChecks {
  isIndexId: (value: unknown) => boolean;
  paramsDepth: number;
  /** Whether the snapshot covers this index file, asked before anything past the header is decoded. */
  matches?: (identity: IndexIdentity) => boolean;
}

/** Summary fields every run has: checked for every run when the snapshot is read. */
const REQUIRED = ['v', 'id', 'status', 'pipeline', 'started', 'stages', 'series'];

/**
 * Reads a snapshot from its bytes; undefined when it is not one, not for this machine's byte
 * order, or not well formed (with the reason given to `why`). The fields every run must have are
 * checked for every run here; other columns are parsed and checked when first read (see DictColumn).
 */
export function decodeSnapshot(
  bytes: Buffer,
  checks: SnapshotChecks,
  why?: (reason: string) => void,
): Snapshot | undefined {
  try {
    return decode(bytes, checks);
  } catch (error) {
    if (!(error instanceof Invalid) && !(error instanceof SyntaxError) && !(error instanceof RangeError)) throw error;
    why?.(error.message);
    return undefined;
  }
}

function decode(bytes: Buffer, checks: SnapshotChecks): Snapshot {
  if (endianness() !== 'LE') fail('not a little-endian machine');
  if (bytes.length < MAGIC.length + 4 || bytes.toString('latin1', 0, MAGIC.length) !== MAGIC) fail('not a snapshot');
  const headerLength = bytes.readUInt32LE(MAGIC.length);
  if (MAGIC.length + 4 + headerLength > bytes.length) fail('header past the end');
  // The header is JSON parsed whole (before its identity can be compared): bounded well above what
  // 100,000 runs of distinct shapes need (about 25 MB), so a crafted one costs at most a few hundred MB.
  if (headerLength > MAX_HEADER_BYTES) fail('header too long');
  const header: unknown = JSON.parse(bytes.toString('utf8', MAGIC.length + 4, MAGIC.length + 4 + headerLength));
  const start = Math.ceil((MAGIC.length + 4 + headerLength) / 8) * 8;
  if (!isRecord(header) || header.v !== VERSION) fail('unknown version');
  const { index, rows, columns, shapes, rowShapes } = header;
  if (!isRecord(index)) fail('no index identity');
  const identity = index as unknown as IndexIdentity;
  for (const key of ['ino', 'size', 'lines', 'damaged'] as const)
    if (!Number.isSafeInteger(identity[key]) || identity[key] < 0) fail(`bad index ${key}`);
  if (typeof identity.edges !== 'string') fail('bad index edges');
  // Nothing more is decoded from a snapshot of another index file (a cloned repository may ship one).
  if (checks.matches && !checks.matches(identity)) fail('the snapshot of another index');
  if (!Number.isSafeInteger(rows) || (rows as number) < 0 || (rows as number) > MAX_ROWS) fail('bad row count');
  const count = rows as number;
  if (!Array.isArray(columns) || !isRecord(shapes)) fail('no columns');

  // A section [offset, length] relative to `start`, inside the file, 8-byte aligned.
  const section = (value: unknown, length?: number): Buffer => {
    if (!Array.isArray(value) || value.length !== 2) fail('bad section');
    const [offset, size] = value as unknown[];
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(size) || (offset as number) < 0 || (size as number) < 0)
      fail('bad section');
    if ((offset as number) % 8 !== 0) fail('unaligned section');
    if (length !== undefined && size !== length) fail('section of the wrong size');
    const from = start + (offset as number);
    if (from + (size as number) > bytes.length) fail('section past the end');
    return bytes.subarray(from, from + (size as number));
  };
  // Zero copy when the bytes are aligned in memory (the store reads the file into its own buffer).
  const floats = (buffer: Buffer) =>
    buffer.byteOffset % 8 === 0
      ? new Float64Array(buffer.buffer, buffer.byteOffset, buffer.length / 8)
      : new Float64Array(new Uint8Array(buffer).buffer);
  const words = (buffer: Buffer) =>
    buffer.byteOffset % 4 === 0
      ? new Uint32Array(buffer.buffer, buffer.byteOffset, buffer.length / 4)
      : new Uint32Array(new Uint8Array(buffer).buffer);

  const list: Described[] = [];
  const names = new Set<string>();
  for (const described of columns as unknown[]) {
    if (!isRecord(described)) fail('bad column');
    const { ns, key, kind } = described;
    if ((ns !== 's' && ns !== 'p' && ns !== 'm' && ns !== 'x') || typeof key !== 'string') fail('bad column name');
    if (names.has(`${ns}\u0000${key}`)) fail('a column twice');
    names.add(`${ns}\u0000${key}`);
    if (ns === 'x' && key !== 'tags' && key !== 'note') fail('unknown extra column');
    const check =
      ns === 's'
        ? summaryCheck(key, checks.isIndexId, checks.paramsDepth)
        : ns === 'p'
          ? (value: unknown) => shallow(value, checks.paramsDepth)
          : ns === 'm'
            ? (value: unknown) => typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean'
            : key === 'tags'
              ? isStringMap
              : (value: unknown) => typeof value === 'string';
    let column: Column;
    if (kind === 'f64') {
      if (ns === 'x') fail('a numeric extra column');
      column = new NumberColumn(floats(section(described.data, count * 8)), check);
    } else if (kind === 'dict')
      column = new DictColumn(words(section(described.data, count * 4)), section(described.values), check);
    else fail('unknown column kind');
    list.push({ ns, key, column });
  }

  const shapeLists = {} as Record<'s' | 'p' | 'm', number[][]>;
  for (const kind of ['s', 'p', 'm'] as const) {
    const lists = shapes[kind];
    // Compaction writes at most one shape per run: more would only cost memory (shapes x columns).
    if (!Array.isArray(lists) || lists.length === 0 || lists.length > count + 1) fail('bad shapes');
    for (const shape of lists as unknown[]) {
      if (!Array.isArray(shape)) fail('bad shape');
      const seen = new Set<number>();
      for (const index of shape as unknown[]) {
        if (kind === 's' && (index === PARAMS || index === METRICS)) {
          // where the params and metrics stand
        } else if (!Number.isSafeInteger(index) || (index as number) < 0 || (index as number) >= list.length)
          fail('bad shape entry');
        else if (list[index as number].ns !== kind) fail('shape entry of another namespace');
        if (seen.has(index as number)) fail('a key twice in a shape');
        seen.add(index as number);
      }
      if (kind === 's') {
        if (!seen.has(PARAMS) || !seen.has(METRICS)) fail('a summary without params or metrics');
        const keys = new Set((shape as number[]).filter((index) => index >= 0).map((index) => list[index].key));
        for (const key of REQUIRED) if (!keys.has(key)) fail(`a summary without ${key}`);
      }
    }
    shapeLists[kind] = lists as number[][];
  }
  const shapeCodes = words(section(rowShapes, count * 12));
  for (let row = 0; row < count; row++) {
    if (shapeCodes[row * 3] >= shapeLists.s.length || shapeCodes[row * 3 + 1] >= shapeLists.p.length) fail('bad shape');
    if (shapeCodes[row * 3 + 2] >= shapeLists.m.length) fail('bad shape');
  }
  // The fields every run has, checked for every run (every summary shape names them, checked above).
  const required = new Map(
    list.filter((one) => one.ns === 's' && REQUIRED.includes(one.key)).map((one) => [one.key, one.column]),
  );
  for (const key of REQUIRED) {
    const column = required.get(key);
    if (count > 0 && !column) fail(`no ${key}`);
    if (column instanceof NumberColumn) {
      // Only `v` may be numeric: every run's is 1.
      if (key !== 'v') fail(`a numeric ${key}`);
      for (let row = 0; row < count; row++) if (column.data[row] !== 1) fail('a run of another version');
    } else if (column instanceof DictColumn) {
      const values = column.values();
      const codes = column.codes;
      for (let row = 0; row < count; row++)
        if (codes[row] === 0 || codes[row] > values.length) fail(`a run without a valid ${key}`);
    }
  }
  const idColumn = required.get('id');
  const ids = new Array<string>(count);
  for (let row = 0; row < count; row++) ids[row] = idColumn!.get(row) as string;
  return new Snapshot(identity, count, list, shapeLists, shapeCodes, ids);
}
