/**
 * node-postgres' `Pool` on pgwarp's engine: `pool.query()` pipelines over the shared
 * connections; `pool.connect()` reserves one for a Client of its own.
 * @module
 */
import { pgPoolConnect, pgPoolRelease, pgPoolRemove, pgQuery, tracePgQuery, type PgClientInfo } from './tracing';
import { EventEmitter } from 'node:events';

import { ConnectionError } from '../errors/errors';
import { Pool as PgwarpPool } from '../pool/pool';
import type { ReservedConnection } from '../pool/reserved';
import { Client } from './client';
import { noticeOf, notification } from './events';
import { ConnectListeners, remember } from './connect-listeners';
import { connectionParameters, hideSecrets, toPoolOptions, type PoolConfig } from './config';
import { defaults } from './defaults';
import { MESSAGES, toPgError } from './errors';
import { IdleClients, type Kept } from './idle-clients';
import { PinnedTransaction } from './pinned-transaction';
import { normalizeQuery, promiseOf, settle, type Callback, type QueryConfig, type QueryResultRow } from './query';
import type { Result } from './result';
import { runPgQuery, runTimed, type Target } from './run';

/** A Client from `pool.connect()`: give it back with `release()` (with an error or `true`, it is closed). */
export type PoolClient = Client & { release(err?: Error | boolean): void };

/**
 * A pool of connections with node-postgres' API.
 *
 * @example
 * ```ts
 * import { Pool } from 'pgwarp/pg';
 *
 * const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 20 });
 * const { rows } = await pool.query('select * from users where id = $1', [id]);
 * const client = await pool.connect();
 * try {
 *   await client.query('begin');
 *   await client.query('update accounts set balance = balance - 10 where id = $1', [id]);
 *   await client.query('commit');
 * } finally {
 *   client.release();
 * }
 * ```
 */
export class Pool extends EventEmitter {
  /** The options as given, with pg's defaults filled in. */
  readonly options: PoolConfig & { max: number; idleTimeoutMillis: number; maxUses: number; allowExitOnIdle: boolean; maxLifetimeSeconds: number };
  /** The Client class (pg's API; clients of this pool are pgwarp/pg's). */
  readonly Client: typeof Client;
  /** `end()` was called. */
  ending = false;
  /** `end()` has finished. */
  ended = false;

  private engineInstance: PgwarpPool | undefined;
  private waiting = 0;
  private readonly holders = new Map<number, Client>();
  private readonly clients = new Map<number, Client>();
  /** Checkouts per connection, for `maxUses`. */
  private readonly uses = new Map<number, number>();
  /** Clients released whose connections the engine is still taking back (pg's release is synchronous). */
  private releasing = 0;
  private sharedTarget: Target | undefined;
  /** The transaction a `pool.query('BEGIN')` left open, which later `pool.query()` calls join. */
  private readonly open = new PinnedTransaction();
  private readonly names = new Map<string, string>();
  /** Clients given back with an error, whose connections are still closing. */
  private destroying = 0;
  /** Reservations asked of the engine and not answered yet. */
  private reserving = 0;
  /** `pool.query()` calls on the shared connections in progress: released clients go back to the engine meanwhile. */
  private shared = 0;
  /** Clients released and kept checked out of the engine for the next `connect()`. */
  private readonly idle: IdleClients;
  /** What `connect` listeners ran on each connection, run again after its session was reset. */
  private readonly connectListeners = new ConnectListeners();

  constructor(options: PoolConfig = {}) {
    super();
    this.options = {
      ...options,
      max: options.max ?? 10,
      idleTimeoutMillis: options.idleTimeoutMillis ?? 10000,
      maxUses: options.maxUses ?? Infinity,
      allowExitOnIdle: options.allowExitOnIdle ?? false,
      maxLifetimeSeconds: options.maxLifetimeSeconds ?? 0,
    };
    hideSecrets(this.options);
    this.Client = Client;
    const idleMs = this.options.idleTimeoutMillis || 10000;
    this.idle = new IdleClients(idleMs, (conn) => void conn.release().catch(() => {}));
  }

