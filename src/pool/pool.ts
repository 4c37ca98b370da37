/**
 * The pool users hold: the entry point of every query.
 * @module
 */
import { Bridge, type Limits } from '../engine/bridge';
import { queryDefaults, resolveOptions, transactionPooler, type PoolOptions, type QueryDefaults } from '../config/config';
import { AUTOCOMMIT } from '../engine/requests';
import { errorFromResult, ParameterError, PgwarpError, PoolClosedError, RolledBackError } from '../errors/errors';
import { makeQuery, QueryResult, type QueryOptions, type QueryRunner } from '../query/query-result';
import { readSession, ReservedConnection, type Session } from './reserved';
import type { StatementResult } from '../query/script';
import { beforeSend, cancelOptions, type CancelOptions, type CancelTarget } from '../query/abort';
export type { CloseOptions, HostStats, PoolCounters, PoolShardStats, PoolStats } from './pool-stats';
import { Codecs } from '../query/codecs';
import { decodeNotice, Listener, type ListenOptions, type NotificationInfo, type Subscription } from './notify';
import { poolStats, type CloseOptions, type PoolStats } from './pool-stats';
import { checkTarget, Views, type Target } from './targets';
import { ReadYourWrites } from './read-your-writes';
import { livePools, traceEngineEvents, traceSettings } from '../tracing/tracing';
import type { NativeConnectionInfo } from '../engine/native';
import { transactionOn, type Transaction, type TransactionOptions } from './transaction';
import { Runner } from './runner';

/**
 * A pool of PostgreSQL connections. Connections open on first use; autocommit queries are
 * pipelined over them; `reserve()` lends one to a caller alone.
 *
 * @example
 * ```ts
 * import { Pool } from 'pgwarp';
 *
 * const pool = new Pool('postgres://app@localhost/app');   // or new Pool() to use DATABASE_URL / PG*
 * const rows = await pool.query('select id, name from users where active = $1', [true]);
 * await pool.close();
 * ```
 */
export class Pool extends Runner {
  /** @internal */
  readonly bridge: Bridge;
  protected readonly defaults: QueryDefaults;
  private closing: Promise<void> | undefined;
  private listener: Listener | undefined;
  /** The pool whose views this one is one of (itself for a pool made with `new`). */
  private root: Pool = this;
  /** Its views by target (see {@link Pool.primary}); only the root's are used. */
  private readonly views: Views<Pool>;
  /** The target its options gave, which needs no view. */
  private readonly target: Target | undefined;
  /** Behind a transaction-mode pooler (`pooler: 'transaction'`). */
  private readonly pooled: boolean;

  constructor(url?: string | PoolOptions, options?: PoolOptions) {
    super();
    const o = (typeof url === 'object' ? url : options) ?? {};
    this.target = o.targetSessionAttrs === undefined ? undefined : checkTarget(o.targetSessionAttrs);
    this.pooled = transactionPooler(o);
    this.views = new Views((target) => {
      const view = typeof url === 'object' ? new Pool({ ...url, targetSessionAttrs: target }) : new Pool(url, { ...options, targetSessionAttrs: target });
      view.root = this;
      return view;
    });
    const defaults = queryDefaults(o);
    this.defaults = defaults;
    // Every option is checked before the engine starts: a throw after it would leave its
    // threads and connections behind.
    const trace = traceSettings(o);
    const onConnect = o.onConnect;
    if (onConnect !== undefined && typeof onConnect !== 'function') throw new PgwarpError('onConnect must be a function');
    const onNotice = o.onNotice;
    if (onNotice !== undefined && typeof onNotice !== 'function') throw new PgwarpError('onNotice must be a function');
    try {
      this.bridge = new Bridge(
        resolveOptions(url, options),
        onConnect && ((id) => this.prepare(id, onConnect)),
        typeof o.password === 'function' ? o.password : undefined,
      );
    } catch (e) {
      throw new PgwarpError((e as Error).message);
    }
    this.bridge.trace = trace;
    livePools.add(this);
    traceEngineEvents(this.bridge);
    if (o.types !== undefined) {
      // The catalog lookup runs without the codecs it resolves.
      const lookup = (runner: QueryRunner, sql: string, params: unknown[]) => makeQuery<{ oid: number; name: string; schema: string; array: number }>(runner, defaults, sql, params).all();
      this.defaults = { ...defaults, codecs: new Codecs(o.types, this.bridge, lookup) };
    }
    if (onNotice !== undefined) {
      this.bridge.events.notice = (buf) => {
        try {
          onNotice(decodeNotice(buf));
        } catch {
          // A throwing handler must not break the pool's event delivery.
        }
      };
    }
  }

