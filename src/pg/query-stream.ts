/**
 * pg-query-stream's `QueryStream`: a Readable of rows in object mode, read from pgwarp's
 * streaming path at the consumer's pace.
 * @module
 */
import { Readable } from 'node:stream';

import { RowStream } from '../query/stream';
import { toPgError } from './errors';
import { SUBMIT, type OwnSubmittable } from './query';
import { decoding, type Target } from './run';
import type { TypeParserSource } from './types';
import { prepareValues } from './values';

/** pg-query-stream's options. */
export interface QueryStreamConfig {
  batchSize?: number;
  highWaterMark?: number;
  rowMode?: 'array' | string;
  types?: TypeParserSource;
}

/**
 * A query's rows as a Readable; run it with `client.query(stream)`.
 *
 * @example
 * ```ts
 * import QueryStream from 'pgwarp/pg-query-stream';
 *
 * const stream = client.query(new QueryStream('select * from events'));
 * for await (const row of stream) handle(row);
 * ```
 */
export class QueryStream extends Readable implements OwnSubmittable {
  readonly [SUBMIT] = true as const;
  private ready: (() => Promise<Target>) | undefined;
  private rows: RowStream<unknown> | undefined;
  private reading = false;
  private again = false;
  private held: unknown[] = [];
  private heldAt = 0;

  private compact(): void {
    if (this.heldAt >= this.held.length) {
      this.held = [];
      this.heldAt = 0;
    }
  }
  private readonly batch: number;

  constructor(
    readonly text: string,
    readonly values?: unknown[],
    private readonly config: QueryStreamConfig = {},
  ) {
    const { batchSize, highWaterMark = 100 } = config;
    super({ objectMode: true, autoDestroy: true, highWaterMark: batchSize || highWaterMark });
    this.batch = batchSize || highWaterMark;
  }

  /** @internal */
  submitTo(_client: unknown, ready: () => Promise<Target>, hold: (done: Promise<void>) => void): void {
    this.ready = ready;
    // As in pg, the client's later queries run once the stream has ended or been destroyed.
    hold(new Promise<void>((resolve) => this.once('close', resolve)));
  }

  override _read(): void {
    // A read asked for while a pump runs (it may be just returning) starts another after it.
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    void this.pump().finally(() => {
      this.reading = false;
      if (this.again && !this.destroyed) {
        this.again = false;
        this._read();
      }
    });
  }

  private async pump(): Promise<void> {
    try {
      if (this.rows === undefined) {
        if (this.ready === undefined) throw new Error('the stream was not submitted: pass it to client.query() first');
        const target = await this.ready();
        const options = decoding(this.config.rowMode, this.config.types ?? target.types, target.native);
        this.rows = new RowStream<unknown>(target.runner, this.text, prepareValues(this.values), options, Math.max(this.batch, 100));
      }
      for (;;) {
        // Rows taken from a page but not pushed yet (the consumer was full) go first.
        while (this.heldAt < this.held.length) {
          if (this.destroyed) return;
          if (!this.push(this.held[this.heldAt++])) {
            this.compact();
            return;
          }
        }
        this.compact();
        const next = await this.rows.next();
        if (this.destroyed) return;
        if (next.done) {
          this.push(null);
          return;
        }
        // The rest of the page comes without a promise per row.
        this.held = this.rows.takeBuffered();
        this.heldAt = 0;
        if (!this.push(next.value)) return;
      }
    } catch (err) {
      this.destroy(toPgError(err) as Error);
    }
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const rows = this.rows;
    if (rows === undefined) return callback(err);
    rows.return().then(
      () => callback(err),
      () => callback(err),
    );
  }
}
