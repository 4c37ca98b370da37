/**
 * node-postgres' `Client`: one connection, its queries in order (pipelined on the socket).
 * A standalone Client owns a one-connection engine pool; a Client from `pool.connect()` holds
 * one of the pool's connections, reserved.
 * @module
 */
import { pgConnection, pgQuery, tracePgQuery, type PgClientInfo } from './tracing';
import { EventEmitter } from 'node:events';

import type { Bridge } from '../engine/bridge';
import { noticeOf, notification } from './events';
import { Pool as PgwarpPool } from '../pool/pool';
import type { ReservedConnection } from '../pool/reserved';
import { connectionParameters, hideSecrets, toPoolOptions, type ClientConfig, type ConnectionParameters } from './config';
import { defaults } from './defaults';
import { MESSAGES, toPgError } from './errors';
import { isPlainBegin, LazyBegin } from './lazy-begin';
import { isOwnSubmittable, normalizeQuery, promiseOf, Query, settle, type Callback, type OwnSubmittable, type QueryConfig, type QueryResultRow } from './query';
import type { Result } from './result';
import { runPgQuery, runTimed, type Target } from './run';
import { isForeign, runForeign, type Foreign } from './submittable';
import { TypeOverrides, type TypeParserSource } from './types';
import { escapeIdentifier, escapeLiteral } from './values';

/** What pg's Client knows of the connection: its parameters, as pg's `client.connection` emits them. */
export type ParameterStatus = { parameterName: string; parameterValue: string };

/** @internal How a pool hands a reserved connection to a Client. */
export interface Attachment {
  conn: ReservedConnection;
  bridge: Bridge;
  processID: number;
}

/**
 * A connection to PostgreSQL with node-postgres' API.
 *
 * @example
 * ```ts
 * import { Client } from 'pgwarp/pg';
 *
 * const client = new Client({ connectionString: process.env.DATABASE_URL });
 * await client.connect();
 * const { rows } = await client.query('select $1::text as name', ['world']);
 * await client.end();
 * ```
 */
export class Client extends EventEmitter {
  /** The backend's process id (`pg_backend_pid()`), once connected. */
  processID: number | null = null;
  /**
   * Emits `parameterStatus` with what the server reported at connect. Its `stream.destroy()`
   * ends the connection at once, as destroying pg's socket does (pg-pool does it when a
   * connect takes longer than `connectionTimeoutMillis`).
   */
  readonly connection: EventEmitter & { stream: { destroy(err?: Error): void } } = Object.assign(new EventEmitter(), {
    stream: { destroy: () => this.destroyConnection() },
  });
  /** pg's `binary` option (pgwarp/pg reads every value the way pg's text mode gives it). */
  readonly binary: boolean;
  /** pg's `pipeline` option: queries are pipelined on the connection (pgwarp/pg always sends them in order on it). */
  readonly pipeline: boolean;
  readonly user: string | undefined;
  readonly database: string | undefined;
  readonly host: string;
  readonly port: number;
  /** Not enumerable, as in pg, so logging a Client does not print it. */
  declare readonly password: unknown;
  /** What the Client connects with, as pg's `ConnectionParameters` (password and ssl key not enumerable). */
  readonly connectionParameters: ConnectionParameters & Record<string, unknown>;
  /** pg's Query class, also reachable here. */
  static Query = Query;
  /** @internal */
  _ending = false;
  /** @internal */
  _connected = false;
  /** @internal Set on a Client from `pool.connect()`. */
  release?: (err?: Error | boolean) => void;

  private readonly config: ClientConfig;
  private own: PgwarpPool | undefined;
  private conn: ReservedConnection | undefined;
  private connecting: Promise<void> | undefined;
  private broken = false;
  private inFlight = 0;
  private overrides: TypeOverrides | undefined;
  private readonly names = new Map<string, string>();
  private target: Target | undefined;
  private connectCalled: (() => void)[] | undefined;

