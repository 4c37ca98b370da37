/**
 * pg-cursor's `Cursor` on pgwarp's streaming path: `read(n)` hands out rows from pages the
 * engine reads ahead (at most two), `close()` stops the statement on the server.
 * @module
 */
import { EventEmitter } from 'node:events';

import { RowStream } from '../query/stream';
import { toPgError } from './errors';
import { SUBMIT, type OwnSubmittable } from './query';
import { makeResult, type Result } from './result';
import { decoding, type Target } from './run';
import type { TypeParserSource } from './types';
import { prepareValues } from './values';

/** pg-cursor's options. */
export interface CursorConfig {
  rowMode?: 'array' | string;
  types?: TypeParserSource;
}

type ReadCallback<R> = (err: Error | null, rows: R[], result?: Result<R>) => void;

/**
 * A cursor over a query's rows, read `n` at a time; run it with `client.query(cursor)`.
 *
 * @example
 * ```ts
 * import Cursor from 'pgwarp/pg-cursor';
 *
 * const cursor = client.query(new Cursor('select * from events where kind = $1', ['click']));
 * for (let rows = await cursor.read(100); rows.length > 0; rows = await cursor.read(100)) handle(rows);
 * await cursor.close();
 * ```
 */
export class Cursor<R = Record<string, unknown>> extends EventEmitter implements OwnSubmittable {
  readonly [SUBMIT] = true as const;
  private ready: (() => Promise<Target>) | undefined;
  private stream: RowStream<R> | undefined;
  private finished = false;
  private result: Result<R> | undefined;
  private failure: unknown;

  constructor(
    readonly text: string,
    readonly values?: unknown[],
    private readonly config: CursorConfig = {},
  ) {
    super();
  }

  /** @internal */
  submitTo(_client: unknown, ready: () => Promise<Target>, hold: (done: Promise<void>) => void): void {
    this.ready = ready;
    // As in pg, the client's later queries run once the cursor is done or closed.
    hold(this.over);
  }

  private settled!: () => void;
  private readonly over = new Promise<void>((resolve) => (this.settled = resolve));

  private async open(batch: number): Promise<RowStream<R>> {
    if (this.stream !== undefined) return this.stream;
    if (this.ready === undefined) throw new Error('the cursor was not submitted: pass it to client.query() first');
    const target = await this.ready();
    const options = decoding(this.config.rowMode, this.config.types ?? target.types, target.native);
    this.stream = new RowStream<R>(target.runner, this.text, prepareValues(this.values), options, Math.max(batch, 100));
    return this.stream;
  }

  /** The next `count` rows (fewer at the end, none after it). */
  read(count: number, callback?: ReadCallback<R>): Promise<R[]> {
    const work = this.take(count);
    if (callback !== undefined) {
      work.then(
        (rows) => callback(null, rows, this.result),
        (err: Error) => callback(err, []),
      );
    }
    return work;
  }

  private async take(count: number): Promise<R[]> {
    // After a failure, every read fails the same way, as with pg-cursor.
    if (this.failure !== undefined) throw this.failure;
    const rows: R[] = [];
    if (this.finished) return rows;
    try {
      const stream = await this.open(count);
      while (rows.length < count) {
        const next = await stream.next();
        if (next.done) {
          this.finished = true;
          this.settled();
          this.result = makeResult(stream.tag, [], stream.columnMeta, this.config.rowMode);
          this.emit('end', this.result);
          break;
        }
        rows.push(next.value);
      }
      this.result ??= makeResult('', [], stream.columnMeta, this.config.rowMode);
      return rows;
    } catch (err) {
      this.finished = true;
      this.settled();
      this.failure = toPgError(err);
      if (this.listenerCount('error') > 0) this.emit('error', this.failure);
      throw this.failure;
    }
  }

  /** Stops the query; the connection stays usable. */
  close(callback?: (err?: Error) => void): Promise<void> {
    this.finished = true;
    const work = this.stream === undefined ? Promise.resolve() : this.stream.return().then(() => {});
    work.then(this.settled, this.settled);
    if (callback !== undefined) {
      work.then(
        () => callback(),
        (e: Error) => callback(e),
      );
    }
    return work;
  }
}