  /**
   * The engine, made on first use, so that `connect` listeners added after the constructor
   * are known: with one, each new connection is shown to them first.
   */
  private get engine(): PgwarpPool {
    if (this.engineInstance !== undefined) return this.engineInstance;
    const [url, options] = toPoolOptions(this.options, false);
    if (this.listenerCount('connect') > 0) {
      options.onConnect = (conn) => this.connectListeners.announce(this.clientFor(conn, 0), (client) => this.emit('connect', client));
    }
    const engine = new PgwarpPool(url ?? options, url === undefined ? undefined : options);
    const bridge = engine.bridge;
    bridge.events.lost = (conn) => {
      this.holders.get(conn)?.lost();
      this.idle.drop(conn);
    };
    bridge.events.notification = (conn, processId, channel, payload) =>
      this.holders.get(conn)?.emitApart('notification', notification(processId, channel, payload));
    bridge.events.notice = (buf, conn) => this.holders.get(conn)?.emitApart('notice', noticeOf(buf));
    // pg-pool emits 'error' when an idle client's connection dies (pg then crashes a process
    // that does not listen; here the event goes only to listeners).
    bridge.events.closed = (conn, reason) => {
      if (this.holders.has(conn) || this.listenerCount('error') === 0) return;
      const err = new ConnectionError(`connection lost: ${reason}`);
      err.code = 'ECONNRESET';
      this.emit('error', toPgError(err, { idle: true }), this.clients.get(conn));
    };
    this.engineInstance = engine;
    return engine;
  }

  private get target(): Target {
    if (this.sharedTarget !== undefined) return this.sharedTarget;
    const engine = this.engine;
    const alone = async <T>(fn: (target: Target) => Promise<T>): Promise<T> => {
      this.idle.flush();
      const conn = await engine.reserve();
      const target = this.targetOf(conn);
      let failed = true;
      try {
        const res = await fn(target);
        failed = false;
        return res;
      } finally {
        if (failed || this.ending || !this.open.keep(conn, target)) await conn.release().catch(() => {});
      }
    };
    const p = this.options.pgwarp;
    this.sharedTarget = {
      runner: engine,
      types: this.options.types,
      script: (text) => alone((t) => t.script(text)),
      alone,
      native: p?.values === 'pgwarp' ? { int8: p.int8 ?? 'bigint' } : undefined,
      names: this.names,
    };
    return this.sharedTarget;
  }

  /** Where queries run on a connection the pool reserved for them. */
  private targetOf(conn: ReservedConnection): Target {
    return { runner: conn, script: (text) => conn.execRows(text), native: this.sharedTarget?.native, types: this.options.types, names: this.names };
  }

  /** The Client of an engine connection: one per connection, reused across checkouts, as pg's are. */
  private clientFor(conn: ReservedConnection, processID: number): Client {
    const attachment = { conn, bridge: this.engine.bridge, processID };
    let client = this.clients.get(conn.id);
    if (client === undefined) {
      client = new Client(this.options, attachment);
      remember(this.clients, conn.id, client);
    } else client._attach(attachment);
    return client;
  }

  /** Runs a query on the shared connections (pipelined); see Client.query for the forms. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  query<R extends QueryResultRow = any, V extends unknown[] = unknown[]>(config: string | QueryConfig<V>, values?: V): Promise<Result<R>>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  query<R extends QueryResultRow = any, V extends unknown[] = unknown[]>(config: string | QueryConfig<V>, callback: (err: Error, result: Result<R>) => void): void;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  query<R extends QueryResultRow = any, V extends unknown[] = unknown[]>(text: string, values: V, callback: (err: Error, result: Result<R>) => void): void;
  query(config: unknown, values?: unknown, callback?: unknown): Promise<Result | Result[]> | undefined {
    let q: ReturnType<typeof normalizeQuery>;
    try {
      if (typeof config === 'function') {
        const err = new Error('Passing a function as the first parameter to pool.query is not supported');
        process.nextTick(() => (config as Callback<never>)(err));
        return undefined;
      }
      q = normalizeQuery(config, values, callback);
    } catch (err) {
      if (typeof values === 'function' || typeof callback === 'function') {
        const cb = (typeof values === 'function' ? values : callback) as Callback<never>;
        process.nextTick(() => cb(err as Error));
        return undefined;
      }
      throw err;
    }
    if (this.ending) return settle(Promise.reject(new Error(MESSAGES.poolEnded)), q.cb, undefined);
    return settle(
      pgQuery.hasSubscribers ? tracePgQuery(q.query, () => this.traceInfo(), () => this.run(q.query)) : this.run(q.query),
      q.cb,
      undefined,
      this.options.Promise,
    );
  }

  private run(query: ReturnType<typeof normalizeQuery>['query']): Promise<Result | Result[]> {
    return this.open.ready ? this.open.run(query, this.options.query_timeout) : this.runShared(query);
  }

  // An async function's `finally` costs less than `promise.finally()` (which makes two more promises).
  private async runShared(query: ReturnType<typeof normalizeQuery>['query']): Promise<Result | Result[]> {
    // The engine may need the connections kept idle here for this query (they go in the
    // same batch, ahead of it, and cost no round trip).
    this.idle.flush();
    this.shared++;
    try {
      const ms = query.query_timeout ?? this.options.query_timeout;
      return await (typeof ms !== 'number' || ms <= 0 ? runPgQuery(this.target, query) : runTimed(this.target, query, ms, () => this.engine.cancelTarget({ timeout: ms })));
    } finally {
      this.shared--;
    }
  }

  /** Checks out a Client (a reserved connection); give it back with `client.release()`. */
  connect(): Promise<PoolClient>;
  connect(callback: (err: Error | null, client?: PoolClient, release?: (err?: Error | boolean) => void) => void): void;
  connect(callback?: (err: Error | null, client?: PoolClient, release?: (err?: Error | boolean) => void) => void): Promise<PoolClient> | undefined {
    const work = pgPoolConnect.hasSubscribers ? this.tracedAcquire() : this.acquire();
    if (callback === undefined) return promiseOf(this.options.Promise, work);
    work.then(
      (client) => callback(null, client, client.release),
      // pg-pool passes a no-op release with the error.
      (err: Error) => callback(err, undefined, () => {}),
    );
    return undefined;
  }

