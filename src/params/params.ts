/**
 * Query parameters written for the engine, which encodes them for the statement's parameter
 * types. Tags match `crates/pgwarp-core/src/params/wire.rs`.
 * @module
 */
import { randomBytes } from 'node:crypto';

import { ParameterError } from '../errors/errors';
import type { Writer } from './writer';

const NULL = 0;
const TRUE = 1;
const FALSE = 2;
const NUMBER = 3;
const BIGINT = 4;
const STRING = 5;
const BYTES = 6;
const DATE = 7;
const JSON_TEXT = 8;
const ARRAY = 9;

/**
 * Writes `values` into `w`: a count, then per value a tag and its payload (nothing at all for
 * no parameters). Throws {@link ParameterError} for values no type accepts; the caller rewinds.
 */
export function writeParams(w: Writer, values: readonly unknown[] | undefined): void {
  if (values === undefined || values === null) return;
  if (!Array.isArray(values)) throw new ParameterError('parameters must be an array');
  const count = values.length;
  if (count === 0) return;
  if (count > MAX_PARAMETERS) {
    throw new ParameterError(`${count.toLocaleString('en')} parameters: the PostgreSQL protocol allows at most ${MAX_PARAMETERS.toLocaleString('en')} per statement`);
  }
  w.u32(count);
  for (let i = 0; i < count; i++) write(w, values[i], i + 1, 0);
}

/** The protocol counts parameters in 16 bits. */
const MAX_PARAMETERS = 65535;

/** Writes one value; errors name it `$n`. */
export function writeValue(w: Writer, v: unknown, n: number): void {
  write(w, v, n, 0);
}

function write(w: Writer, v: unknown, n: number, depth: number): void {
  switch (typeof v) {
    case 'number':
      w.u8(NUMBER);
      w.f64(v);
      return;
    case 'string':
      w.u8(STRING);
      w.str(v);
      return;
    case 'boolean':
      w.u8(v ? TRUE : FALSE);
      return;
    case 'bigint':
      w.u8(BIGINT);
      w.str(v.toString());
      return;
    case 'undefined':
      w.u8(NULL);
      return;
    case 'object':
      if (v === null) return w.u8(NULL);
      try {
        return writeObject(w, v, n, depth);
      } catch (err) {
        if (err instanceof ParameterError) throw err;
        // A revoked Proxy, a throwing getter or toJSON: name the parameter, keep the cause.
        throw new ParameterError(`$${n}: the value cannot be read: ${(err as Error)?.message ?? String(err)}`, { cause: err });
      }
    default:
      throw new ParameterError(`$${n}: a ${typeof v} cannot be sent to PostgreSQL`);
  }
}

function writeObject(w: Writer, v: object, n: number, depth: number): void {
  if (v instanceof Date) {
    const t = v.getTime();
    if (Number.isNaN(t)) throw new ParameterError(`$${n}: the Date is invalid`);
    w.u8(DATE);
    w.f64(t);
    return;
  }
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    w.u8(BYTES);
    w.bytes(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    return;
  }
  if (Array.isArray(v)) {
    if (depth > 64) throw new ParameterError(`$${n}: arrays nested deeper than 64 levels`);
    // By index, with the length read once: the count written first must be exactly the
    // number of values that follow, whatever the array's iterator says.
    const len = v.length;
    w.u8(ARRAY);
    w.u32(len);
    for (let i = 0; i < len; i++) write(w, v[i], n, depth + 1);
    return;
  }
  if (loses(v, 0)) throw new ParameterError(`$${n}: ${lostInJson(v, '', 0) ?? 'a value inside it'}, which JSON cannot hold (it would be dropped or changed silently)`);
  const json = toJson(v, n);
  if (json === undefined) throw new ParameterError(`$${n}: its toJSON() gave undefined, which is no value at all (pass null for NULL)`);
  w.u8(JSON_TEXT);
  w.str(json);
}

