/**
 * `stream()`: rows one at a time, page by page from the engine, with backpressure.
 * @module
 */
import { MODE_STREAM } from '../engine/requests';
import { traced, tracingOn } from '../tracing/tracing';
import { commandOf, decodeResult, morePages, readColumnMeta, resultBits, type Column, type DecodeOptions } from '../result/decode';
import type { QueryRunner } from './query-result';
import { abortError, arm, interrupt, newCancelKey, type CancelOptions, type CancelTarget } from './abort';
import type { Codecs } from './codecs';

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
  private meta: Buffer | undefined;
  private described = false;
  private columnList: Column[] | undefined;

  /** @internal The server's command tag, once the last page has come (empty before). */
  tag = '';
  /** Ends the stream's `pgwarp:query` trace (set while traced). */
  private traceEnd: ((err?: unknown) => void) | undefined;
  /** Rows received, for the trace. */
  private received = 0;
  /** @internal The descriptors of the result's columns, once the first page has come. */
  get columnMeta(): Buffer | undefined {
    return this.meta;
  }

  /** The result's columns, once the first page has come (`undefined` before). */
  get columns(): Column[] | undefined {
    if (!this.described) return undefined;
    return (this.columnList ??= readColumnMeta(this.meta));
  }

  /** @internal */
  constructor(
    private runner: QueryRunner,
    private readonly sql: string,
    private readonly params: readonly unknown[] | undefined,
    private readonly decode: DecodeOptions,
    private readonly batch: number,
    private readonly cancel?: CancelOptions,
    private readonly codecs?: Codecs,
  ) {
    if (cancel !== undefined) this.arm(cancel);
  }

  /** With a signal or a timeout: the connection the stream runs on, which a cancel targets. */
  private target: CancelTarget | undefined;
  /** The cancel key its statement carries (see `abort.ts`). */
  private readonly key = newCancelKey();
  /** Settles once no cancel for the stream is on its way (see `abort.ts`). */
  private cancelled: Promise<void> = Promise.resolve();
  private firstPage = false;
  /** The statement was sent; `firstArrived` settles with its first page. */
  private sent = false;
  private arrived!: () => void;
  private readonly firstArrived = new Promise<void>((resolve) => (this.arrived = resolve));
  private disarm: (() => void) | undefined;

  /** Why the stream was aborted (its signal, its timeout), once it was. */
  private aborted: Error | undefined;
  private wakeAbort: ((err: Error) => void) | undefined;

  /** A signal or timeout stops the stream as `break` does, and fails the pending `next()`. */
  private arm(o: CancelOptions): void {
    if (o.signal?.aborted) {
      this.aborted = abortError(o.signal);
      return;
    }
    this.disarm = arm(o, `the stream took longer than its timeout of ${o.timeout} ms and was cancelled`, (err) => {
      if (this.aborted || this.done) return;
      this.aborted = err;
      this.wakeAbort?.(err);
      // Before its first page the engine has no cursor to stop: cancel on the connection
      // (after it, stopping the cursor is the way, and a cancel could hit the next user).
      if (this.target !== undefined && this.sent && !this.firstPage) this.cancelled = interrupt(this.target, this.key);
      void this.close().catch(() => {});
    });
  }

  /** `p`, unless the stream is aborted first. */
  private race<V>(p: Promise<V>): Promise<V> {
    if (this.aborted) return Promise.reject(this.aborted);
    return new Promise<V>((resolve, reject) => {
      this.wakeAbort = reject;
      p.then(resolve, reject);
    });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /**
   * @internal The rows of the current page not handed out yet, taken all at once (for
   * Readable adapters, which would otherwise pay a promise per row).
   */
  takeBuffered(): T[] {
    if (this.at >= this.rows.length) return [];
    const rest = this.at === 0 ? this.rows : this.rows.slice(this.at);
    this.rows = [];
    this.at = 0;
    return rest;
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
    if (this.aborted) throw this.aborted;
    if (this.done) return { value: undefined, done: true };
    try {
      let buf: Buffer | undefined;
      if (!this.started) {
        this.started = true;
        this.startTrace();
        if (this.cancel !== undefined) {
          // A connection of its own (or the holder's), so a cancel can reach the statement
          // before its first page.
          const pending = this.runner.cancelTarget(this.cancel);
          // Given up while waiting for it: the connection that comes goes straight back.
          pending.then((t) => this.target === undefined && this.aborted && void t.done(), () => {});
          const target = await this.race(pending);
          this.target = target;
          this.runner = target.runner;
          // From here on, however the stream ends, its connection goes back after it.
          void this.whenOver();
          if (this.aborted) throw this.aborted;
        }
        const codecs = this.codecs;
        const params = codecs === undefined ? this.params : await this.race(codecs.params(this.runner, this.sql, this.params));
        const first = this.runner.run(this.sql, params, MODE_STREAM | resultBits(this.decode), { batch: this.batch, key: this.key });
        // Aborted before the first page: stop what it started once it is there.
        this.sent = true;
        const arrived = () => {
          this.firstPage = true;
          this.arrived();
        };
        first.then(
          (b) => {
            arrived();
            if (this.aborted) this.stopLate(b);
          },
          arrived,
        );
        buf = await this.race(first);
      } else if (this.ahead !== undefined) {
        buf = await this.race(this.ahead);
      }
      while (buf !== undefined) {
        this.ahead = undefined;
        this.follow(morePages(buf));
        const page = decodeResult<T>(buf, this.sql, this.decode, !this.described);
        if (page.tag !== '') this.tag = page.tag;
        this.received += page.rows.length;
        if (this.codecs !== undefined) await this.codecs.rows(this.runner, page.rows, page.columns, this.decode.rowMode === 'array');
        if (!this.described) {
          this.described = true;
          this.meta = page.meta;
        }
        this.rows = page.rows;
        this.at = 0;
        if (this.rows.length > 0) return { value: this.rows[this.at++], done: false };
        buf = this.ahead === undefined ? undefined : await this.race(this.ahead);
      }
    } catch (err) {
      this.endTrace(err);
      await this.close();
      throw err;
    }
    this.done = true;
    this.endTrace();
    this.ended();
    return { value: undefined, done: true };
  }

  /** From the first row asked for to the end (or the loop left early), as one traced call. */
  private startTrace(): void {
    const bridge = this.runner.bridge;
    if (!tracingOn(bridge.trace)) return;
    let settle!: (err?: unknown) => void;
    const over = new Promise<void>((resolve, reject) => (settle = (err) => (err === undefined ? resolve() : reject(err))));
    this.traceEnd = settle;
    traced(bridge, 'stream', this.sql, this.params, () => over, () => ({ command: commandOf(this.tag), rowCount: this.received })).catch(() => {});
  }

  private endTrace(err?: unknown): void {
    const end = this.traceEnd;
    this.traceEnd = undefined;
    end?.(err);
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

  /** Gives the stream's own connection back once nothing of the stream is left on it. */
  private async whenOver(): Promise<void> {
    const target = this.target;
    if (target === undefined) return;
    await this.over;
    this.disarm?.();
    // The first page (when it was asked for) settles, a stop answers, and no cancel is on its way.
    if (this.sent) await this.firstArrived;
    await this.stopping;
    await this.cancelled;
    this.target = undefined;
    await target.done();
  }

  private stopping: Promise<unknown> | undefined;
  /** Settles once the stream has ended or been stopped (only streams with a target wait on it). */
  private ended!: () => void;
  private readonly over = new Promise<void>((resolve) => (this.ended = resolve));

  private stopLate(buf: Buffer): void {
    const cursor = morePages(buf);
    if (cursor !== 0 && this.cursor === 0) this.stopping = this.runner.stop(cursor).catch(() => {});
  }

  private async close(): Promise<void> {
    this.endTrace();
    this.done = true;
    this.rows = [];
    const cursor = this.cursor;
    if (cursor === 0) return this.ended();
    this.cursor = 0;
    abandoned.unregister(this);
    // A page asked for ahead settles when the engine stops; nothing waits for it.
    this.ahead = undefined;
    this.stopping = this.runner.stop(cursor);
    this.ended();
    await this.stopping;
  }
}