  /** `acquire()` inside `pg:pool:connect`, with pg-pool's context. */
  private tracedAcquire(): Promise<PoolClient> {
    const ctx: { pool: object; client?: { processID: number | null; reused: boolean } } = {
      pool: { totalCount: this.totalCount, idleCount: this.idleCount, waitingCount: this.waitingCount, maxSize: this.options.max ?? 10 },
    };
    return pgPoolConnect.tracePromise(async () => {
      const client = await this.acquire();
      ctx.client = { processID: client.processID, reused: (this.uses.get(client.connectionId ?? -1) ?? 0) > 1 };
      return client;
    }, ctx);
  }

  /** Who its clients are, as pg's tracing contexts say it (a pool query's backend is not known). */
  private traceInfo(): PgClientInfo {
    const p = connectionParameters(this.options, defaults);
    return { database: p.database, host: p.host, port: p.port, user: p.user, processID: null, ssl: Boolean(this.options.ssl) };
  }

  private async acquire(): Promise<PoolClient> {
    if (this.ending) throw new Error(MESSAGES.poolEnded);
    const kept = this.idle.take();
    if (kept !== undefined) return this.checkout(kept.conn, kept.client.processID ?? 0);
    let counted = false;
    if (this.shared === 0 && !this.roomInEngine()) {
      // Every connection is out: wait for one to be released, as pg-pool's waiters do.
      this.waiting++;
      let handed: Kept | undefined;
      try {
        handed = await this.idle.wait(this.options.connectionTimeoutMillis ?? 0, () => new Error(MESSAGES.timeout));
      } finally {
        this.waiting--;
      }
      if (handed !== undefined) return this.checkout(handed.conn, handed.client.processID ?? 0);
      // Told to reserve from the engine (see `serveWaiters`), which counted this reservation.
      counted = true;
    }
    return this.reserveNew(counted);
  }

  /** Reserves a connection from the engine; `counted`: `reserving` already counts it. */
  private async reserveNew(counted: boolean): Promise<PoolClient> {
    const engine = this.engine;
    if (!counted) this.reserving++;
    this.waiting++;
    let conn: ReservedConnection;
    let pid: number;
    try {
      // The pid comes with the reservation (the engine has it from the startup): no query.
      [conn, { pid }] = await engine.reserveSession(false);
    } catch (err) {
      const p = connectionParameters(this.options, defaults);
      throw toPgError(err, { host: p.host, port: p.port });
    } finally {
      this.waiting--;
      this.reserving--;
    }
    engine.bridge.watch(conn.id);
    return this.checkout(conn, pid);
  }

  /** Whether the engine has a connection for one more checkout (`max` counts them all). */
  private roomInEngine(): boolean {
    return this.holders.size + this.reserving < (this.options.max ?? 10);
  }

