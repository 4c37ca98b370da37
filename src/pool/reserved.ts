/**
 * A connection lent to one caller: what transactions and session state run on.
 * @module
 */
import { releaseChannel, traced, tracingOn } from '../tracing/tracing';

import type { Bridge, Limits } from '../engine/bridge';
import type { QueryDefaults } from '../config/config';
import { commandOf, decodeResult } from '../result/decode';
import { ERROR_KIND, errorFromResult, PgwarpError } from '../errors/errors';
import type { QueryRunner } from '../query/query-result';
import { runScript, type StatementResult } from '../query/script';
import type { CancelTarget } from '../query/abort';
import { Runner } from './runner';

/** A transaction status as the server reports it: idle, in a transaction, in a failed one. */
export type TransactionStatus = 'I' | 'T' | 'E';

const STATUS_CODES = [undefined, 'I', 'T', 'E'] as const;

/**
 * @internal The transaction status an answer on a reserved connection carries
 * (`layout::stamp_status`): in bits 2-3 of a result's flags, or as the last byte of an error
 * or (`script`) of a script's answer; `undefined` when it carries none.
 */
export function answerStatus(buf: Buffer, script = false): TransactionStatus | undefined {
  if (buf.length < 2) return undefined;
  if (buf[0] === 0 && !script) return STATUS_CODES[(buf[1] >> 2) & 3];
  const last = buf[buf.length - 1];
  return last === 0x49 ? 'I' : last === 0x54 ? 'T' : last === 0x45 ? 'E' : undefined;
}

/** @internal The backend behind a reservation, as its startup told the engine. */
export interface Session {
  /** What `pg_backend_pid()` gives. */
  pid: number;
  /** The run-time parameters the server reported (ParameterStatus), by name, when asked for. */
  parameters: [name: string, value: string][];
}

/** @internal Reads a reservation's answer with its session (`result::layout::session_buffer`). */
export function readSession(buf: Buffer): Session {
  const pid = buf.readInt32LE(16);
  const count = buf.readUInt32LE(20);
  const parameters: [string, string][] = [];
  let at = 24;
  const next = () => {
    const len = buf.readUInt32LE(at);
    at += 4 + len;
    return buf.toString('utf8', at - len, at);
  };
  for (let i = 0; i < count; i++) parameters.push([next(), next()]);
  return { pid, parameters };
}

/**
 * A connection reserved with `pool.reserve()`. Queries on it run one after another, in the
 * order they were issued. Release it with `release()`, or let `await using` do it.
 *
 * @example
 * ```ts
 * const conn = await pool.reserve();
 * try {
 *   await conn.query('begin').execute();
 *   await conn.query('update accounts set balance = balance - $1 where id = $2', [10, 1]).execute();
 *   await conn.query('commit').execute();
 * } finally {
 *   await conn.release();
 * }
 * ```
 */
export class ReservedConnection extends Runner {
  private released: Promise<void> | undefined;
  /**
   * @internal The transaction status the server reported after the last answer read on this
   * connection (state from the server, never from the SQL text).
   */
  status: TransactionStatus | undefined = 'I';
  private readonly note = (buf: Buffer): Buffer => {
    // A lost connection is in no transaction any more, whatever it last said.
    if (buf[0] === 1 && buf[1] === ERROR_KIND.connection) this.status = undefined;
    else this.status = answerStatus(buf) ?? this.status;
    return buf;
  };

  /** @internal */
  constructor(
    /** @internal */
    readonly bridge: Bridge,
    /**
     * The engine's id of this reservation: its connection's, or the ticket that names it
     * (see `Pool.reserve`).
     */
    readonly id: number,
    protected readonly defaults: QueryDefaults,
    /** False for the connection `onConnect` prepares: the pool takes it back itself. */
    private readonly releasable = true,
  ) {
    super();
    if (releaseChannel.hasSubscribers) this.reservedAt = performance.now();
  }

  /** When it was reserved, while `pgwarp:release` has a subscriber. */
  private readonly reservedAt: number | undefined;

  private tellReleased(): void {
    if (this.reservedAt !== undefined && releaseChannel.hasSubscribers) releaseChannel.publish({ durationMs: performance.now() - this.reservedAt });
  }

