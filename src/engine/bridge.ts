/**
 * The JavaScript half of the engine bridge. Requests made in one tick go to the engine in one
 * `submit` call; the engine wakes JavaScript once for any number of completions, which one
 * `drain` call returns as a single buffer. No threadsafe function or N-API promise is made per
 * query (see docs/design.md). Layouts: `crates/pgwarp-core/src/engine/{requests,completions}.rs`;
 * the events other than the two answered here are read in `events.ts`.
 * @module
 */
import { acquireChannel, type TraceSettings } from '../tracing/tracing';
import { PgwarpError, PoolClosedError } from '../errors/errors';
import { NativePool, type NativePoolOptions } from './native';
import * as kind from './requests';
import { writeParams } from '../params/params';
import { SqlRegistry } from './sql-registry';
import { Writer } from '../params/writer';
import { dispatchEvent, type EngineEvents } from './events';

/**
 * Per-query limits and paging (`stream({ batchSize })`, `maxRows`, `maxBytes`; 0: none), and
 * the cancel key of the call the statement belongs to (see `abort.ts`).
 */
export interface Limits {
  batch?: number;
  maxRows?: number;
  maxBytes?: number;
  key?: number;
}

const NO_LIMITS: Limits = {};
/** Marks a reservation's ticket (`engine/tickets.rs`): connection ids never have it. */
const TICKET_BIT = 0x80000000;

/** A request buffer that grew past this for one large request goes back to its first size. */
const SHRINK_ABOVE = 1024 * 1024;

/**
 * Bridges with work in flight. The engine's wake function reaches its bridge only through a
 * WeakRef (a strong one would keep every pool alive through the engine's reference to the
 * function, with its threads), so busy bridges are held here until their work settles.
 */
const busy = new Set<Bridge>();

interface Pending {
  resolve(buf: Buffer): void;
  reject(err: unknown): void;
}

/** One pool's engine and the promises waiting on it. */
export class Bridge {
  private readonly native: NativePool;
  private readonly pending = new Map<number, Pending>();
  private readonly batch = new Writer();
  private nextId = 1;
  private nextTicket = 1;
  private flushQueued = false;
  private inFlight = 0;
  private readonly sql = new SqlRegistry();
  /** Queued before the query that takes the room: the engine resolves earlier uses first. */
  private readonly forget = (id: number) => {
    this.batch.u8(kind.FORGET);
    this.batch.u32(0);
    this.batch.u32(id);
  };
  private readonly flushNow = () => this.flush();
  /**
   * One microtask turn later than the first request: the answers of one wake-up resume their
   * callers level by level, and one more turn lets the others' next statements join the batch.
   */
  private readonly flushLater = () => queueMicrotask(this.flushNow);
  /** Listeners that keep the process alive while they listen. */
  private keepers = 0;
  /** What servers send on their own, and what tracing hears of; set by the pool, its listener and tracing. */
  readonly events: EngineEvents = {};
  /** Whether the engine sends waits (someone subscribes to `pgwarp:acquire`). */
  private observingWaits = false;

  /** What tracing and the slow-query log need (set by the pool). */
  trace: TraceSettings = { params: false, slowQueryMs: 1000 };

  /**
   * `onNewConnection` is called with the id of each new connection when `onConnect` is set;
   * `password`, when given, is asked for the password of each new connection.
   */
  constructor(
    options: NativePoolOptions,
    private readonly onNewConnection?: (conn: number) => void,
    private readonly password?: () => string | Promise<string>,
  ) {
    const self = new WeakRef(this);
    this.native = new NativePool({ ...options, onConnect: onNewConnection !== undefined, passwordFn: password !== undefined }, () => self.deref()?.onWake());
  }

  /** Asks the password function for request `n` and hands the engine its answer. */
  private async answerPassword(n: number): Promise<void> {
    let ok = true;
    let text: string;
    try {
      const value = await this.password!();
      if (typeof value !== 'string') throw new PgwarpError(`the password function returned ${typeof value}, not a string`);
      text = value;
    } catch (e) {
      ok = false;
      text = (e instanceof Error ? e.message : String(e)) || 'the password function failed';
    }
    this.batch.u8(kind.PASSWORD);
    this.batch.u32(0);
    this.batch.u32(n);
    this.batch.u8(ok ? 1 : 0);
    this.batch.str(text);
    this.schedule();
  }

