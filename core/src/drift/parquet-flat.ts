/**
 * The fast path of the Parquet reader: a flat numeric column (a top-level DOUBLE, FLOAT, INT32 or
 * INT64 without a logical type, REQUIRED or OPTIONAL) whose pages are all plain or dictionary
 * encoded, uncompressed or Snappy, is decoded here page by page straight into its accumulator,
 * without hyparquet's row assembly (an array of boxed values with its nulls per page, which costs
 * several times the decoding). The values and their order are those hyparquet gives: doubles and
 * floats as read, INT32 as numbers, INT64 through Number(), a missing value where the definition
 * level is below the column's.
 *
 * parquet.ts checked every page header against the chunk and the limits before (scanPages), and
 * chooses this path only when every page of the chunk is of a kind read here; anything else in
 * the bytes (a run longer than its page, a dictionary index out of range) is Malformed.
 */
import type { ColumnAccumulator } from './infer';

/** One page as scanPages found it: where its bytes are, and the header fields this reader needs. */
export interface FlatPage {
  type: number;
  /** Offset of the page's bytes in the chunk (after the header), and their length in the file. */
  start: number;
  compressed: number;
  uncompressed: number;
  values: number;
  encoding: number;
  /** Data page v2: levels' lengths (stored uncompressed before the data) and whether the data is compressed. */
  definitionBytes: number;
  repetitionBytes: number;
  dataCompressed: boolean;
}

export type FlatType = 'DOUBLE' | 'FLOAT' | 'INT32' | 'INT64';

export const PAGE_DATA = 0;
export const PAGE_INDEX = 1;
export const PAGE_DICTIONARY = 2;
export const PAGE_DATA_V2 = 3;
export const ENCODING_PLAIN = 0;
export const ENCODING_PLAIN_DICTIONARY = 2;
export const ENCODING_RLE = 3;
export const ENCODING_RLE_DICTIONARY = 8;

/** Bytes that do not hold what their header says; parquet.ts reports the file as unreadable. */
export class FlatMalformed extends Error {}

/** Whether a page of this kind is read here (the caller checks every page of a chunk). */
export function flatPageReadable(page: FlatPage, definitionEncoding: number | undefined): boolean {
  if (page.type === PAGE_INDEX) return true;
  if (page.type === PAGE_DICTIONARY)
    return page.encoding === ENCODING_PLAIN || page.encoding === ENCODING_PLAIN_DICTIONARY;
  const encodingOk =
    page.encoding === ENCODING_PLAIN ||
    page.encoding === ENCODING_PLAIN_DICTIONARY ||
    page.encoding === ENCODING_RLE_DICTIONARY;
  if (page.type === PAGE_DATA)
    return encodingOk && (definitionEncoding === undefined || definitionEncoding === ENCODING_RLE);
  return page.type === PAGE_DATA_V2 && encodingOk && page.repetitionBytes === 0;
}

type Snappy = (input: Uint8Array, output: Uint8Array) => void;

/**
 * Snappy decompression (the format hyparquet's snappyUncompress reads, with its checks): literals
 * and back references that do not overlap are copied natively (set, copyWithin) rather than byte
 * by byte, which is most of the time for pages of numbers that barely compress.
 */