  /** Lets waiters reserve from the engine while connections are free for them there. */
  private serveWaiters(): void {
    while (this.idle.waiting > 0 && this.roomInEngine()) {
      this.reserving++;
      this.idle.next();
    }
  }

  /** Hands out the Client of reserved connection `conn`. */
  private checkout(conn: ReservedConnection, pid: number): PoolClient {
    const client = this.clientFor(conn, pid);
    const uses = (this.uses.get(conn.id) ?? 0) + 1;
    remember(this.uses, conn.id, uses);
    let released = false;
    client.release = (err?: Error | boolean) => {
      if (released) throw new Error(MESSAGES.released);
      released = true;
      this.holders.delete(conn.id);
      this.emit('release', err, client);
      if (pgPoolRelease.hasSubscribers) pgPoolRelease.publish({ client: { processID: client.processID }, error: err || undefined });
      const retire = err || uses >= (this.options.maxUses ?? Infinity);
      // pg ends a client released with an error: later queries on it are refused as such.
      if (err) client._destroy();
      void this.giveBack(client, conn, retire ? (err ?? true) : undefined);
    };
    this.holders.set(conn.id, client);
    this.emit('acquire', client);
    return client as PoolClient;
  }

  /** Returns the connection, or with an error (or `true`) closes it, as pg destroys such a client. */
  private async giveBack(client: Client, conn: ReservedConnection, err: Error | boolean | undefined): Promise<void> {
    if (!err && this.keepable(client, conn)) {
      const entry = { client, conn };
      if (!this.idle.handOff(entry)) this.idle.keep(entry);
      return;
    }
    // The engine gets the connection back; a waiter reserves it (or another) there.
    queueMicrotask(() => this.serveWaiters());
    if (!err) {
      this.releasing++;
      // Queries issued before release() still run on it, as with pg (whose client keeps
      // them queued on its socket). Otherwise the release goes to the engine at once, ahead of
      // a connect() that follows: the engine then hands that reservation this connection.
      const release = () => conn.release().catch(() => {});
      await (client._busy() ? client._idle().then(release) : release());
      this.releasing--;
      return;
    }
    {
      this.destroying++;
      this.clients.delete(conn.id);
      this.uses.delete(conn.id);
      // Ending the backend ends the connection: the engine drops it on release.
      await conn
        .query('select pg_terminate_backend(pg_backend_pid())')
        .execute()
        .catch(() => {});
      await conn.release().catch(() => {});
      this.destroying--;
      this.emit('remove', client);
      if (pgPoolRemove.hasSubscribers) pgPoolRemove.publish({ client: { processID: client.processID } });
    }
  }

  /**
   * Whether a released client stays checked out for the next `connect()`: nobody waits for
   * the engine (it would wait for this connection), its session needs no reset, the server
   * says it is idle, and nothing it started still runs.
   */
  private keepable(client: Client, conn: ReservedConnection): boolean {
    return !this.ending && this.shared === 0 && this.reserving === 0 && !this.options.pgwarp?.resetSession && conn.status === 'I' && client._quiet();
  }

  /** Connections open. */
  get totalCount(): number {
    return Math.max(0, (this.engineInstance?.stats().connections.total ?? 0) - this.destroying);
  }

  /** Connections open and unused. */
  get idleCount(): number {
    const c = this.engineInstance?.stats().connections;
    return c === undefined ? 0 : Math.min(c.total - this.destroying, c.idle + this.releasing + this.idle.size);
  }

  /** Callers of `connect()` waiting for a connection. */
  get waitingCount(): number {
    return this.waiting;
  }

  /** pg counts clients past their lifetime here; the engine retires them itself. */
  get expiredCount(): number {
    return 0;
  }

  /** Closes every connection once checked-out clients are released. */
  end(): Promise<void>;
  end(callback: (err?: Error) => void): void;
  end(callback?: (err?: Error) => void): Promise<void> | undefined {
    let work: Promise<void>;
    if (this.ending) work = Promise.reject(new Error(MESSAGES.poolEndedTwice));
    else {
      this.ending = true;
      work = (async () => {
        this.idle.flush();
        this.idle.rejectAll(new Error(MESSAGES.poolEnded));
        await this.open.end();
        await this.engineInstance?.close();
        this.ended = true;
      })();
    }
    if (callback === undefined) return work;
    work.then(
      () => callback(),
      (e: Error) => callback(e),
    );
    return undefined;
  }
}