  /** Runs a statement; resolves to its result buffer (which may carry an error). */
  query(sql: string, params: readonly unknown[] | undefined, mode: number, conn = 0, limits: Limits = NO_LIMITS): Promise<Buffer> {
    const w = this.batch;
    const id = this.nextId++;
    let sqlId = this.sql.known(sql);
    const known = sqlId !== undefined;
    // Before this request's bytes: forgetting writes requests of its own.
    if (!known) sqlId = this.sql.register(sql, this.forget);
    const registered = !known && sqlId !== undefined;
    const start = w.at;
    try {
      w.u8(kind.QUERY);
      w.u32(id);
      // u32: above the mode's own bits are its format bits and PG_VALUES' mask; `>>> 0`
      // because `mask << 8` is negative in JavaScript once the mask's bit 23 is set.
      w.u32(mode >>> 0);
      w.u32(limits.batch ?? 0);
      w.u32(limits.maxRows ?? 0);
      w.f64(limits.maxBytes ?? 0);
      w.u32(conn);
      w.u32(limits.key ?? 0);
      w.u32(sqlId ?? 0);
      if (known) w.u32(0);
      else w.str(sql);
      const hole = w.hole();
      writeParams(w, params);
      w.patch(hole, w.at - hole - 4);
    } catch (err) {
      // A refused parameter must not leave half a request in the batch.
      // and the engine never saw the text registered here.
      w.at = start;
      if (registered) this.sql.unregister(sql);
      return Promise.reject(err);
    }
    return this.expect(id);
  }

  /** The next page of a paged result. */
  next(cursor: number): Promise<Buffer> {
    return this.simple(kind.NEXT, cursor);
  }

  /** Abandons a paged result. */
  dropResult(cursor: number): void {
    this.post(kind.DROP_RESULT, cursor);
  }

  /** Stops a stream or copy-out early; resolves once its connection is clean. */
  stop(cursor: number): Promise<Buffer> {
    return this.simple(kind.STOP, cursor);
  }

  /**
   * A chunk for copy `copy`: COPY data as is, or (`rows`) rows' values in the parameter wire
   * format, which the engine encodes. Resolves once the connection took it (backpressure).
   */
  copyData(copy: number, rows: boolean, data: Uint8Array): Promise<Buffer> {
    const id = this.nextId++;
    this.batch.u8(kind.COPY_DATA);
    this.batch.u32(id);
    this.batch.u32(copy);
    this.batch.u8(rows ? 1 : 0);
    this.batch.bytes(data);
    return this.expect(id);
  }

  /** Ends copy `copy`: commits when `error` is empty, aborts saying `error` otherwise. */
  copyEnd(copy: number, error: string): Promise<Buffer> {
    const id = this.nextId++;
    this.batch.u8(kind.COPY_END);
    this.batch.u32(id);
    this.batch.u32(copy);
    this.batch.str(error);
    return this.expect(id);
  }

  /**
   * Lends a connection to the caller alone; resolves to a buffer holding its id and, with
   * `session` 1, its backend's pid, with 2 its reported parameters too (see `readSession`).
   */
  reserve(session: 0 | 1 | 2 = 0): Promise<Buffer> {
    return this.simple(kind.RESERVE, session);
  }

  /**
   * A ticket: a number that names a reservation in requests before the engine has made it
   * (`claim`). The top bit marks it; the low byte picks the shard, as a connection id's does.
   */
  ticket(): number {
    return (TICKET_BIT | (this.nextTicket++ & 0x7fffffff)) >>> 0;
  }

  /**
   * Makes the reservation `ticket` names. Nothing answers it: the requests naming the ticket
   * wait in the engine until it is made, and get its error if it cannot be.
   */
  claim(ticket: number): void {
    this.post(kind.CLAIM, ticket);
  }

  /** Gives a reserved connection back; nothing waits for the engine to have taken it. */
  release(conn: number): void {
    this.post(kind.RELEASE, conn);
  }

  /**
   * Ends the transaction on reserved connection `conn` with COMMIT (or ROLLBACK) and gives the
   * connection back; resolves to a result whose tag is the server's (`ROLLBACK` when a COMMIT
   * rolled back).
   */
  end(conn: number, commit: boolean): Promise<Buffer> {
    const id = this.nextId++;
    this.batch.u8(kind.END);
    this.batch.u32(id);
    this.batch.u32(conn);
    this.batch.u8(commit ? 1 : 0);
    return this.expect(id);
  }

  /** The parameter types the server infers for `sql` (layout: `pool/describe.rs`). */
  describe(sql: string, conn = 0): Promise<Buffer> {
    return this.textual(kind.DESCRIBE, sql, conn);
  }

  /**
   * Cancels the statements of cancel key `key` on reserved connection `conn`; resolves once
   * no cancel for them can arrive any more.
   */
  cancelStatements(conn: number, key: number): Promise<Buffer> {
    return this.simple(kind.CANCEL_STATEMENTS, conn, key);
  }

  /** Asks for event `kind.EVENT_LOST` once reserved connection `conn` is gone (no completion). */
  watch(conn: number): void {
    this.post(kind.WATCH, conn);
  }

  /** A request of its kind and one number that nothing answers. */
  private post(kind: number, value: number): void {
    this.batch.u8(kind);
    this.batch.u32(0);
    this.batch.u32(value);
    this.schedule();
  }