  constructor(config?: string | ClientConfig, attachment?: Attachment) {
    super();
    const c: ClientConfig = typeof config === 'string' ? { connectionString: config } : (config ?? {});
    const p = connectionParameters(c, defaults);
    // pg reads PG* when the Client is made, not when it connects.
    this.config = c.connectionString === undefined ? { ...c, host: p.host, port: p.port, user: p.user, database: p.database } : { ...c };
    hideSecrets(this.config);
    // pg's ConnectionParameters, as `client.connectionParameters` shows them.
    this.connectionParameters = { ...p, ssl: c.ssl, statement_timeout: c.statement_timeout ?? false, query_timeout: c.query_timeout ?? false };
    hideSecrets(this.connectionParameters);
    this.user = p.user;
    this.database = p.database;
    this.host = p.host;
    this.port = p.port;
    Object.defineProperty(this, 'password', { value: p.password, enumerable: false, writable: true, configurable: true });
    if (this.config.types !== undefined) this.overrides = new TypeOverrides(this.config.types);
    const extra = c as { binary?: boolean; pipeline?: boolean };
    this.binary = Boolean(extra.binary ?? defaults.binary);
    this.pipeline = Boolean(extra.pipeline);
    if (attachment !== undefined) this._attach(attachment);
  }

  /**
   * pg's: whether an idle connection keeps the process alive. pgwarp's never does (the engine
   * holds the event loop only while a request is in flight), so these change nothing.
   */
  ref(): void {}

  /** See `ref()`. */
  unref(): void {}

  /** The socket is gone: a connect in progress fails, a connected Client is lost (pg's 'error', 'end'). */
  private destroyConnection(): void {
    // Before connect() there is no socket yet; pg's connect() reopens a destroyed one, so a
    // destroy then changes nothing (pg-pool's connect timeout can come before a slow connect()).
    if (this.destroyed || this.connecting === undefined) return;
    this.destroyed = true;
    if (this._connected) this.lost();
    void this.own?.close({ timeout: 0 }).catch(() => {});
  }

  /** `connection.stream.destroy()` was called. */
  private destroyed = false;
  /** end() closed the connection under queries still running (they fail, as with pg). */
  private cutShort = false;

  /** @internal Gives the Client a (newly) reserved connection: a pool's clients are reused per connection, as pg's are. */
  _attach(a: Attachment): void {
    this.broken = false;
    // A cursor left open by the last holder was stopped by its release: nothing waits for it.
    this.gate = undefined;
    // Nor is a BEGIN it left unanswered its successor's (the release rolled it back).
    this.beginning.forget();
    this.conn = a.conn;
    this.processID = a.processID;
    this._connected = true;
    this.connecting = Promise.resolve();
    const conn = a.conn;
    const native = this.config.pgwarp?.values === 'pgwarp' ? { int8: this.config.pgwarp.int8 ?? 'bigint' } : undefined;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    this.target = {
      runner: conn,
      script: (text) => conn.execRows(text),
      // setTypeParser() may come after connect().
      get types() {
        return self.overrides;
      },
      native,
      names: this.names,
    };
  }

  /** @internal The error a query sees (see `SubmitHost`). */
  failure(err: unknown): unknown {
    return this.cutShort ? new Error('Connection terminated', { cause: err }) : err;
  }

  /**
   * @internal Resolves once the queries issued so far have settled (not cursors or streams:
   * a release stops those, see `Pool::quiet`).
   */
  _idle(): Promise<void> {
    if (this.runs === 0) return Promise.resolve();
    return new Promise((resolve) => (this.whenIdle ??= []).push(resolve));
  }

  /** @internal Nothing it issued still runs (no query, cursor or stream), and it is usable. */
  _quiet(): boolean {
    return this.runs === 0 && this.gate === undefined && !this.beginning.pending && !this.broken && !this._ending && this._connected;
  }

  /** @internal Whether plain queries it issued have not settled yet. */
  _busy(): boolean {
    return this.runs > 0;
  }

