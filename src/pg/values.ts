/**
 * Parameters as node-postgres sends them: every value as text (the server infers its type),
 * except Buffers, which go as bytes. Dates are local time with their offset, arrays array
 * literals, objects JSON unless they have `toPostgres()`.
 * @module
 */
import { defaults } from './defaults';

/** A parameter ready for the engine: text, bytes or NULL (or an integer, see `prepareValues`). */
export type Prepared = string | Buffer | null | number;

/**
 * Converts `values` as pg's `prepareValue` does; `undefined` for no parameters. With
 * `integers`, safe integers stay numbers: in a request for pg's values the engine sends them
 * as the digits `String(n)` gives. Made here, those strings were most of what pgwarp/pg's
 * point query promoted to V8's old generation (its number-to-string cache keeps them alive):
 * a third of its JavaScript time went to the collector.
 */
export function prepareValues(values: readonly unknown[] | undefined, integers = false): Prepared[] | undefined {
  if (values === undefined || values === null) return undefined;
  const out = new Array<Prepared>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out[i] = integers && Number.isSafeInteger(v) ? (v as number) : prepareValue(v);
  }
  return out;
}

/** One value as pg sends it. */
export function prepareValue(v: unknown, seen?: object[]): Prepared {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'object') return String(v);
  if (Buffer.isBuffer(v)) return v;
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof Date) return defaults.parseInputDatesAsUTC ? dateText(v, true) : dateText(v, false);
  if (Array.isArray(v)) return arrayLiteral(v);
  const custom = (v as { toPostgres?: unknown }).toPostgres;
  if (typeof custom === 'function') {
    const path = seen ?? [];
    if (path.includes(v)) throw new Error(`circular reference detected while preparing "${String(v)}" for query`);
    path.push(v);
    return prepareValue(custom.call(v, prepareValue), path);
  }
  return JSON.stringify(v);
}

/** An array literal: every element quoted, NULL for null and undefined, bytes as `\\x` hex. */
function arrayLiteral(list: readonly unknown[]): string {
  let out = '{';
  for (let i = 0; i < list.length; i++) {
    if (i > 0) out += ',';
    const e = list[i];
    if (e === null || e === undefined) out += 'NULL';
    else if (Array.isArray(e)) out += arrayLiteral(e);
    else if (ArrayBuffer.isView(e)) out += '\\\\x' + Buffer.from(e.buffer, e.byteOffset, e.byteLength).toString('hex');
    else {
      const text = prepareValue(e);
      out += '"' + String(text).replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
    }
  }
  return out + '}';
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** `2024-01-02T03:04:05.006+01:00`, in local time (or UTC), years before 1 as `BC`. */
function dateText(d: Date, utc: boolean): string {
  let year = utc ? d.getUTCFullYear() : d.getFullYear();
  const bc = year < 1;
  if (bc) year = Math.abs(year) + 1;
  const parts = utc
    ? [d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()]
    : [d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds()];
  let out = `${pad(year, 4)}-${pad(parts[0], 2)}-${pad(parts[1], 2)}T${pad(parts[2], 2)}:${pad(parts[3], 2)}:${pad(parts[4], 2)}.${pad(parts[5], 3)}`;
  if (utc) out += '+00:00';
  else {
    let offset = -d.getTimezoneOffset();
    out += offset < 0 ? '-' : '+';
    offset = Math.abs(offset);
    out += `${pad(Math.floor(offset / 60), 2)}:${pad(offset % 60, 2)}`;
  }
  return bc ? out + ' BC' : out;
}

/** pg's `escapeIdentifier`: double quotes around, inner ones doubled. */
export function escapeIdentifier(name: string): string {
  return '"' + String(name).replace(/"/g, '""') + '"';
}

/** pg's `escapeLiteral`: single quotes doubled; with backslashes, an `E''` string with them doubled. */
export function escapeLiteral(text: string): string {
  if (typeof text !== 'string') return "''";
  const s = text;
  const quoted = "'" + s.replace(/'/g, "''").replace(/\\/g, '\\\\') + "'";
  return s.includes('\\') ? ' E' + quoted : quoted;
}
