/**
 * The rows of a result page: the generated row builders (one object literal per row, so all
 * rows of a statement share a hidden class; column names enter the code only through
 * `JSON.stringify`), the helpers they call, and the typed views over a completion buffer that
 * they read (layout: `crates/pgwarp-core/src/result/layout.rs`).
 * @module
 */
import { Int8RangeError } from '../errors/errors';
import type { ColumnInfo, Int8Mode, RowMode } from './decode';

export const KIND_BOOL = 1;
export const KIND_NUMBER = 2;
export const KIND_INT8 = 3;
export const KIND_STRING = 4;
export const KIND_JSON = 5;
export const KIND_BYTES = 6;
export const KIND_TIMESTAMP = 7;


/** A type parser of node-postgres' kind: the server's text in, the value out. */
export type Parser = (text: string) => unknown;

/**
 * Builds a page's rows. The views cover the whole completion buffer the page is part of;
 * `cells`, `nulls` and `bytes` say where the page's regions start in them (cells in units of
 * 8 bytes), so a page costs no views of its own.
 */
export type RowBuilder = (
  v: Views,
  cells: number,
  nulls: number,
  bytes: number,
  str: string,
  json: unknown[][],
  n: number,
  h: Helpers,
  p: Parser[],
) => unknown[];

/** Typed views over one completion buffer. */
export interface Views {
  f64: Float64Array;
  u32: Uint32Array;
  i32: Int32Array;
  i64: BigInt64Array;
  u8: Buffer;
}

/** Buffers up to this size keep their views for the next page (a larger one is not kept alive). */
const KEEP_VIEWS_UP_TO = 1 << 20;
let lastViews: { ab: ArrayBufferLike; views: Views } | undefined;

/**
 * The views of `ab`: the pages of one completion share them (four typed arrays and a Buffer
 * per page were most of a point query's allocations).
 */
export function viewsOf(ab: ArrayBufferLike): Views {
  if (lastViews !== undefined && lastViews.ab === ab) return lastViews.views;
  const words = Math.floor(ab.byteLength / 8);
  const views: Views = {
    f64: new Float64Array(ab, 0, words),
    u32: new Uint32Array(ab, 0, words * 2),
    i32: new Int32Array(ab, 0, words * 2),
    i64: new BigInt64Array(ab, 0, words),
    u8: Buffer.from(ab),
  };
  lastViews = ab.byteLength <= KEEP_VIEWS_UP_TO ? { ab, views } : undefined;
  return views;
}

export interface Helpers {
  int8ToNumber(hi: number, lo: number, column: string): number;
  timestamp(ms: number): Date | string;
  /** timestamptz as pg-types gives it: a Date, or +-Infinity. */
  pgTimestamp(ms: number): Date | number;
  /** timestamp without time zone as pg-types gives it: the same wall time, in local time. */
  pgLocalTimestamp(ms: number): Date | number;
}

export const helpers: Helpers = {
  int8ToNumber(hi, lo, column) {
    // hi is the signed high word: the value is exact while it stays within +/-2^53.
    const v = hi * 4294967296 + lo;
    if (!Number.isSafeInteger(v)) {
      throw new Int8RangeError(
        `int8 value in column ${JSON.stringify(column)} does not fit a JavaScript number exactly; ` +
          `use the option int8: 'bigint' or 'string'`,
      );
    }
    return v;
  },
  timestamp(ms) {
    if (ms === Infinity) return 'infinity';
    if (ms === -Infinity) return '-infinity';
    return new Date(ms);
  },
  pgTimestamp(ms) {
    return Number.isFinite(ms) ? new Date(ms) : ms;
  },
  pgLocalTimestamp(ms) {
    if (!Number.isFinite(ms)) return ms;
    // The engine gives the wall time as if it were UTC; pg-types reads it as local time.
    const u = new Date(ms);
    const year = u.getUTCFullYear();
    const d = new Date(year, u.getUTCMonth(), u.getUTCDate(), u.getUTCHours(), u.getUTCMinutes(), u.getUTCSeconds(), u.getUTCMilliseconds());
    if (year >= 0 && year < 100) d.setFullYear(year);
    return d;
  },
};

function cellExpr(kind: number, c: number, name: string, int8: Int8Mode): string {
  const k = `(b + ${c})`;
  switch (kind) {
    case KIND_BOOL:
      return `f64[${k}] === 1`;
    case KIND_NUMBER:
      return `f64[${k}]`;
    case KIND_INT8:
      if (int8 === 'bigint') return `i64[${k}]`;
      if (int8 === 'string') return `i64[${k}].toString()`;
      return `h.int8ToNumber(i32[${k} * 2 + 1], u32[${k} * 2], ${JSON.stringify(name)})`;
    case KIND_STRING:
      return `str.slice(u32[${k} * 2], u32[${k} * 2 + 1])`;
    case KIND_BYTES:
      return `Buffer.from(u8.subarray(by + u32[${k} * 2], by + u32[${k} * 2 + 1]))`;
    case KIND_TIMESTAMP:
      return `h.timestamp(f64[${k}])`;
    case KIND_JSON:
      return `json[${c}][r]`;
    default:
      throw new Error(`pgwarp: unknown column kind ${kind}`);
  }
}

/** A value as node-postgres gives it (`pg` in {@link DecodeOptions}): `p[c]` is the column's parser, if it has one. */
function pgCellExpr(kind: number, c: number, col: ColumnInfo, parsed: boolean): string {
  const k = `(b + ${c})`;
  if (parsed && kind === KIND_STRING) return `p[${c}](str.slice(u32[${k} * 2], u32[${k} * 2 + 1]))`;
  if (kind === KIND_INT8) return `i64[${k}].toString()`;
  if (kind === KIND_TIMESTAMP) return col.typeOid === 1114 ? `h.pgLocalTimestamp(f64[${k}])` : `h.pgTimestamp(f64[${k}])`;
  return cellExpr(kind, c, col.name, 'string');
}

export function makeBuilder(columns: ColumnInfo[], kinds: Uint8Array, rowMode: RowMode, int8: Int8Mode, parsed?: string): RowBuilder {
  const parts = columns.map((col, c) => {
    const expr = parsed === undefined ? cellExpr(kinds[c], c, col.name, int8) : pgCellExpr(kinds[c], c, col, parsed[c] === '1');
    const value = kinds[c] === KIND_JSON ? expr : `u8[nb + ${c}] === 1 ? null : ${expr}`;
    if (rowMode === 'array') return value;
    // A literal `__proto__:` key would set the prototype; a computed key defines a property.
    const key = col.name === '__proto__' ? `["__proto__"]` : JSON.stringify(col.name);
    return `${key}: ${value}`;
  });
  const row = rowMode === 'array' ? `[${parts.join(', ')}]` : `{ ${parts.join(', ')} }`;
  const body = `
    const { f64, u32, i32, i64, u8 } = v;
    const rows = new Array(n);
    for (let r = 0; r < n; r++) {
      const b = cells + r * ${columns.length};
      const nb = nulls + r * ${columns.length};
      rows[r] = ${row};
    }
    return rows;`;
  return new Function('v', 'cells', 'nulls', 'by', 'str', 'json', 'n', 'h', 'p', body) as RowBuilder;
}
