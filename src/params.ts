/**
 * Query parameters written into one buffer for the engine, which encodes them for the
 * statement's parameter types. Tags match `crates/pgwarp-core/src/params/wire.rs`.
 * @module
 */
import { ParameterError } from './errors';

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

const EMPTY = Buffer.alloc(0);

/** A growable write buffer reused across calls; each call copies out what it wrote. */
class Writer {
  buf = Buffer.allocUnsafe(4096);
  at = 0;

  room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.at++] = v;
  }

  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32LE(v, this.at);
    this.at += 4;
  }

  f64(v: number): void {
    this.room(8);
    this.buf.writeDoubleLE(v, this.at);
    this.at += 8;
  }

  text(tag: number, s: string): void {
    this.room(5 + s.length * 3);
    this.buf[this.at] = tag;
    const n = this.buf.write(s, this.at + 5);
    this.buf.writeUInt32LE(n, this.at + 1);
    this.at += 5 + n;
  }

  bytes(b: Uint8Array): void {
    this.u8(BYTES);
    this.u32(b.byteLength);
    this.room(b.byteLength);
    this.buf.set(b, this.at);
    this.at += b.byteLength;
  }
}

const writer = new Writer();

/** Encodes `values` for the engine. Throws {@link ParameterError} for values no type accepts. */
export function encodeParams(values: readonly unknown[] | undefined): Buffer {
  if (values === undefined || values.length === 0) return EMPTY;
  if (!Array.isArray(values)) throw new ParameterError('parameters must be an array');
  writer.at = 0;
  writer.u32(values.length);
  for (let i = 0; i < values.length; i++) write(values[i], i + 1, 0);
  return Buffer.from(writer.buf.subarray(0, writer.at));
}

function write(v: unknown, n: number, depth: number): void {
  switch (typeof v) {
    case 'number':
      writer.u8(NUMBER);
      writer.f64(v);
      return;
    case 'string':
      writer.text(STRING, v);
      return;
    case 'boolean':
      writer.u8(v ? TRUE : FALSE);
      return;
    case 'bigint':
      writer.text(BIGINT, v.toString());
      return;
    case 'undefined':
      writer.u8(NULL);
      return;
    case 'object':
      if (v === null) return writer.u8(NULL);
      if (v instanceof Date) {
        const t = v.getTime();
        if (Number.isNaN(t)) throw new ParameterError(`$${n}: the Date is invalid`);
        writer.u8(DATE);
        writer.f64(t);
        return;
      }
      if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
        writer.bytes(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
        return;
      }
      if (Array.isArray(v)) {
        if (depth > 64) throw new ParameterError(`$${n}: arrays nested deeper than 64 levels`);
        writer.u8(ARRAY);
        writer.u32(v.length);
        for (const item of v) write(item, n, depth + 1);
        return;
      }
      writer.text(JSON_TEXT, toJson(v, n));
      return;
    default:
      throw new ParameterError(`$${n}: a ${typeof v} cannot be sent to PostgreSQL`);
  }
}

function toJson(v: object, n: number): string {
  try {
    return JSON.stringify(v);
  } catch (e) {
    throw new ParameterError(`$${n}: the object cannot be written as JSON: ${(e as Error).message}`);
  }
}