  /**
   * Calls `callback` with each notification sent on `channel` (by `pool.notify`, `NOTIFY` or
   * `pg_notify` from any session). All channels of a pool share one connection, reserved for
   * listening; when it is lost (a restart, `pg_terminate_backend`), pgwarp reserves another
   * with backoff and listens again, then runs `onListen`, so you can catch up on what was sent
   * meanwhile (notifications sent while no connection listened are not delivered). The
   * channel is quoted as an identifier (case and spaces kept). A callback that throws does
   * not stop delivery to the others. While anything listens, the pool keeps the process
   * alive, as a connected pg Client does: `unlisten()` everything or `close()` the pool to
   * let it exit.
   *
   * @example
   * ```ts
   * const sub = await pool.listen('jobs', (payload) => queue.push(JSON.parse(payload)), {
   *   onListen: () => catchUpOnJobs(),
   * });
   * await pool.notify('jobs', JSON.stringify({ id: 1 }));
   * await sub.unlisten();
   * ```
   */
  listen(channel: string, callback: (payload: string, info: NotificationInfo) => unknown, options?: ListenOptions): Promise<Subscription> {
    if (this.closing) return Promise.reject(new PoolClosedError('the pool is closed'));
    if (this.pooled) {
      return Promise.reject(
        new ParameterError("listen() needs a session of its own, which a pool with pooler: 'transaction' does not have (notifications would never arrive): listen on a pool connected straight to the server"),
      );
    }
    this.listener ??= new Listener(this.bridge, () => this.reserving(0).then(([conn]) => conn));
    return this.listener.listen(channel, callback, options);
  }

  /** Sends `payload` on `channel` (`pg_notify`, with both as parameters). */
  async notify(channel: string, payload = ''): Promise<void> {
    if (typeof channel !== 'string' || channel.length === 0) throw new PgwarpError('a channel name must be a non-empty string');
    await this.query('select pg_notify($1, $2)', [channel, payload]).execute();
  }

  /** Runs the user's `onConnect` on a new connection, which stays out of the pool until then. */
  private async prepare(id: number, onConnect: NonNullable<PoolOptions['onConnect']>): Promise<void> {
    let error = '';
    try {
      await onConnect(new ReservedConnection(this.bridge, id, this.defaults, false));
    } catch (e) {
      error = (e instanceof Error ? e.message : String(e)) || 'onConnect threw';
    }
    this.bridge.ready(id, error);
  }

