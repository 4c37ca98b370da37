/**
 * Decoding of result buffers (layout: `crates/pgwarp-core/src/result/layout.rs`).
 *
 * Per statement shape a decoder function is generated once and cached: it builds every row with
 * one object literal, so all rows share one hidden class. Column names enter the generated code
 * only through `JSON.stringify` (node-postgres#1603 was a code-injection hole through them), and
 * the cache is bounded.
 * @module
 */
import { errorFromResult } from '../errors/errors';
import { FIX_SHAPE, fixShaped, fixValue, type Shape } from './decode-fixes';
import { FIX_EXACT, placeExact, type JsonNumbers } from './json-exact';
import { EXACT_JSON, TEXT_RESULTS, UNNAMED } from '../engine/requests';
import { helpers, KIND_JSON, KIND_STRING, makeBuilder, viewsOf, type Parser, type RowBuilder } from './row-builder';

export type { Parser } from './row-builder';

/** How int8 (bigint) columns arrive in JavaScript. */
export type Int8Mode = 'number' | 'bigint' | 'string';
/** Rows as objects keyed by column name, or as arrays in column order. */
export type RowMode = 'object' | 'array';

const HEADER = 48;
const COLUMN = 28;

/** A column of a result, for the decoder. */
export interface ColumnInfo {
  name: string;
  /** PostgreSQL type OID. */
  typeOid: number;
}

/** A column of a result as the server described it (`result.columns`). */
export interface Column {
  /** The column's name or alias. */
  name: string;
  /** Its type's OID (`pg_type.oid`): 23 for int4, 25 for text, 3802 for jsonb. */
  type: number;
  /** The OID of the table it comes from; 0 when it is computed. */
  table: number;
  /** Its attribute number in that table (`pg_attribute.attnum`); 0 when it is computed. */
  number: number;
  /** The type modifier (`varchar(20)` is 24, `numeric(12,2)` is 786438); -1 when there is none. */
  typeModifier: number;
  /** The type's size in bytes (pg_type.typlen): 4 for int4, -1 for variable length. */
  size: number;
}

/** A decoded result. */
export interface Decoded<T> {
  rows: T[];
  /** Rows the statement returned or affected. */
  rowCount: number;
  /** The server's command tag (`INSERT 0 1`, `CREATE TABLE`); empty on pages before the last. */
  tag: string;
  /** The columns' descriptors, copied out of the page; read with {@link readColumnMeta}. */
  meta: Buffer | undefined;
  /** The columns' names and types, as the decoder knows them. */
  columns: readonly ColumnInfo[];
  /** Which of the pool's hosts answered, from 1 (0: not known); set on a whole result. */
  host?: number;
}

/**
 * The column descriptors of a result page, copied (a page is a slice of a larger completion
 * buffer, which a result must not keep alive), to be read when someone asks. The statement's
 * decoder keeps the last copy and gives it again while the bytes are the same, so a statement
 * run again allocates nothing here (the copy is never written to).
 */
function copyMeta(d: Decoder, buf: Buffer, at: number, count: number): Buffer | undefined {
  if (count === 0) return undefined;
  let end = at;
  for (let c = 0; c < count; c++) end += COLUMN + buf.readUInt16LE(end + 6);
  const kept = d.meta;
  if (kept !== undefined && sameBytes(kept, buf, at, end)) return kept;
  return (d.meta = Buffer.from(buf.subarray(at, end)));
}

/** Whether `buf[at, end)` holds `kept`'s bytes (a loop here costs less than `Buffer.compare`'s call for a few descriptors). */
function sameBytes(kept: Buffer, buf: Buffer, at: number, end: number): boolean {
  if (kept.length !== end - at) return false;
  for (let i = 0; i < kept.length; i++) if (kept[i] !== buf[at + i]) return false;
  return true;
}

/** The columns of a copied descriptor region. */
export function readColumnMeta(meta: Buffer | undefined): Column[] {
  const out: Column[] = [];
  if (meta === undefined) return out;
  for (let at = 0; at < meta.length; ) {
    const nameLen = meta.readUInt16LE(at + 6);
    out.push({
      name: meta.toString('utf8', at + COLUMN, at + COLUMN + nameLen),
      type: meta.readUInt32LE(at),
      table: meta.readUInt32LE(at + 16),
      number: meta.readInt16LE(at + 24),
      typeModifier: meta.readInt32LE(at + 20),
      size: meta.readInt16LE(at + 26),
    });
    at += COLUMN + nameLen;
  }
  return out;
}

/** The command of a server tag, without its counts: `INSERT 0 1` is `INSERT`, `CREATE TABLE` stays. */
export function commandOf(tag: string): string {
  return tag.replace(/( \d+)+$/, '');
}

