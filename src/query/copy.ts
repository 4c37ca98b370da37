/**
 * COPY: `copyIn` sends `COPY ... FROM STDIN` data in any format from a Readable or an
 * iterable; `copyRows` sends records, which the engine encodes as binary (or text) COPY off
 * the JavaScript thread; `copyOut` reads `COPY ... TO STDOUT` as a Readable. Each holds a
 * connection alone while it runs. Backpressure runs end to end: the source is read only as
 * fast as the connection takes the data, and a copy-out is read from the server only as fast
 * as it is consumed.
 * @module
 */
import { MODE_COPY_IN, MODE_COPY_OUT, MODE_COPY_ROWS } from '../engine/requests';
import { traced, tracingOn } from '../tracing/tracing';
import { Readable } from 'node:stream';

import { errorFromResult, ParameterError } from '../errors/errors';
import { writeValue } from '../params/params';
import type { QueryRunner } from './query-result';
import { Writer } from '../params/writer';

/** Chunks handed to the engine and not yet taken by the connection, per copy. */
const WINDOW = 4;
/** Small source chunks (a line each, say) are joined up to this size before crossing over. */
const CHUNK_BYTES = 64 * 1024;
/** Rows are sent in batches of about this many bytes of values. */
const ROW_BATCH_BYTES = 256 * 1024;

/** What `copyIn` reads: a Node Readable, or any (async) iterable of Buffers or strings. */
export type CopySource = Readable | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>;

/** What `copyRows` reads: an array or (async) iterable of rows, each an array of values. */
export type CopyRows = Iterable<readonly unknown[]> | AsyncIterable<readonly unknown[]>;

/** A table: `'name'`, `'schema.name'`, or `['schema', 'name']` for names that contain dots. */
export type TableName = string | readonly string[];

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return `a ${typeof v}`;
}

function isIterable(v: unknown): v is Iterable<unknown> | AsyncIterable<unknown> {
  return v != null && typeof v === 'object' && (Symbol.asyncIterator in v || Symbol.iterator in v);
}

/** Sends one copy's chunks, keeping at most {@link WINDOW} of them in flight. */
class CopySender {
  private readonly window: Promise<Buffer>[] = [];

  constructor(
    private readonly runner: QueryRunner,
    private readonly copy: number,
    private readonly sql: string,
  ) {}

  async send(rows: boolean, data: Uint8Array): Promise<void> {
    this.window.push(this.runner.bridge.copyData(this.copy, rows, data));
    if (this.window.length >= WINDOW) this.check(await this.window.shift()!);
  }

  /** Commits: every chunk taken, then the server's verdict and row count. */
  async finish(): Promise<number> {
    try {
      while (this.window.length > 0) this.check(await this.window.shift()!);
    } catch (err) {
      return this.abort(err);
    }
    const end = await this.runner.bridge.copyEnd(this.copy, '');
    this.check(end);
    return end.readDoubleLE(8);
  }

  /** Aborts (the server rolls the COPY back) and rethrows what went wrong. */
  async abort(err: unknown): Promise<never> {
    const reason = (err instanceof Error ? err.message : String(err)) || 'aborted by the client';
    await this.runner.bridge.copyEnd(this.copy, reason);
    await Promise.all(this.window.splice(0));
    throw err;
  }

  private check(buf: Buffer): void {
    if (buf[0] !== 0) throw errorFromResult(buf, this.sql);
  }
}

async function start(runner: QueryRunner, sql: string, mode: number, label: string): Promise<CopySender> {
  const buf = await runner.run(sql, undefined, mode);
  if (buf[0] !== 0) throw errorFromResult(buf, label);
  return new CopySender(runner, buf.readUInt32LE(4), label);
}

/** @internal `copyIn` of a pool, reserved connection or transaction. */
export function copyIn(runner: QueryRunner, sql: string, source: CopySource): Promise<number> {
  const bridge = runner.bridge;
  if (!tracingOn(bridge.trace)) return copyInUntraced(runner, sql, source);
  return traced(bridge, 'copy', String(sql), undefined, () => copyInUntraced(runner, sql, source), (n) => ({ command: 'COPY', rowCount: n }));
}

async function copyInUntraced(runner: QueryRunner, sql: string, source: CopySource): Promise<number> {
  if (typeof sql !== 'string') throw new ParameterError('copyIn() needs the COPY ... FROM STDIN statement as a string');
  if (!isIterable(source)) {
    throw new ParameterError(`copyIn() reads a Readable or an (async) iterable of Buffers or strings, not ${describe(source)}`);
  }
  const sender = await start(runner, sql, MODE_COPY_IN, sql);
  let parts: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of source as AsyncIterable<unknown>) {
      let bytes: Uint8Array;
      if (typeof chunk === 'string') bytes = Buffer.from(chunk);
      else if (chunk instanceof Uint8Array) bytes = chunk;
      else throw new ParameterError(`copyIn(): the source gave ${describe(chunk)}; chunks must be Buffers, Uint8Arrays or strings`);
      if (bytes.byteLength === 0) continue;
      parts.push(bytes);
      size += bytes.byteLength;
      if (size >= CHUNK_BYTES) {
        await sender.send(false, parts.length === 1 ? parts[0] : Buffer.concat(parts, size));
        parts = [];
        size = 0;
      }
    }
    if (size > 0) await sender.send(false, Buffer.concat(parts, size));
  } catch (err) {
    return sender.abort(err);
  }
  return sender.finish();
}

function quoteIdent(name: unknown, what: string): string {
  if (typeof name !== 'string' || name === '' || name.includes('\0')) {
    throw new ParameterError(`${what} must be a non-empty string without NUL characters, not ${JSON.stringify(name)}`);
  }
  return `"${name.replace(/"/g, '""')}"`;
}

