/**
 * The finishing of values that arrive inside a column's JSON array (arrays, composites,
 * ranges): what JSON cannot say (int8 beyond 2^53, non-finite floats, timestamps, bytes) is
 * fixed here, per element, as the engine's fix code for the column says.
 * @module
 */
import type { Int8Mode } from './decode';
import { Int8RangeError } from '../errors/errors';

const FIX_INT8 = 1;
const FIX_FLOAT = 2;
const FIX_TIMESTAMP = 3;
const FIX_BYTES = 4;
/** Composites and ranges: the column's JSON array starts with their shape (`types/shaped.rs`). */
export const FIX_SHAPE = 5;

/** How to finish a value inside a composite or range: a scalar fix, or the shape of its parts. */
export type Shape = number | { f: [string, Shape][] } | { r: Shape } | { a: Shape };

export function fixShaped(v: unknown, shape: Shape, int8: Int8Mode): unknown {
  if (v === null || v === undefined) return null;
  if (typeof shape === 'number') return shape === 0 ? v : fixValue(v, shape, int8);
  if ('a' in shape) {
    const list = v as unknown[];
    // Arrays of several dimensions nest; their elements are never arrays themselves.
    for (let i = 0; i < list.length; i++) list[i] = Array.isArray(list[i]) ? fixShaped(list[i], shape, int8) : fixShaped(list[i], shape.a, int8);
    return list;
  }
  const o = v as Record<string, unknown>;
  if ('r' in shape) {
    o.lower = fixShaped(o.lower, shape.r, int8);
    o.upper = fixShaped(o.upper, shape.r, int8);
    return o;
  }
  for (const [name, s] of shape.f) o[name] = fixShaped(o[name], s, int8);
  return o;
}

/** Finishes one value (or each element of a nested array) by `fix`. */
export function fixValue(v: unknown, fix: number, int8: Int8Mode): unknown {
  if (v === null) return null;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = fixValue(v[i], fix, int8);
    return v;
  }
  switch (fix) {
    case FIX_INT8: {
      const s = v as string;
      if (int8 === 'string') return s;
      const big = BigInt(s);
      if (int8 === 'bigint') return big;
      const n = Number(big);
      if (!Number.isSafeInteger(n)) {
        throw new Int8RangeError(`int8 array element ${s} does not fit a JavaScript number exactly; use int8: 'bigint' or 'string'`);
      }
      return n;
    }
    case FIX_FLOAT:
      return typeof v === 'string' ? Number(v) : v;
    case FIX_TIMESTAMP:
      return typeof v === 'number' ? new Date(v) : v;
    case FIX_BYTES:
      return Buffer.from((v as string).slice(2), 'hex');
    default:
      return v;
  }
}