  /**
   * While on, the pool keeps the process alive even with nothing in flight, as a connected
   * pg Client does: a process that only listens must not exit under its listener.
   */
  keepAlive(on: boolean): void {
    this.keepers += on ? 1 : -1;
    if (this.keepers === 1 && on && this.inFlight === 0) {
      this.native.hold(true);
      busy.add(this);
    }
    if (this.keepers === 0 && !on && this.inFlight === 0) {
      this.native.hold(false);
      busy.delete(this);
    }
  }

  /** Runs a script on reserved connection `conn` (layout: `pool/script.rs`). */
  exec(conn: number, text: string): Promise<Buffer> {
    return this.textual(kind.EXEC, text, conn);
  }

  /**
   * Runs a script on reserved connection `conn` and keeps its rows: the answer is `exec`'s
   * with each statement's result page after its tag (layout: `pool/script.rs`).
   */
  execRows(conn: number, text: string): Promise<Buffer> {
    return this.textual(kind.EXEC_ROWS, text, conn);
  }

  /** A request that carries a text, after a connection's id when it is for one. */
  private textual(kind: number, text: string, conn?: number): Promise<Buffer> {
    const id = this.nextId++;
    this.batch.u8(kind);
    this.batch.u32(id);
    if (conn !== undefined) this.batch.u32(conn);
    this.batch.str(text);
    return this.expect(id);
  }

  /** A request that is its kind and at most two numbers. */
  private simple(kind: number, a?: number, b?: number): Promise<Buffer> {
    const id = this.nextId++;
    this.batch.u8(kind);
    this.batch.u32(id);
    if (a !== undefined) this.batch.u32(a);
    if (b !== undefined) this.batch.u32(b);
    return this.expect(id);
  }

  /** `onConnect` finished for a new connection; an empty `error` means it succeeded. */
  ready(conn: number, error: string): void {
    this.batch.u8(kind.READY);
    this.batch.u32(0);
    this.batch.u32(conn);
    this.batch.str(error);
    this.schedule();
  }

  /**
   * Sends what is queued, then closes the engine. Whatever has not settled by then (the
   * engine gave up on it at the deadline) is rejected, so no promise waits forever.
   */
  async close(timeout?: number): Promise<void> {
    this.flush();
    await this.native.close(timeout);
    if (this.pending.size === 0) return;
    const err = new PoolClosedError('the pool was closed before this finished');
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(err);
    }
    this.settled(this.inFlight);
  }

  stats() {
    return this.native.stats();
  }

  hosts() {
    return this.native.hosts();
  }

  connectionInfo() {
    return this.native.connectionInfo();
  }

  private expect(id: number): Promise<Buffer> {
    this.schedule();
    if (this.inFlight++ === 0) {
      this.native.hold(true);
      busy.add(this);
    }
    return new Promise<Buffer>((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  private schedule(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    // After the current tick's synchronous code and promise reactions have queued theirs.
    queueMicrotask(this.flushLater);
  }

  private flush(): void {
    this.flushQueued = false;
    // Once per batch, not per query; the engine hears only of a change.
    if (acquireChannel.hasSubscribers !== this.observingWaits) {
      this.observingWaits = !this.observingWaits;
      this.native.observeWaits(this.observingWaits);
    }
    const w = this.batch;
    if (w.at === 0) return;
    const batch = w.buf.subarray(0, w.at);
    w.at = 0;
    try {
      // The engine copies what it keeps before returning, so the buffer is reused.
      this.native.submit(batch);
      if (w.buf.length > SHRINK_ABOVE) w.buf = Buffer.allocUnsafe(16 * 1024);
    } catch (err) {
      // Only a bug gets here (a malformed batch); fail what was waiting rather than hang.
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.reject(err);
      }
      this.settled(this.inFlight);
    }
  }

  private onWake(): void {
    const buf = this.native.drain();
    const count = buf.readUInt32LE(buf.length - 4);
    let at = buf.length - 4 - count * 12;
    let settled = 0;
    for (let i = 0; i < count; i++, at += 12) {
      const id = buf.readUInt32LE(at);
      const offset = buf.readUInt32LE(at + 4);
      const length = buf.readUInt32LE(at + 8);
      if (id === kind.EVENT_ID) {
        if (buf[offset] === kind.EVENT_NEW_CONNECTION) this.onNewConnection?.(buf.readUInt32LE(offset + 4));
        else if (buf[offset] === kind.EVENT_PASSWORD && this.password) void this.answerPassword(buf.readUInt32LE(offset + 4));
        else dispatchEvent(buf.subarray(offset, offset + length), this.events);
        continue;
      }
      const p = this.pending.get(id);
      if (p === undefined) continue;
      this.pending.delete(id);
      settled++;
      p.resolve(buf.subarray(offset, offset + length));
    }
    this.settled(settled);
  }

  private settled(n: number): void {
    this.inFlight -= n;
    if (this.inFlight <= 0) {
      this.inFlight = 0;
      // Nothing in flight: an idle pool must not keep the process alive, nor itself
      // (unless something listens).
      if (this.keepers === 0) {
        this.native.hold(false);
        busy.delete(this);
      }
    }
  }
}