export function snappyDecompress(input: Uint8Array, output: Uint8Array): void {
  const inputLength = input.length;
  const outputLength = output.length;
  let pos = 0;
  let outPos = 0;
  // the preamble: the uncompressed length as a varint
  while (pos < inputLength) {
    const c = input[pos++];
    if (c < 128) break;
  }
  if (outputLength && pos >= inputLength) throw new FlatMalformed('invalid snappy length header');
  while (pos < inputLength) {
    const c = input[pos++];
    if (pos >= inputLength) throw new FlatMalformed('snappy data without its end');
    const tag = c & 3;
    if (tag === 0) {
      let length = (c >>> 2) + 1;
      if (length > 60) {
        const bytes = length - 60;
        if (pos + bytes > inputLength) throw new FlatMalformed('a snappy literal length past the input');
        length = input[pos];
        if (bytes > 1) length += input[pos + 1] << 8;
        if (bytes > 2) length += input[pos + 2] << 16;
        if (bytes > 3) length += input[pos + 3] * 16777216;
        length += 1;
        pos += bytes;
      }
      if (pos + length > inputLength) throw new FlatMalformed('a snappy literal past the input');
      if (outPos + length > outputLength) throw new FlatMalformed('snappy data longer than its page');
      // a native copy needs a view of the input: worth it for long literals only
      if (length < 512) for (let i = 0; i < length; i++) output[outPos + i] = input[pos + i];
      else output.set(input.subarray(pos, pos + length), outPos);
      pos += length;
      outPos += length;
      continue;
    }
    let length: number;
    let offset: number;
    if (tag === 1) {
      length = ((c >>> 2) & 7) + 4;
      offset = input[pos] + ((c >>> 5) << 8);
      pos += 1;
    } else if (tag === 2) {
      if (pos + 1 >= inputLength) throw new FlatMalformed('a snappy copy past the input');
      length = (c >>> 2) + 1;
      offset = input[pos] + (input[pos + 1] << 8);
      pos += 2;
    } else {
      if (pos + 3 >= inputLength) throw new FlatMalformed('a snappy copy past the input');
      length = (c >>> 2) + 1;
      offset = input[pos] + (input[pos + 1] << 8) + (input[pos + 2] << 16) + input[pos + 3] * 16777216;
      pos += 4;
    }
    if (offset === 0 || offset > outPos)
      throw new FlatMalformed(`a snappy copy from ${offset} bytes back at ${outPos}`);
    if (outPos + length > outputLength) throw new FlatMalformed('snappy data longer than its page');
    const from = outPos - offset;
    if (offset >= length && length >= 32) output.copyWithin(outPos, from, from + length);
    else for (let i = 0; i < length; i++) output[outPos + i] = output[from + i];
    outPos += length;
  }
  if (outPos !== outputLength) throw new FlatMalformed('snappy data shorter than its page');
}

interface Decoder {
  type: FlatType;
  /** 1 for an OPTIONAL column (a level of 0 is a missing value), 0 for REQUIRED. */
  maxDefinition: number;
  integer: boolean;
  snappy: Snappy | null;
  dictionary: Float64Array | null;
  levels: Uint8Array;
  indices: Int32Array;
  values: Float64Array;
}

/** Decodes one column chunk (its bytes, its pages) into the accumulator; returns the values fed (rows). */
export function readFlatChunk(
  chunk: Uint8Array,
  pages: FlatPage[],
  type: FlatType,
  optional: boolean,
  snappy: Snappy | null,
  column: ColumnAccumulator,
  integer: boolean,
): number {
  const decoder: Decoder = {
    type,
    maxDefinition: optional ? 1 : 0,
    integer,
    snappy,
    dictionary: null,
    levels: scratch.levels,
    indices: scratch.indices,
    values: scratch.values,
  };
  let fed = 0;
  for (const page of pages) {
    if (page.type === PAGE_INDEX) continue;
    const raw = chunk.subarray(page.start, page.start + page.compressed);
    if (page.type === PAGE_DICTIONARY) {
      const bytes = decompress(decoder, raw, page.uncompressed);
      decoder.dictionary = plainValues(type, bytes, 0, page.values, new Float64Array(page.values));
      continue;
    }
    fed += readDataPage(decoder, page, raw, column);
  }
  scratch.levels = decoder.levels;
  scratch.indices = decoder.indices;
  scratch.values = decoder.values;
  return fed;
}

/** Buffers reused from page to page and chunk to chunk (a chunk is decoded before the next starts). */
const scratch: {
  pages: Uint8Array;
  levels: Uint8Array;
  runs: Int32Array;
  indices: Int32Array;
  values: Float64Array;
} = {
  pages: new Uint8Array(0),
  levels: new Uint8Array(0),
  runs: new Int32Array(0),
  indices: new Int32Array(0),
  values: new Float64Array(0),
};

