/**
 * A bounded reader of Thrift's compact protocol, the encoding of Parquet's footer and page headers.
 * hyparquet trusts the sizes it reads (a list of 2^31 items is `new Array(2^31)`, a struct nested a
 * million deep is a million stack frames), so Parquet bytes pass through here first: every length
 * must fit in the bytes left, nesting and the number of entries are capped, and nothing is
 * allocated for what is only checked.
 */

const STOP = 0;
const TRUE = 1;
const FALSE = 2;
const BYTE = 3;
const I16 = 4;
const I32 = 5;
const I64 = 6;
const DOUBLE = 7;
const BINARY = 8;
const LIST = 9;
const SET = 10;
const STRUCT = 12;

/** Bytes that are not the Thrift they claim to be; the caller adds the file's name. */
export class ThriftError extends Error {
  constructor(
    message: string,
    /** The bytes ran out: more of them might hold the rest. */
    readonly truncated = false,
  ) {
    super(message);
  }
}

export interface ThriftLimits {
  maxDepth: number;
  maxEntries: number;
}

/** A struct as read: field id -> value (numbers as Number, binaries as their length, lists as arrays). */
export type ThriftStruct = Map<number, ThriftValue>;
export type ThriftValue = number | boolean | ThriftStruct | ThriftValue[];

interface Cursor {
  bytes: Uint8Array;
  offset: number;
  end: number;
  entries: number;
  limits: ThriftLimits;
  build: boolean;
}

function byte(cursor: Cursor): number {
  if (cursor.offset >= cursor.end) throw new ThriftError('ends in the middle of a value', true);
  return cursor.bytes[cursor.offset++];
}

/** An unsigned LEB128 varint as a Number (exact up to 2^53; at most 10 bytes). */
function varint(cursor: Cursor): number {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    const b = byte(cursor);
    result += (b & 0x7f) * scale;
    if (!(b & 0x80)) return result;
    scale *= 128;
  }
  throw new ThriftError('has a number longer than 10 bytes');
}

function zigzag(cursor: Cursor): number {
  const n = varint(cursor);
  return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
}

function count(cursor: Cursor): void {
  if (++cursor.entries > cursor.limits.maxEntries)
    throw new ThriftError(`holds more than ${cursor.limits.maxEntries.toLocaleString('en-US')} entries`);
}

function element(cursor: Cursor, type: number, depth: number): ThriftValue {
  count(cursor);
  switch (type) {
    case TRUE:
      return true;
    case FALSE:
      return false;
    case BYTE:
      return byte(cursor);
    case I16:
    case I32:
    case I64:
      return zigzag(cursor);
    case DOUBLE: {
      if (cursor.offset + 8 > cursor.end) throw new ThriftError('ends in the middle of a value', true);
      const value = new DataView(cursor.bytes.buffer, cursor.bytes.byteOffset + cursor.offset, 8).getFloat64(0, true);
      cursor.offset += 8;
      return value;
    }
    case BINARY: {
      const length = varint(cursor);
      if (length > cursor.end - cursor.offset)
        throw new ThriftError(`claims a ${length}-byte string with ${cursor.end - cursor.offset} bytes left`, true);
      cursor.offset += length;
      return length;
    }
    case LIST:
    case SET: {
      if (depth >= cursor.limits.maxDepth) throw new ThriftError(`nests deeper than ${cursor.limits.maxDepth} levels`);
      const header = byte(cursor);
      const itemType = header & 0x0f;
      let size = header >> 4;
      if (size === 15) size = varint(cursor);
      // every item takes at least one byte: a list cannot hold more items than bytes are left
      if (size > cursor.end - cursor.offset)
        throw new ThriftError(`claims a list of ${size} items with ${cursor.end - cursor.offset} bytes left`, true);
      const items: ThriftValue[] = [];
      for (let i = 0; i < size; i++) {
        const item =
          itemType === TRUE || itemType === FALSE ? byte(cursor) === TRUE : element(cursor, itemType, depth + 1);
        if (cursor.build) items.push(item);
      }
      return items;
    }
    case STRUCT:
      if (depth >= cursor.limits.maxDepth) throw new ThriftError(`nests deeper than ${cursor.limits.maxDepth} levels`);
      return struct(cursor, depth + 1);
    default:
      // maps, UUIDs and unknown types are not part of Parquet's metadata (hyparquet refuses them too)
      throw new ThriftError(`has a value of unknown type ${type}`);
  }
}

const CHECKED: ThriftStruct = new Map();

function struct(cursor: Cursor, depth: number): ThriftStruct {
  // only checking: nothing is kept, so nothing is allocated per struct
  const fields: ThriftStruct = cursor.build ? new Map() : CHECKED;
  let id = 0;
  for (;;) {
    const header = byte(cursor);
    const type = header & 0x0f;
    if (type === STOP) return fields;
    const delta = header >> 4;
    id = delta ? id + delta : zigzag(cursor);
    const value = element(cursor, type, depth);
    if (cursor.build) fields.set(id, value);
  }
}

/**
 * Reads (build) or only checks (!build) one struct at `offset`, within `end`; returns the struct
 * (empty when only checked) and where it ends. Throws ThriftError past a limit or the bytes.
 */
export function readStruct(
  bytes: Uint8Array,
  offset: number,
  end: number,
  limits: ThriftLimits,
  build: boolean,
): { value: ThriftStruct; end: number } {
  const cursor: Cursor = { bytes, offset, end: Math.min(end, bytes.length), entries: 0, limits, build };
  const value = struct(cursor, 1);
  return { value, end: cursor.offset };
}

/** A numeric field of a struct read with build (undefined when absent or not a number). */
export function field(value: ThriftStruct | undefined, id: number): number | undefined {
  const v = value?.get(id);
  return typeof v === 'number' ? v : undefined;
}

export function subStruct(value: ThriftStruct | undefined, id: number): ThriftStruct | undefined {
  const v = value?.get(id);
  return v instanceof Map ? v : undefined;
}