  /**
   * @internal A reservation asked for without waiting for it: named by a ticket, which the
   * requests that follow name in place of the connection (see `engine/tickets.rs`).
   */
  static claim(bridge: Bridge, defaults: QueryDefaults): ReservedConnection {
    const ticket = bridge.ticket();
    bridge.claim(ticket);
    return new ReservedConnection(bridge, ticket, defaults);
  }

  /** Runs a script of many statements on this connection; see `Pool.exec`. */
  exec(text: string): Promise<StatementResult[]> {
    if (this.released) return Promise.reject(new PgwarpError('this connection was released; reserve another one'));
    const run = () => runScript(this.bridge, this.id, text, (buf) => this.noteScript(buf));
    const bridge = this.bridge;
    if (!tracingOn(bridge.trace)) return run();
    return traced(bridge, 'script', text, undefined, run, (done) => ({
      command: done.at(-1)?.command,
      rowCount: done.reduce((n, s) => n + s.rowCount, 0),
      batchSize: done.length,
    }));
  }

  /** @internal A script whose answer keeps its rows (`EXEC_ROWS`, node-postgres' simple queries). */
  execRows(text: string): Promise<Buffer> {
    if (this.released) return Promise.reject(new PgwarpError('this connection was released; reserve another one'));
    return this.bridge.execRows(this.id, text).then((buf) => this.noteScript(buf));
  }

  private noteScript(buf: Buffer): Buffer {
    const s = answerStatus(buf, true);
    if (s !== undefined) this.status = s;
    return buf;
  }

  /** @internal */
  run(sql: string, params: readonly unknown[] | undefined, mode: number, limits?: Limits): Promise<Buffer> {
    if (this.released) return Promise.reject(new PgwarpError('this connection was released; reserve another one'));
    return this.bridge.query(sql, params, mode, this.id, limits).then(this.note);
  }

  /** @internal Pages carry the transaction status too. */
  override next(cursor: number): Promise<Buffer> {
    return this.bridge.next(cursor).then(this.note);
  }

  /** @internal Calls with a signal or a timeout run here, among this holder's own statements. */
  async cancelTarget(): Promise<CancelTarget & { runner: QueryRunner }> {
    return { bridge: this.bridge, conn: this.id, runner: this, done: async () => {} };
  }

  /** @internal */
  get connection(): number {
    return this.id;
  }

  /** Whether `release()` was called. */
  get isReleased(): boolean {
    return this.released !== undefined;
  }

  /**
   * @internal Ends the transaction with COMMIT (or ROLLBACK) and gives the connection back,
   * in one round trip; resolves to the command of the server's tag (`ROLLBACK` when a COMMIT
   * rolled back).
   */
  async end(commit: boolean): Promise<string> {
    if (this.released) throw new PgwarpError('this connection was released; reserve another one');
    const ended = this.bridge.end(this.id, commit);
    this.tellReleased();
    this.released = ended.then(() => {});
    this.released.catch(() => {});
    const buf = await ended;
    if (buf[0] !== 0) throw errorFromResult(buf, commit ? 'COMMIT' : 'ROLLBACK');
    return commandOf(decodeResult<never>(buf, '', { rowMode: 'array', int8: 'number' }).tag);
  }

  /**
   * Gives the connection back to the pool. The server's status decides what happens first: a
   * transaction left open (or failed) is rolled back; and unless only transaction control ran
   * on it, the session is reset (settings, role, advisory locks, LISTENs, cursors, temporary
   * tables; what `onConnect` set is set again), so the next caller never sees this one's
   * state. If that fails, the connection is closed instead.
   */
  release(): Promise<void> {
    if (!this.releasable) return Promise.resolve();
    if (this.released) return this.released;
    // Sent, not waited for: the engine takes requests in order, so whatever comes after
    // (another reservation, a pool query) finds the connection back, or on its way back
    // behind the reset.
    this.bridge.release(this.id);
    this.released = Promise.resolve();
    this.tellReleased();
    return this.released;
  }

  /** `await using conn = await pool.reserve()` releases it at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}