function decompress(decoder: Decoder, raw: Uint8Array, uncompressed: number): Uint8Array {
  if (!decoder.snappy) {
    if (raw.length !== uncompressed)
      throw new FlatMalformed(`a page holds ${raw.length} bytes, its header says ${uncompressed}`);
    return raw;
  }
  if (scratch.pages.length < uncompressed)
    scratch.pages = new Uint8Array(Math.max(uncompressed, 2 * scratch.pages.length));
  const out = scratch.pages.subarray(0, uncompressed);
  // a plain Uint8Array view (the chunk is a Buffer): one element kind in the decompressor's loops
  decoder.snappy(new Uint8Array(raw.buffer, raw.byteOffset, raw.length), out);
  return out;
}

function readDataPage(decoder: Decoder, page: FlatPage, raw: Uint8Array, column: ColumnAccumulator): number {
  const n = page.values;
  let levels: Uint8Array | null = null;
  let bytes: Uint8Array;
  let offset: number;
  if (page.type === PAGE_DATA) {
    bytes = decompress(decoder, raw, page.uncompressed);
    offset = 0;
    if (decoder.maxDefinition > 0) {
      if (bytes.length < 4) throw new FlatMalformed('a data page ends before its definition levels');
      const length = bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24);
      if (length < 0 || 4 + length > bytes.length) throw new FlatMalformed('definition levels longer than their page');
      levels = readLevels(decoder, bytes, 4, 4 + length, n);
      offset = 4 + length;
    }
  } else {
    const levelBytes = page.definitionBytes + page.repetitionBytes;
    if (levelBytes > raw.length) throw new FlatMalformed('levels longer than their page');
    if (decoder.maxDefinition > 0) levels = readLevels(decoder, raw, 0, page.definitionBytes, n);
    const data = raw.subarray(levelBytes);
    bytes = page.dataCompressed ? decompress(decoder, data, page.uncompressed - levelBytes) : data;
    offset = 0;
  }
  let present = n;
  if (levels !== null) {
    present = 0;
    for (let i = 0; i < n; i++) if (levels[i] !== 0) present++;
  }
  if (decoder.values.length < present) decoder.values = new Float64Array(Math.max(present, 2 * decoder.values.length));
  const values = decoder.values;
  if (page.encoding === ENCODING_PLAIN) plainValues(decoder.type, bytes, offset, present, values);
  else {
    const dictionary = decoder.dictionary;
    if (dictionary === null) throw new FlatMalformed('a dictionary-encoded page comes before its dictionary');
    if (offset >= bytes.length) {
      if (present > 0) throw new FlatMalformed('a dictionary-encoded page has no indices');
    } else {
      const width = bytes[offset];
      if (width > 32) throw new FlatMalformed(`a dictionary index width of ${width} bits`);
      if (decoder.indices.length < present)
        decoder.indices = new Int32Array(Math.max(present, 2 * decoder.indices.length));
      const indices = decoder.indices;
      hybrid(bytes, offset + 1, bytes.length, width, indices, present);
      const size = dictionary.length;
      for (let i = 0; i < present; i++) {
        const index = indices[i];
        if (index < 0 || index >= size) throw new FlatMalformed(`a dictionary index ${index} of ${size} entries`);
        values[i] = dictionary[index];
      }
    }
  }
  const integer = decoder.integer;
  if (levels === null) {
    for (let i = 0; i < n; i++) column.addNumber(values[i], integer);
  } else {
    let k = 0;
    for (let i = 0; i < n; i++) {
      if (levels[i] === 0) column.missing++;
      else column.addNumber(values[k++], integer);
    }
  }
  return n;
}

