/**
 * `stream()`: rows one at a time, page by page from the engine, with backpressure.
 * @module
 */
import { decodeResult, morePages, type DecodeOptions } from './decode';
import type { QueryRunner } from './query-result';

const MODE_STREAM = 4;

/**
 * A stream abandoned without finishing (its iterator dropped mid-way, never returned) still
 * holds a connection; when the iterator is collected, the stream is stopped.
 */
const abandoned = new FinalizationRegistry<{ runner: QueryRunner; cursor: number }>((held) => {
  held.runner.stop(held.cursor).catch(() => {});
});

/**
 * The async iterable `stream()` returns. Use it with `for await`; leaving the loop early stops
 * the query on the server.
 */
export class RowStream<T> implements AsyncIterableIterator<T> {
  private rows: T[] = [];
  private at = 0;
  private started = false;
  private done = false;
  /** The page being read ahead, requested before the current one was decoded. */
  private ahead: Promise<Buffer> | undefined;
  /** The engine's id for the rest of the result; 0 once the engine has sent the last page. */
  private cursor = 0;

  /** @internal */
  constructor(
    private readonly runner: QueryRunner,
    private readonly sql: string,
    private readonly params: readonly unknown[] | undefined,
    private readonly decode: DecodeOptions,
    private readonly batch: number,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The next row. Rows of a page already here come without a round trip. */
  next(): Promise<IteratorResult<T>> {
    if (this.at < this.rows.length) return Promise.resolve({ value: this.rows[this.at++], done: false });
    return this.fill();
  }

  /** Stops the query (when it still runs) and gives its connection back; `break` calls this. */
  async return(): Promise<IteratorResult<T>> {
    await this.close();
    return { value: undefined, done: true };
  }

  /** Stops as `return()` does, then throws `err`. */
  async throw(err?: unknown): Promise<IteratorResult<T>> {
    await this.close();
    throw err;
  }

  private async fill(): Promise<IteratorResult<T>> {
    if (this.done) return { value: undefined, done: true };
    try {
      let buf: Buffer | undefined;
      if (!this.started) {
        this.started = true;
        buf = await this.runner.run(this.sql, this.params, MODE_STREAM, { batch: this.batch });
      } else if (this.ahead !== undefined) {
        buf = await this.ahead;
      }
      while (buf !== undefined) {
        this.ahead = undefined;
        this.follow(morePages(buf));
        const page = decodeResult<T>(buf, this.sql, this.decode);
        this.rows = page.rows;
        this.at = 0;
        if (this.rows.length > 0) return { value: this.rows[this.at++], done: false };
        buf = this.ahead === undefined ? undefined : await this.ahead;
      }
    } catch (err) {
      await this.close();
      throw err;
    }
    this.done = true;
    return { value: undefined, done: true };
  }

  /** Notes the cursor of the pages to come, and asks for the next one before decoding this. */
  private follow(cursor: number): void {
    if (cursor === 0) {
      if (this.cursor !== 0) abandoned.unregister(this);
      this.cursor = 0;
      return;
    }
    if (this.cursor === 0) abandoned.register(this, { runner: this.runner, cursor }, this);
    this.cursor = cursor;
    this.ahead = this.runner.next(cursor);
  }

  private async close(): Promise<void> {
    this.done = true;
    this.rows = [];
    const cursor = this.cursor;
    if (cursor === 0) return;
    this.cursor = 0;
    abandoned.unregister(this);
    // A page asked for ahead settles when the engine stops; nothing waits for it.
    this.ahead = undefined;
    await this.runner.stop(cursor);
  }
}