  /**
   * Plain queries issued and not settled. A count, not a set of promises: a set that grows and
   * empties with every query made V8 allocate its table again each time, and a long-lived
   * Client's new table survived into the old generation (18% of what a scavenge kept was
   * promoted in a transaction-per-request load).
   */
  private runs = 0;
  /** Who waits for `runs` to reach 0 (`_idle`). */
  private whenIdle: (() => void)[] | undefined;

  /** A plain query settled. */
  private ran(): void {
    if (--this.runs > 0 || this.whenIdle === undefined) return;
    const waiting = this.whenIdle;
    this.whenIdle = undefined;
    for (const resolve of waiting) resolve();
  }

  /** @internal Its pool closes its connection (`release(err)`): it cannot query any more. */
  _destroy(): void {
    this._ending = true;
  }

  /** @internal Who it is, as pg's tracing contexts say it. */
  traceInfo(): PgClientInfo {
    return { database: this.database, host: this.host, port: this.port, user: this.user, processID: this.processID, ssl: Boolean(this.connectionParameters.ssl) };
  }

  /** @internal The engine connection this Client holds. */
  get connectionId(): number | undefined {
    return this.conn?.id;
  }

  /** Opens the connection. Queries issued before it resolves wait for it. */
  connect(callback?: (err: Error | null) => void): Promise<this> | undefined {
    if (this.connecting !== undefined) {
      const err = new Error(MESSAGES.reused);
      if (callback) {
        process.nextTick(() => callback(err));
        return undefined;
      }
      return Promise.reject(err);
    }
    this.connecting = pgConnection.hasSubscribers ? pgConnection.tracePromise(() => this.open().then(() => this) as Promise<unknown>, { connection: { database: this.database, host: this.host, port: this.port, user: this.user, ssl: Boolean(this.connectionParameters.ssl) } }).then(() => {}) : this.open();
    for (const wake of this.connectCalled?.splice(0) ?? []) wake();
    return settle(
      this.connecting.then(() => this),
      callback as Callback<this> | undefined,
      null,
      this.config.Promise,
    );
  }

  private async open(): Promise<void> {
    const [url, options] = toPoolOptions(this.config, true);
    try {
      this.own = new PgwarpPool(url ?? options, url === undefined ? undefined : options);
      // The pid and ParameterStatus values come from the engine, which kept them from the
      // startup, as pg reads them from its own: no query of pg_settings (~1-3 ms) per connect.
      const [conn, session] = await this.own.reserveSession(true);
      if (this.destroyed) {
        // Its socket was destroyed while connecting: give the connection back, or the close
        // below would wait for a holder that never releases.
        await conn.release().catch(() => {});
        throw new Error(MESSAGES.terminated);
      }
      const bridge = this.own.bridge;
      this._attach({ conn, bridge, processID: session.pid });
      bridge.events.lost = () => this.lost();
      bridge.events.notification = (_conn, processId, channel, payload) => this.emitApart('notification', notification(processId, channel, payload));
      bridge.events.notice = (buf) => this.emitApart('notice', noticeOf(buf));
      bridge.watch(conn.id);
      for (const [parameterName, parameterValue] of session.parameters) {
        this.connection.emit('parameterStatus', { parameterName, parameterValue } satisfies ParameterStatus);
      }
      this.emit('connect');
    } catch (err) {
      // Its socket destroyed meanwhile (pg-pool's connect timeout): pg's words for that.
      const e = this.destroyed ? new Error(MESSAGES.terminated, { cause: err }) : toPgError(err, { host: this.host, port: this.port, client: true });
      await this.own?.close(this.destroyed ? { timeout: 0 } : undefined).catch(() => {});
      throw e;
    }
  }

  /**
   * @internal The connection ended under the Client. A running query rejects with the
   * server's reason; the Client emits pg's 'error' (pg emits the server's FATAL first as well
   * when idle, which the engine does not pass on) and 'end'.
   */
  lost(): void {
    if (this.broken || this._ending) return;
    this.broken = true;
    this.emitApart('error', new Error(MESSAGES.terminated));
    this.emitApart('end');
  }