interface Decoder {
  hash: number;
  /** The builder of pgwarp's own values, made on first use. */
  build: RowBuilder | undefined;
  kinds: Uint8Array;
  fixes: Uint8Array;
  columns: ColumnInfo[];
  /** Builders for node-postgres' values, by which columns have a parser ('0'/'1' per column). */
  pgBuilders?: Map<string, RowBuilder>;
  /**
   * The parsers and builder of the last pg decoding used here: the global registry's decoding
   * is one object until a parser changes, so its lookups are made once per statement.
   */
  pgLast?: { pg: NonNullable<DecodeOptions['pg']>; parsers: Parser[]; build: RowBuilder };
  /** The last copy of the statement's column descriptors (`copyMeta`). */
  meta?: Buffer;
}

const MAX_DECODERS = 512;
const NO_PARSERS: Parser[] = [];
/** Texts longer than this are not part of a decoder's cache key. */
const MAX_KEYED_LENGTH = 4096;
/**
 * Decoders by statement text, then by variant (row mode and value shapes). Keyed by the text
 * itself, a string the caller usually passes again (its hash is kept in it): a key built per
 * query by concatenation would be hashed again each time, over the whole text.
 */
const decoders = new Map<string, Map<string, Decoder>>();

function readColumns(buf: Buffer, count: number): { columns: ColumnInfo[]; kinds: Uint8Array; fixes: Uint8Array } {
  const columns: ColumnInfo[] = [];
  const kinds = new Uint8Array(count);
  const fixes = new Uint8Array(count);
  let at = HEADER + buf.readUInt32LE(40);
  for (let c = 0; c < count; c++) {
    const nameLen = buf.readUInt16LE(at + 6);
    kinds[c] = buf[at + 4];
    // Without the page's own FIX_EXACT bit: the decoder outlives the page.
    fixes[c] = buf[at + 5] & ~FIX_EXACT;
    columns.push({ typeOid: buf.readUInt32LE(at), name: buf.toString('utf8', at + COLUMN, at + COLUMN + nameLen) });
    at += COLUMN + nameLen;
  }
  return { columns, kinds, fixes };
}

function decoderFor(buf: Buffer, text: string, variant: string, long: boolean, hash: number, count: number): Decoder {
  let variants = decoders.get(text);
  const cached = variants?.get(variant);
  if (cached !== undefined && cached.hash === hash && !long) return cached;
  const { columns, kinds, fixes } = readColumns(buf, count);
  // A long text is cached under its columns' hash: the columns themselves must match too.
  if (cached !== undefined && cached.hash === hash && sameColumns(cached, columns, kinds)) return cached;
  // The builder is made on first use: pg-values decoders use their own (`pgBuilders`).
  const decoder: Decoder = { hash, build: undefined, kinds, fixes, columns };
  if (variants === undefined) {
    if (decoders.size >= MAX_DECODERS) decoders.delete(decoders.keys().next().value as string);
    decoders.set(text, (variants = new Map()));
  }
  variants.set(variant, decoder);
  return decoder;
}

/** The decoder variant of `opts`: row mode, then pg's values or the int8 mode. */
function variantOf(opts: DecodeOptions): string {
  if (opts.pg !== undefined) return opts.rowMode === 'array' ? 'ap' : 'op';
  // Literals, not concatenations: a literal is hashed once.
  if (opts.rowMode === 'array') return opts.int8 === 'bigint' ? 'ab' : opts.int8 === 'string' ? 'as' : 'an';
  return opts.int8 === 'bigint' ? 'ob' : opts.int8 === 'string' ? 'os' : 'on';
}

function sameColumns(d: Decoder, columns: ColumnInfo[], kinds: Uint8Array): boolean {
  if (d.columns.length !== columns.length) return false;
  for (let c = 0; c < columns.length; c++) {
    if (d.kinds[c] !== kinds[c] || d.columns[c].name !== columns[c].name || d.columns[c].typeOid !== columns[c].typeOid) return false;
  }
  return true;
}

/** Options that change how a result is decoded. */
export interface DecodeOptions {
  rowMode: RowMode;
  int8: Int8Mode;
  /** `'exact'`: the engine sets json documents with long integers aside (mode bit `EXACT_JSON`). */
  jsonNumbers?: JsonNumbers;
  /** The engine is asked for every column as the server's text (mode bit `TEXT_RESULTS`). */
  text?: boolean;
  /**
   * Values as node-postgres gives them (`pgwarp/pg`): the engine is asked with these mode bits
   * (`PG_VALUES` and its mask, or `TEXT_RESULTS`), and a column whose type has a parser here
   * gets it called on the text; the others keep the engine's value in pg's shape.
   */
  pg?: { bits: number; parser(oid: number): Parser | undefined };
  /** Run unnamed, not through the statement cache (mode bit `UNNAMED`). */
  unnamed?: boolean;
}

/** The mode bits a request with these options adds to its mode. */
export function resultBits(opts: DecodeOptions): number {
  if (opts.pg !== undefined) return opts.pg.bits;
  return (opts.text ? TEXT_RESULTS : opts.jsonNumbers === 'exact' ? EXACT_JSON : 0) | (opts.unnamed ? UNNAMED : 0);
}