function quoteTable(table: TableName): string {
  const parts = typeof table === 'string' ? table.split('.') : table;
  if (!Array.isArray(parts) || parts.length === 0 || parts.length > 3) {
    throw new ParameterError(`the table must be 'name', 'schema.name' or ['schema', 'name'], not ${JSON.stringify(table)}`);
  }
  return parts.map((p) => quoteIdent(p, 'a table name part')).join('.');
}

/** @internal `copyRows` of a pool, reserved connection or transaction. */
export function copyRows(runner: QueryRunner, table: TableName, columns: readonly string[], rows: CopyRows): Promise<number> {
  const bridge = runner.bridge;
  if (!tracingOn(bridge.trace)) return copyRowsUntraced(runner, table, columns, rows);
  const text = `copy ${Array.isArray(table) ? table.join('.') : String(table)} (${Array.isArray(columns) ? columns.join(', ') : ''}) from stdin`;
  return traced(bridge, 'copy', text, undefined, () => copyRowsUntraced(runner, table, columns, rows), (n) => ({ command: 'COPY', rowCount: n }));
}

async function copyRowsUntraced(runner: QueryRunner, table: TableName, columns: readonly string[], rows: CopyRows): Promise<number> {
  const target = quoteTable(table);
  if (!Array.isArray(columns) || columns.length === 0) throw new ParameterError('copyRows() needs a non-empty array of column names');
  const list = columns.map((c) => quoteIdent(c, 'a column name')).join(', ');
  if (!isIterable(rows)) throw new ParameterError(`copyRows() reads an array or (async) iterable of rows, not ${describe(rows)}`);
  const n = columns.length;
  const sender = await start(runner, `${target}\0${list}`, MODE_COPY_ROWS, `COPY ${target} (${list})`);
  const w = new Writer();
  let values = 0;
  let row = 0;
  w.hole();
  // Writes one row; says whether the batch is full.
  const add = (r: unknown): boolean => {
    if (!Array.isArray(r) || r.length !== n) {
      throw new ParameterError(`copyRows row ${row}: expected an array of ${n} values (${columns.join(', ')}), got ${describe(r)}`);
    }
    for (let c = 0; c < n; c++) {
      try {
        writeValue(w, r[c], c + 1);
      } catch (e) {
        const msg = (e as Error).message.replace(`$${c + 1}`, `copyRows row ${row}, column "${columns[c]}"`);
        throw new ParameterError(msg);
      }
    }
    row++;
    values += n;
    return w.at >= ROW_BATCH_BYTES;
  };
  const flush = async (): Promise<void> => {
    if (values === 0) return;
    w.patch(0, values);
    const batch = w.buf.subarray(0, w.at);
    w.at = 0;
    values = 0;
    w.hole();
    await sender.send(true, batch);
  };
  try {
    if (Symbol.asyncIterator in rows) {
      for await (const r of rows as AsyncIterable<unknown>) if (add(r)) await flush();
    } else {
      // Not `for await`: it would cost a microtask per row of a plain array.
      for (const r of rows as Iterable<unknown>) if (add(r)) await flush();
    }
    await flush();
  } catch (err) {
    return sender.abort(err);
  }
  return sender.finish();
}

/** @internal `copyOut` of a pool, reserved connection or transaction. */
export function copyOut(runner: QueryRunner, sql: string): Readable {
  let started = false;
  let cursor = 0;
  const onPage = (buf: Buffer): void => {
    const more = buf[0] === 0 && (buf[1] & 2) !== 0;
    const next = more ? buf.readUInt32LE(4) : 0;
    if (stream.destroyed) {
      // Destroyed while this page was on its way: the engine still holds the connection.
      if (next !== 0) runner.stop(next).catch(() => {});
      return;
    }
    if (buf[0] !== 0) {
      stream.destroy(errorFromResult(buf, sql));
      return;
    }
    cursor = next;
    if (!more) (stream as Readable & { rowCount?: number }).rowCount = buf.readUInt32LE(4);
    if (buf.length > 8) stream.push(buf.subarray(8));
    if (!more) stream.push(null);
  };
  const stream = new Readable({
    highWaterMark: CHUNK_BYTES,
    read() {
      let page: Promise<Buffer> | undefined;
      if (!started) {
        started = true;
        if (typeof sql !== 'string') {
          this.destroy(new ParameterError('copyOut() needs the COPY ... TO STDOUT statement as a string'));
          return;
        }
        page = runner.run(sql, undefined, MODE_COPY_OUT);
        traceCopyOut(runner, sql, stream);
      } else if (cursor !== 0) {
        page = runner.next(cursor);
      }
      page?.then(onPage, (err: unknown) => this.destroy(err as Error));
    },
    destroy(err, callback) {
      const c = cursor;
      cursor = 0;
      if (c === 0) return callback(err);
      runner.stop(c).then(
        () => callback(err),
        () => callback(err),
      );
    },
  });
  return stream;
}

/** A `copyOut()` stream as one traced call, from its first read to its end (or its error). */
function traceCopyOut(runner: QueryRunner, sql: string, stream: Readable & { rowCount?: number }): void {
  const bridge = runner.bridge;
  if (!tracingOn(bridge.trace)) return;
  const over = new Promise<void>((resolve, reject) => {
    stream.once('end', () => resolve());
    stream.once('close', () => resolve());
    stream.once('error', reject);
  });
  traced(bridge, 'copy', sql, undefined, () => over, () => ({ command: 'COPY', rowCount: stream.rowCount })).catch(() => {});
}