  /**
   * @internal Emits from the engine's event delivery without letting a listener's throw (or an
   * 'error' nobody listens to, which throws as with pg) interrupt that delivery for others.
   */
  emitApart(event: string, ...args: unknown[]): void {
    try {
      this.emit(event, ...args);
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }

  /** Runs a query: text and values, a config object, or a Cursor / QueryStream / Query. */
  query<T extends OwnSubmittable>(submittable: T): T;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  query<R extends QueryResultRow = any, V extends unknown[] = unknown[]>(config: string | QueryConfig<V>, values?: V): Promise<Result<R>>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  query<R extends QueryResultRow = any, V extends unknown[] = unknown[]>(config: string | QueryConfig<V>, callback: (err: Error, result: Result<R>) => void): void;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  query<R extends QueryResultRow = any, V extends unknown[] = unknown[]>(text: string, values: V, callback: (err: Error, result: Result<R>) => void): void;
  query(config: unknown, values?: unknown, callback?: unknown): unknown {
    if (isOwnSubmittable(config)) {
      // It waits for what came before it, and what comes after waits for it.
      const before = this.gate;
      this.queued++;
      // pg hands the callback given beside a Query to it.
      const given = typeof values === 'function' ? values : callback;
      if (config instanceof Query && config.callback === undefined && typeof given === 'function') config.callback = given as never;
      config.submitTo(
        this,
        () => this.ready(before),
        (done) => {
          this.hold(done);
          this.settled(done);
        },
      );
      return config;
    }
    if (isForeign(config)) return this.submitForeign(config, typeof values === 'function' ? values : callback);
    const { query, cb } = normalizeQuery(config, values, callback);
    this.queued++;
    // `run` counts itself off (another reaction on its promise would cut the caller's frames
    // from the async stack trace of its error).
    this.runs++;
    const work = pgQuery.hasSubscribers ? tracePgQuery(query, () => this.traceInfo(), () => this.run(query)) : this.run(query);
    return settle(work, cb, null, this.config.Promise);
  }

  /**
   * A submittable of another make (pg-cursor, pg-query-stream or pg-copy-streams from npm,
   * pg's Query): its turn comes after what was issued before it, and what comes after waits
   * for it, as on pg's Client.
   */
  private submitForeign(q: Foreign, callback: unknown): Foreign {
    if (q.callback === undefined && typeof callback === 'function') q.callback = callback;
    const before = this.gate;
    this.queued++;
    const done = this.ready(before).then(
      (target) => runForeign(q, target),
      (err: unknown) => {
        q.handleError?.(err, undefined);
      },
    );
    this.hold(done);
    this.settled(done);
    return q;
  }

  /** pg emits 'drain' when its queue empties, after the last query's callback. */
  private settled(work: Promise<unknown>): void {
    const drained = () => this.dequeued();
    work.then(drained, drained);
  }

  private dequeued(): void {
    if (--this.queued === 0) process.nextTick(() => this.queued === 0 && this.emit('drain'));
  }

  /** Queries issued and not settled, for 'drain'. */
  private queued = 0;

  /** pg's: `'I'` idle, `'T'` in a transaction, `'E'` in a failed one, as the server last said; null before connecting. */
  getTransactionStatus(): 'I' | 'T' | 'E' | null {
    if (this.conn === undefined || this.broken) return null;
    // A BEGIN answered early is a transaction for the caller already.
    if (this.beginning.pending && this.conn.status === 'I') return 'T';
    return this.conn.status ?? null;
  }

  /** @internal pg-pool reads it: the Client can still run queries. */
  get _queryable(): boolean {
    return !this.broken;
  }

  /** Queries wait for this: a cursor or stream closing (its statement is stopped on the server first). */
  private gate: Promise<void> | undefined;

  private hold(done: Promise<void>): void {
    const gate = done.catch(() => {});
    this.gate = gate;
    void gate.then(() => {
      if (this.gate === gate) this.gate = undefined;
    });
  }

  /** @internal Resolves to the target once connected; rejects when the Client cannot query. */
  async ready(after: Promise<void> | undefined): Promise<Target> {
    if (after !== undefined) await after;
    if (this._ending) throw new Error(MESSAGES.closed);
    if (this.broken) throw new Error(MESSAGES.notQueryable);
    // pg queues what comes before connect() until it is called.
    if (this.connecting === undefined) await new Promise<void>((resolve) => (this.connectCalled ??= []).push(resolve));
    await this.connecting;
    if (this.broken) throw new Error(MESSAGES.notQueryable);
    return this.target as Target;
  }

  private async run(query: ReturnType<typeof normalizeQuery>['query']): Promise<Result | Result[]> {
    let target: Target;
    // Connected with nothing to wait for: straight on (`ready` would await a settled promise).
    if (this.gate === undefined && this._connected && !this._ending && !this.broken && this.target !== undefined) target = this.target;
    else {
      try {
        target = await this.ready(this.gate);
      } catch (err) {
        this.dequeued();
        this.ran();
        throw err;
      }
    }
    this.inFlight++;
    try {
      const ms = query.query_timeout ?? this.config.query_timeout;
      const conn = this.conn;
      if (!this.beginning.pending && this.inFlight === 1 && conn?.status === 'I' && (typeof ms !== 'number' || ms <= 0) && isPlainBegin(query)) {
        return this.beginning.begin(target, query);
      }
      const running = typeof ms === 'number' && ms > 0 && conn !== undefined ? runTimed(target, query, ms, () => conn.cancelTarget()) : runPgQuery(target, query);
      const res = await this.beginning.before(running);
      // end() came while it ran: pg destroyed the socket under it, so it failed.
      if (this.cutShort) throw new Error('Connection terminated');
      return res;
    } catch (err) {
      if (this.cutShort) throw new Error('Connection terminated', { cause: err });
      throw err;
    } finally {
      this.inFlight--;
      this.dequeued();
      this.ran();
    }
  }

  /** A BEGIN answered before the server has seen it (see `lazy-begin.ts`). */
  private readonly beginning = new LazyBegin();

  /** Closes the connection. */
  end(): Promise<void>;
  end(callback: (err?: Error) => void): void;
  end(callback?: (err?: Error) => void): Promise<void> | undefined {
    const done = this.close();
    if (callback) {
      done.then(
        () => callback(),
        (e: Error) => callback(e),
      );
      return undefined;
    }
    return promiseOf(this.config.Promise, done);
  }

  private async close(): Promise<void> {
    if (this._ending) return;
    this._ending = true;
    await this.connecting?.catch(() => {});
    if (this.own !== undefined) {
      // The engine's close waits for reservations: give it back first, or, with a query still
      // running or queued, close at once (those queries fail, as with pg, which destroys its
      // socket under an active query).
      // In pipeline mode pg lets the queries already sent finish first.
      if (this.pipeline && this.queued > 0) await this._idle();
      const busy = this.queued > 0;
      this.cutShort = busy;
      if (!busy) await this.conn?.release().catch(() => {});
      await this.own.close(busy ? { timeout: 0 } : {});
      this.emit('end');
    }
  }

  /** A parser for this Client only, over the global ones. */
  setTypeParser(oid: number, format: string | ((text: string) => unknown), parser?: (text: string) => unknown): void {
    this.overrides ??= new TypeOverrides();
    this.overrides.setTypeParser(oid, format, parser);
  }

  /** The parser this Client uses for `oid`. */
  getTypeParser(oid: number, format = 'text'): unknown {
    return (this.overrides ?? new TypeOverrides()).getTypeParser(oid, format);
  }

  /** @internal The parsers of this Client, if it has its own. */
  get types(): TypeParserSource | undefined {
    return this.overrides;
  }

  escapeIdentifier(name: string): string {
    return escapeIdentifier(name);
  }

  escapeLiteral(text: string): string {
    return escapeLiteral(text);
  }
}