function readLevels(decoder: Decoder, bytes: Uint8Array, start: number, end: number, n: number): Uint8Array {
  if (decoder.levels.length < n) decoder.levels = new Uint8Array(Math.max(n, 2 * decoder.levels.length));
  const levels = decoder.levels;
  if (scratch.runs.length < n) scratch.runs = new Int32Array(Math.max(n, 2 * scratch.runs.length));
  const runs = scratch.runs;
  hybrid(bytes, start, end, 1, runs, n);
  for (let i = 0; i < n; i++) {
    const level = runs[i];
    if (level > 1) throw new FlatMalformed(`a definition level of ${level} in a flat column`);
    levels[i] = level;
  }
  return levels;
}

/** PLAIN values of a numeric type, as hyparquet gives them (INT64 through Number()). */
function plainValues(
  type: FlatType,
  bytes: Uint8Array,
  offset: number,
  count: number,
  out: Float64Array,
): Float64Array {
  const size = type === 'DOUBLE' || type === 'INT64' ? 8 : 4;
  if (offset + count * size > bytes.length)
    throw new FlatMalformed(`a page holds ${bytes.length - offset} bytes for ${count} values of ${size} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * size);
  if (type === 'DOUBLE') for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
  else if (type === 'FLOAT') for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
  else if (type === 'INT32') for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, true);
  else for (let i = 0; i < count; i++) out[i] = Number(view.getBigInt64(8 * i, true));
  return out;
}

/** The RLE / bit-packed hybrid encoding (levels, dictionary indices): `count` values from [start, end). */
function hybrid(bytes: Uint8Array, start: number, end: number, width: number, out: Int32Array, count: number): void {
  let pos = start;
  let n = 0;
  const byteWidth = (width + 7) >> 3;
  while (n < count) {
    if (pos >= end) throw new FlatMalformed('encoded values end before their count');
    // ULEB128 header
    let header = 0;
    let scale = 1;
    for (;;) {
      if (pos >= end) throw new FlatMalformed('encoded values end in a run header');
      const b = bytes[pos++];
      header += (b & 0x7f) * scale;
      if (!(b & 0x80)) break;
      scale *= 128;
      if (scale > 2 ** 35) throw new FlatMalformed('a run header longer than 5 bytes');
    }
    if (header % 2 === 0) {
      // a run of one value
      const run = header / 2;
      if (pos + byteWidth > end) throw new FlatMalformed('a run ends before its value');
      let value = 0;
      for (let b = 0; b < byteWidth; b++) value += bytes[pos++] * 2 ** (8 * b);
      if (width < 32 && value >= 2 ** width) throw new FlatMalformed('a run value wider than its bit width');
      const stop = Math.min(count, n + run);
      out.fill(value | 0, n, stop);
      n = stop;
    } else {
      // groups of 8 bit-packed values, least significant bit first
      const groups = (header - 1) / 2;
      const total = groups * 8;
      const length = groups * width;
      if (pos + length > end) throw new FlatMalformed('bit-packed values run past their page');
      const stop = Math.min(count, n + total);
      if (width === 0) {
        out.fill(0, n, stop);
      } else if (width <= 24) {
        const mask = (1 << width) - 1;
        let buffer = 0;
        let bits = 0;
        let p = pos;
        for (let i = n; i < stop; i++) {
          while (bits < width) {
            buffer |= bytes[p++] << bits;
            bits += 8;
          }
          out[i] = buffer & mask;
          buffer >>>= width;
          bits -= width;
        }
      } else {
        let buffer = 0;
        let bits = 0;
        let p = pos;
        const scaleWidth = 2 ** width;
        for (let i = n; i < stop; i++) {
          while (bits < width) {
            buffer += bytes[p++] * 2 ** bits;
            bits += 8;
          }
          const value = buffer % scaleWidth;
          out[i] = value | 0;
          buffer = (buffer - value) / scaleWidth;
          bits -= width;
        }
      }
      pos += length;
      n = stop;
    }
  }
}