  /**
   * A query with `$1, $2, ...` placeholders. Nothing runs until a method of the result is
   * called or the result is awaited.
   */
  override query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[], options?: QueryOptions): QueryResult<T> {
    if (options?.target !== undefined) return this.on(options.target).query(sql, params, { ...options, target: undefined });
    return super.query<T>(sql, params, options);
  }

  /**
   * This pool with `primary` as every call's default target (libpq's `target_session_attrs`):
   * the same options, connections of its own, made on first use and closed with this pool.
   * With several hosts in the URL, one pool serves writes and reads where each belongs.
   *
   * @example
   * ```ts
   * const pool = new Pool('postgres://app@db1,db2,db3/app?target_session_attrs=read-write');
   * await pool.query('insert into events (kind) values ($1)', ['signup']).execute(); // the primary
   * const recent = await pool.standby.query('select * from events order by id desc limit 20');
   * const one = await pool.query('select * from users where id = $1', [id], { target: 'standby' }).first();
   * ```
   */
  get primary(): Pool {
    return this.on('primary');
  }

  /**
   * This pool with `prefer-standby` as every call's default target: a standby while one
   * answers, else the primary (so reads go on when the standbys are down). For a standby or
   * nothing, pass `{ target: 'standby' }`. See {@link Pool.primary}.
   */
  get standby(): Pool {
    return this.on('prefer-standby');
  }

  /**
   * A caller's session of writes and reads in which each read sees the caller's own writes:
   * writes go to the primary, reads to a standby that has replayed them, else to the primary.
   * `position` carries on an earlier session's (another request of the same user). See
   * {@link ReadYourWrites}.
   *
   * @example
   * ```ts
   * const session = pool.readYourWrites();
   * await session.execute('insert into posts (body) values ($1)', [body]);
   * const mine = await session.read((conn) => conn.query('select * from posts where author = $1', [me]).all());
   * ```
   */
  readYourWrites(position?: string): ReadYourWrites {
    return new ReadYourWrites(this, position);
  }

  /** The pool (or view) whose default target is `target`. */
  private on(target: unknown): Pool {
    const t = checkTarget(target);
    const root = this.root;
    // Closed, it refuses everything itself; a view made now would never be closed.
    return t === root.target || root.closing ? root : root.views.get(t);
  }

  /**
   * A connection for the caller alone, until `release()` (or the end of an `await using`
   * block). Use it for session state, transactions by hand, advisory locks. On release it is
   * rolled back if the server says a transaction is open, and its session is reset (settings,
   * role, locks, LISTENs, cursors, temporary tables) unless only transaction control ran on it;
   * it is closed if that fails, never handed on dirty.
   *
   * This resolves at once: the engine takes the connection while the first statement is on
   * its way, so a checkout costs no round trip of its own, and the statements wait for it.
   * What can go wrong in taking one (the pool is exhausted past `acquireTimeout`, the server
   * is down) is the first statement's error. With `options` (a signal or a timeout for the
   * wait), the connection is there before this resolves.
   *
   * @example
   * ```ts
   * await using conn = await pool.reserve();
   * await conn.query('set local lock_timeout = 1000').execute();
   * ```
   */
  async reserve(options?: CancelOptions & { target?: Target }): Promise<ReservedConnection> {
    if (options?.target !== undefined) return this.on(options.target).reserve({ ...options, target: undefined });
    const o = cancelOptions(options);
    if (o === undefined) {
      if (this.closing) throw new PoolClosedError('the pool is closed');
      return ReservedConnection.claim(this.bridge, this.defaults);
    }
    const reserving = this.reserving(0).then(([conn]) => conn);
    // Given up before a connection came: the one that comes later goes straight back.
    return beforeSend(reserving, o, (conn) => void conn.release());
  }

  /**
   * @internal A reservation that also says which backend it got, as the engine knows it from
   * the startup: the pid and, with `parameters`, what the server reported. What pg's Client
   * shows, with no query to the server.
   */
  reserveSession(parameters: boolean): Promise<[ReservedConnection, Session]> {
    return this.reserving(parameters ? 2 : 1) as Promise<[ReservedConnection, Session]>;
  }

  private async reserving(session: 0 | 1 | 2): Promise<[ReservedConnection, Session | undefined]> {
    if (this.closing) throw new PoolClosedError('the pool is closed');
    const buf = await this.bridge.reserve(session);
    if (buf[0] !== 0) throw errorFromResult(buf);
    return [new ReservedConnection(this.bridge, buf.readUInt32LE(4), this.defaults), session > 0 ? readSession(buf) : undefined];
  }

  /** @internal */
  async cancelTarget(o: CancelOptions): Promise<CancelTarget & { runner: QueryRunner }> {
    const conn = await this.reserve(o);
    // Still a pool query: the shared path's refusals and checks, and no session reset after.
    const runner: QueryRunner = {
      bridge: conn.bridge,
      connection: conn.id,
      run: (sql, params, mode, limits) => conn.run(sql, params, mode | AUTOCOMMIT, limits),
      next: (cursor) => conn.next(cursor),
      dropResult: (cursor) => conn.dropResult(cursor),
      stop: (cursor) => conn.stop(cursor),
      cancelTarget: () => Promise.reject(new PgwarpError('already on a connection of its own')),
    };
    return { bridge: this.bridge, conn: conn.id, runner, done: () => conn.release() };
  }

  /**
   * Runs a script of many statements (a migration, a schema file, `DO` blocks, function
   * bodies with `$$ ... ; ... $$`) with the simple query protocol, on a connection of its own
   * that is reset before anyone else gets it (a script may `SET` anything). As PostgreSQL
   * runs such a text, it is one implicit transaction unless it controls transactions itself:
   * an error stops it and nothing of it stays. The error is the server's, with `statement`
   * naming the statement that failed (1-based; `position`, when the server gives one, is the
   * character position in the whole text). Parameters are not taken: use `query()` for
   * values. Rows the statements return are read and dropped. A script that opens a
   * transaction must end it: one that ends inside it rejects with {@link RolledBackError},
   * and nothing of it stays.
   *
   * @example
   * ```ts
   * const done = await pool.exec(`
   *   create table accounts (id int primary key, balance numeric not null);
   *   create function touch() returns trigger language plpgsql as $$
   *     begin new.balance := coalesce(new.balance, 0); return new; end;
   *   $$;
   *   insert into accounts values (1, 10), (2, 20);
   * `);
   * // [{ command: 'CREATE TABLE', rowCount: 0, ... }, { command: 'CREATE FUNCTION', ... }, { command: 'INSERT', rowCount: 2, ... }]
   * ```
   */
  async exec(text: string): Promise<StatementResult[]> {
    const conn = await this.reserve();
    try {
      const done = await conn.exec(text);
      // A script that opens a transaction and does not end it would be rolled back by the
      // release below: say so rather than resolve with its work dropped.
      if (conn.status !== 'I') {
        throw new RolledBackError(
          'the script ended inside a transaction it opened (a BEGIN without COMMIT or ROLLBACK), so it was rolled back and nothing of it stays: end the script with COMMIT, or run it on a connection of your own (pool.reserve()) and commit there',
        );
      }
      return done;
    } finally {
      await conn.release();
    }
  }

  /**
   * Runs `fn` in a transaction on a connection of its own: `BEGIN` (with the options), then
   * `COMMIT` when `fn` resolves or `ROLLBACK` when it throws (the original error is rethrown).
   * Resolves to what `fn` returned, and only if the server committed: when an earlier
   * statement failed (even one whose error `fn` caught), the server answers COMMIT with
   * ROLLBACK, and this rejects with a {@link RolledBackError} whose `cause` is that failure.
   * With `retries`, the whole of `fn` runs again on serialization failures and deadlocks, so
   * `fn` must be safe to run again; the final error carries `attempts`.
   *
   * @example
   * ```ts
   * const balance = await pool.transaction(async (tx) => {
   *   await tx.query('update accounts set balance = balance - $1 where id = $2', [10, from]).execute();
   *   await tx.query('update accounts set balance = balance + $1 where id = $2', [10, to]).execute();
   *   return tx.query<number>('select balance from accounts where id = $1', [from]).scalar();
   * }, { isolation: 'serializable', retries: 5 });
   * ```
   */
  async transaction<R>(fn: (tx: Transaction) => Promise<R> | R, options: TransactionOptions = {}): Promise<R> {
    if (typeof fn !== 'function') throw new PgwarpError('transaction() needs a callback: pool.transaction(async (tx) => { ... })');
    // A transaction never moves between hosts: all of it runs on the target's connection.
    if (options.target !== undefined) return this.on(options.target).transaction(fn, { ...options, target: undefined });
    return transactionOn(this.defaults, (cancel) => this.reserve(cancel), fn, options);
  }

  /** @internal */
  run(sql: string, params: readonly unknown[] | undefined, mode: number, limits?: Limits): Promise<Buffer> {
    if (this.closing) return Promise.reject(new PoolClosedError('the pool is closed'));
    return this.bridge.query(sql, params, mode, 0, limits);
  }

  /**
   * Refuses new queries, lets running ones finish (cancelling them after `timeout` ms when
   * given), and closes every connection. Afterwards the process can exit on its own.
   */
  close(options: CloseOptions = {}): Promise<void> {
    livePools.delete(this);
    this.closing ??= (async () => {
      await this.listener?.close();
      await Promise.all([this.bridge.close(options.timeout), ...(this.root === this ? this.views.all().map((v) => v.close(options)) : [])]);
    })();
    return this.closing;
  }

  /** @internal Who and where it connects, and its `max` (for `pgwarp/otel`'s pool metrics). */
  connectionInfo(): NativeConnectionInfo {
    return this.bridge.connectionInfo();
  }

  /** Connections, work and counters, in total and per shard. */
  stats(): PoolStats {
    return poolStats(this.bridge.stats(), () => this.bridge.hosts());
  }
}