/** Byte offset of the cells relative to the start of the ArrayBuffer must be 8-aligned. */
function aligned(buf: Buffer, cellsAt: number): Buffer {
  if ((buf.byteOffset + cellsAt) % 8 === 0) return buf;
  const copy = Buffer.from(new ArrayBuffer(buf.length));
  buf.copy(copy);
  return copy;
}

/** The cursor id of the pages after this one, or 0 when this page is the last. */
export function morePages(buf: Buffer): number {
  return buf[0] === 0 && (buf[1] & 2) !== 0 ? buf.readUInt32LE(44) : 0;
}

/**
 * Decodes a result buffer into rows, or throws the error it carries.
 * `sql` keys the decoder cache; `query` is attached to server errors.
 */
export function decodeResult<T>(raw: Buffer, sql: string, opts: DecodeOptions, withMeta = false): Decoded<T> {
  if (raw[0] !== 0) throw errorFromResult(raw, sql);
  const buf = aligned(raw, raw.readUInt32LE(20));
  const flags = buf[1];
  const count = buf.readUInt16LE(2);
  const n = buf.readUInt32LE(4);
  const total = buf.readDoubleLE(8);
  const hash = buf.readUInt32LE(16);
  const cellsAt = buf.readUInt32LE(20);
  const nullsAt = buf.readUInt32LE(24);
  const stringsAt = buf.readUInt32LE(28);
  const stringsLen = buf.readUInt32LE(32);
  const bytesAt = buf.readUInt32LE(36);
  const commandLen = buf.readUInt32LE(40);
  const tag = buf.toString('latin1', HEADER, HEADER + commandLen);
  if (count === 0) {
    // `select from t` returns rows without columns.
    const rows = Array.from({ length: n }, () => (opts.rowMode === 'array' ? [] : {}));
    return { rows: rows as T[], rowCount: total, tag, meta: undefined, columns: [] };
  }

  // Keys hold the text, except for long ones (they would keep megabytes per entry alive).
  const long = sql.length > MAX_KEYED_LENGTH;
  const text = long ? `\u0000#${hash}` : sql;
  const d = decoderFor(buf, text, variantOf(opts), long, hash, count);
  const views = viewsOf(buf.buffer);
  const str = stringsLen === 0 ? '' : buf.toString(flags & 1 ? 'latin1' : 'utf8', stringsAt, stringsAt + stringsLen);

  const json: unknown[][] = [];
  const int8: Int8Mode = opts.pg !== undefined ? 'string' : opts.int8;
  let at = HEADER + commandLen;
  for (let c = 0; c < count; c++) {
    if (d.kinds[c] === KIND_JSON) {
      const start = buf.readUInt32LE(at + 8);
      const end = buf.readUInt32LE(at + 12);
      let values = JSON.parse(str.slice(start, end)) as unknown[];
      if ((buf[at + 5] & FIX_EXACT) !== 0) placeExact(values, str);
      if (d.fixes[c] === FIX_SHAPE) {
        const shape = values[0] as Shape;
        values = values.slice(1);
        for (let r = 0; r < values.length; r++) values[r] = fixShaped(values[r], shape, int8);
      } else if (d.fixes[c] !== 0) for (let r = 0; r < values.length; r++) values[r] = fixValue(values[r], d.fixes[c], int8);
      json[c] = values;
    }
    at += COLUMN + buf.readUInt16LE(at + 6);
  }
  const meta = withMeta ? copyMeta(d, buf, HEADER + commandLen, count) : undefined;
  let build: RowBuilder;
  let parsers: Parser[] = NO_PARSERS;
  if (opts.pg === undefined) build = d.build ??= makeBuilder(d.columns, d.kinds, opts.rowMode, opts.int8);
  else if (d.pgLast !== undefined && d.pgLast.pg === opts.pg) {
    parsers = d.pgLast.parsers;
    build = d.pgLast.build;
  } else {
    parsers = new Array<Parser>(count);
    let signature = '';
    for (let c = 0; c < count; c++) {
      const p = d.kinds[c] === KIND_STRING ? opts.pg.parser(d.columns[c].typeOid) : undefined;
      if (p !== undefined) parsers[c] = p;
      signature += p === undefined ? '0' : '1';
    }
    d.pgBuilders ??= new Map();
    let b = d.pgBuilders.get(signature);
    if (b === undefined) {
      b = makeBuilder(d.columns, d.kinds, opts.rowMode, 'string', signature);
      // A statement's columns rarely change parsers; bound it anyway.
      if (d.pgBuilders.size >= 16) d.pgBuilders.clear();
      d.pgBuilders.set(signature, b);
    }
    build = b;
    d.pgLast = { pg: opts.pg, parsers, build };
  }
  return { rows: build(views, (buf.byteOffset + cellsAt) / 8, buf.byteOffset + nullsAt, buf.byteOffset + bytesAt, str, json, n, helpers, parsers) as T[], rowCount: total, tag, meta, columns: d.columns };
}