/**
 * Whether JSON.stringify would silently drop or change something in `v` (see
 * {@link lostInJson}, which says what). On every object parameter, so kept lean: a tenth to a
 * fifth of what JSON.stringify costs (W10's 1 KB document: 1.0 us against 5.5-11 us).
 */
function loses(v: object, depth: number): boolean {
  if (depth > 64) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      const t = typeof x;
      if (t === 'object' ? x !== null && loses(x as object, depth + 1) : t === 'symbol' || t === 'function') return true;
    }
    return false;
  }
  if (v instanceof Date) return Number.isNaN(v.getTime());
  if (v instanceof Map || v instanceof Set) return true;
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return false;
  for (const key in v) {
    const x: unknown = (v as Record<string, unknown>)[key];
    const t = typeof x;
    // (`for in` also sees inherited properties, which JSON leaves out: only own ones count.)
    if ((t === 'object' ? x !== null && loses(x as object, depth + 1) : t === 'symbol' || t === 'function') && Object.hasOwn(v, key)) return true;
  }
  return false;
}

/**
 * What of `v` JSON.stringify would silently drop or change (a symbol or function, an invalid
 * Date, a Map or a Set), described with its path; undefined when nothing. Properties that are
 * `undefined` are left out as JSON leaves them out (optional fields). An object with its own
 * `toJSON` says itself what it is.
 */
function lostInJson(v: object, path: string, depth: number): string | undefined {
  if (depth > 64) return undefined;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? `${path || 'the value'} is an invalid Date` : undefined;
  if (v instanceof Map || v instanceof Set) return `${path || 'the value'} is a ${v instanceof Map ? 'Map' : 'Set'}`;
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return undefined;
  const array = Array.isArray(v);
  // Own keys, as JSON.stringify reads them.
  for (const key of Object.keys(v)) {
    const x = (v as Record<string, unknown>)[key];
    const t = typeof x;
    if (t === 'symbol' || t === 'function') return `${at(path, key, array)} is a ${t}`;
    if (t === 'object' && x !== null) {
      const inner = lostInJson(x as object, at(path, key, array), depth + 1);
      if (inner !== undefined) return inner;
    }
  }
  return undefined;
}

/** A property's path for an error message: `field "a"`, `field "a"[2]`. */
function at(path: string, key: string, index: boolean): string {
  if (index) return `${path || 'the value'}[${key}]`;
  return path === '' ? `field ${JSON.stringify(key)}` : `${path}.${key}`;
}

function toJson(v: object, n: number): string | undefined {
  try {
    return JSON.stringify(v) as string | undefined;
  } catch (e) {
    if (e instanceof TypeError && /BigInt/.test(e.message)) return withBigInts(v, n);
    throw new ParameterError(`$${n}: the object cannot be written as JSON: ${(e as Error).message}`);
  }
}

/**
 * A bigint inside the object becomes a marker string that JSON.stringify can write, then the
 * quoted marker becomes the bigint's exact digits. The marker starts with a NUL and a random
 * word chosen per process, so no string of the document can be taken for one. Only documents
 * with a bigint pay for this (the first stringify threw).
 */
function withBigInts(v: object, n: number): string | undefined {
  try {
    const text = JSON.stringify(v, (_key, x: unknown) => (typeof x === 'bigint' ? BIG_MARK + x.toString() : x)) as string | undefined;
    return text?.replace(BIG_QUOTED, '$1');
  } catch (e) {
    throw new ParameterError(`$${n}: the object cannot be written as JSON: ${(e as Error).message}`);
  }
}

const BIG_MARK = `\u0000pgwarp-bigint-${randomBytes(12).toString('hex')}:`;
// As JSON.stringify writes the marker inside a string: "\u0000pgwarp-bigint-...:<digits>".
const BIG_QUOTED = new RegExp(`"${JSON.stringify(BIG_MARK).slice(1, -1).replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}(-?\\d+)"`, 'g');
