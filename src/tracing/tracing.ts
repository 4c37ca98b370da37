/**
 * Tracing with `node:diagnostics_channel`: the `pgwarp:query` TracingChannel, published for
 * every statement a caller runs (queries, streams, COPY, scripts, a transaction's statements),
 * and the slow-query log. Nothing is built when nobody subscribes and no log is set: one
 * property read per statement.
 *
 * @example
 * ```ts
 * import { channel, tracingChannel } from 'node:diagnostics_channel';
 * tracingChannel('pgwarp:query').subscribe({
 *   start(ctx) { console.log('->', ctx.sql, ctx.database); },
 *   asyncEnd(ctx) { console.log('<-', ctx.command, ctx.rowCount, `${ctx.host}:${ctx.port}`); },
 *   error(ctx) { console.log('x', ctx.error); },
 * });
 * ```
 * @module
 */
import { channel, tracingChannel } from 'node:diagnostics_channel';

import type { Bridge } from '../engine/bridge';
import { ConnectionError, ParameterError } from '../errors/errors';
import type { NativeConnectionInfo } from '../engine/native';

/** What a `pgwarp:query` subscriber is given; the same object through start, end and error. */
export interface QueryTraceContext {
  /** The statement's text. */
  sql: string;
  /** Its parameters, only with the pool option `traceParams: true` (values can be secrets). */
  params?: readonly unknown[];
  /** What ran it: `query`, `stream`, `copy`, `script`. */
  operation: 'query' | 'stream' | 'copy' | 'script';
  /** The database. */
  database: string;
  /** The host that answered: known at the start with one host, else on completion. */
  host: string | undefined;
  /** Its port. */
  port: number | undefined;
  /** The user. */
  user: string;
  /** `application_name`. */
  applicationName: string | undefined;
  /** Statements in a script (`db.operation.batch.size`). */
  batchSize?: number;
  /** On completion: the command word of the tag (`SELECT`, `INSERT`). */
  command?: string;
  /** On completion: rows returned or affected. */
  rowCount?: number;
  /** On failure: the error (a `PostgresError` for the server's). */
  error?: unknown;
  /** On completion: what the call resolved with. */
  result?: unknown;
}

/** The pools open now, weakly: a pool dropped without `close()` is not kept alive by being observed. */
class LivePools {
  private readonly refs = new Set<WeakRef<ObservedPool>>();
  private readonly refOf = new WeakMap<ObservedPool, WeakRef<ObservedPool>>();
  /** A pool collected without `close()` leaves its reference behind; this takes it out. */
  private readonly collected = new FinalizationRegistry<WeakRef<ObservedPool>>((ref) => this.refs.delete(ref));

  add(pool: ObservedPool): void {
    const ref = new WeakRef(pool);
    this.refs.add(ref);
    this.refOf.set(pool, ref);
    this.collected.register(pool, ref, ref);
  }

  delete(pool: ObservedPool): void {
    const ref = this.refOf.get(pool);
    if (ref === undefined) return;
    this.refs.delete(ref);
    this.refOf.delete(pool);
    this.collected.unregister(ref);
  }

  open(): ObservedPool[] {
    const out: ObservedPool[] = [];
    for (const ref of this.refs) {
      const pool = ref.deref();
      if (pool !== undefined) out.push(pool);
    }
    return out;
  }
}

/**
 * The pools open in this process, views included (they are pools too), for metrics that read
 * their numbers (`pgwarp/otel`). A pool leaves it when it closes.
 */
export const livePools = new LivePools();

/** What metrics read of a pool. */
export interface ObservedPool {
  stats(): import('../pool/pool-stats').PoolStats;
  connectionInfo(): NativeConnectionInfo;
}

/** The channel (its `hasSubscribers` is what the hot path reads). */
export const queryChannel = tracingChannel<unknown, QueryTraceContext & object>('pgwarp:query');

/** What a `pgwarp:connect` subscriber is given. */
export interface ConnectTraceContext {
  /** The host reached (the pool's first host when the attempt failed before reaching one). */
  host: string | undefined;
  port: number | undefined;
  /** Whether the session runs over TLS. */
  tls: boolean;
  /** Milliseconds the connection took to open (TLS, authentication, `onConnect`). */
  durationMs: number;
  database: string;
  user: string;
  /** On failure: why. */
  error?: Error;
}

/** What a `pgwarp:acquire` subscriber is given. */
export interface AcquireTraceContext {
  /** Milliseconds a caller waited for a connection of the pool. */
  durationMs: number;
  database: string;
}

/**
 * New physical connections. The engine opens them off the JavaScript thread, so the events
 * of one (start, end, then asyncStart and asyncEnd, or error) are published together once it
 * is open (or failed), with its duration.
 */
export const connectChannel = tracingChannel<unknown, ConnectTraceContext & object>('pgwarp:connect');

/**
 * Connections taken by callers of their own (reservations, transactions), with the time they
 * waited (0 when one was free), and pool queries that had to wait; published (as
 * `pgwarp:connect`) once the wait ended.
 */
export const acquireChannel = tracingChannel<unknown, AcquireTraceContext & object>('pgwarp:acquire');

/**
 * A reserved connection (a transaction's, `reserve()`'s) given back: `{ durationMs }` it was
 * held (a plain channel; for `db.client.connection.use_time`).
 */
export const releaseChannel = channel('pgwarp:release');

/** Publishes the engine's connect and wait events of a pool on their channels, when subscribed. */
export function traceEngineEvents(bridge: Bridge): void {
  bridge.events.connected = (_conn, host, tls, durationMs, error) => {
    if (!connectChannel.hasSubscribers) return;
    const info = connectionOf(bridge);
    const at = host > 0 ? host - 1 : 0;
    const ctx: ConnectTraceContext = { host: info.hosts[at], port: info.ports[at], tls, durationMs, database: info.database, user: info.user };
    if (error !== '') ctx.error = new ConnectionError(error);
    publishDone(connectChannel, ctx);
  };
  bridge.events.waited = (durationMs) => {
    if (!acquireChannel.hasSubscribers) return;
    const info = connectionOf(bridge);
    publishDone(acquireChannel, { durationMs, database: info.database });
  };
}

/** Publishes what happened off the thread on `channel`, its events in order. */
function publishDone<C extends object>(channel: { start: { publish(m: unknown): void }; end: { publish(m: unknown): void }; asyncStart: { publish(m: unknown): void }; asyncEnd: { publish(m: unknown): void }; error: { publish(m: unknown): void } }, ctx: C & { error?: unknown }): void {
  channel.start.publish(ctx);
  channel.end.publish(ctx);
  if (ctx.error !== undefined) channel.error.publish(ctx);
  channel.asyncStart.publish(ctx);
  channel.asyncEnd.publish(ctx);
}

/** What the slow-query log is given. */
export interface SlowQueryEvent {
  kind: 'slow-query';
  sql: string;
  /** Milliseconds from the call to its settling. */
  durationMs: number;
  command?: string;
  rowCount?: number;
  host?: string;
  port?: number;
  /** The error, if it failed. */
  error?: unknown;
}

/** A pool's tracing settings, kept by its engine bridge. */
export interface TraceSettings {
  params: boolean;
  log?: (event: SlowQueryEvent) => void;
  slowQueryMs: number;
  /** Who and where, read from the engine on first use. */
  info?: NativeConnectionInfo;
}

/** The tracing settings of pool options (checked). */
export function traceSettings(o: { traceParams?: boolean; log?: unknown; slowQueryMs?: number }): TraceSettings {
  if (o.traceParams !== undefined && typeof o.traceParams !== 'boolean') throw new ParameterError(`traceParams must be a boolean, not ${typeof o.traceParams}`);
  if (o.log !== undefined && typeof o.log !== 'function') throw new ParameterError(`log must be a function, not ${typeof o.log}`);
  const slow = o.slowQueryMs ?? 1000;
  if (typeof slow !== 'number' || !(slow >= 0)) throw new ParameterError(`slowQueryMs must be a number of milliseconds >= 0, not ${String(slow)}`);
  return { params: o.traceParams === true, log: o.log as TraceSettings['log'], slowQueryMs: slow };
}

/** What a traced statement reports when it completes. */
interface Completion {
  command?: string;
  rowCount?: number;
  /** The answering host, counting from 1 (0: not known). */
  host?: number;
  /** Statements in a script. */
  batchSize?: number;
}

/** What {@link traced} needs of the engine bridge that runs the statement. */
export interface Traceable {
  trace: TraceSettings;
  connectionInfo(): NativeConnectionInfo;
}

/** Who the bridge's connections log in as, and where: asked of the engine once per pool. */
function connectionOf(bridge: Traceable): NativeConnectionInfo {
  return (bridge.trace.info ??= bridge.connectionInfo());
}

/** Whether `run` must go through {@link traced}: somebody subscribes, or a slow-query log is set. */
export function tracingOn(trace: TraceSettings): boolean {
  return queryChannel.hasSubscribers || trace.log !== undefined;
}

/**
 * Runs `run` inside the `pgwarp:query` channel (when subscribed) and the slow-query log
 * (when set). `done` reads what its result says of the statement.
 */
export function traced<R>(
  bridge: Traceable,
  operation: QueryTraceContext['operation'],
  sql: string,
  params: readonly unknown[] | undefined,
  run: () => Promise<R>,
  done: (result: R) => Completion,
): Promise<R> {
  const trace = bridge.trace;
  const i = connectionOf(bridge);
  const one = i.hosts.length === 1;
  const ctx: QueryTraceContext = {
    sql,
    operation,
    database: i.database,
    host: one ? i.hosts[0] : undefined,
    port: one ? i.ports[0] : undefined,
    user: i.user,
    applicationName: i.applicationName ?? undefined,
  };
  if (trace.params && params !== undefined) ctx.params = params;
  const started = performance.now();
  const finish = (failed: boolean, error: unknown, result?: R) => {
    if (!failed) {
      const c = done(result as R);
      ctx.command = c.command;
      ctx.rowCount = c.rowCount;
      if (c.batchSize !== undefined) ctx.batchSize = c.batchSize;
      if (c.host !== undefined && c.host > 0 && c.host <= i.hosts.length) {
        ctx.host = i.hosts[c.host - 1];
        ctx.port = i.ports[c.host - 1];
      }
    }
    const ms = performance.now() - started;
    if (trace.log !== undefined && ms >= trace.slowQueryMs) {
      const event: SlowQueryEvent = { kind: 'slow-query', sql, durationMs: ms, command: ctx.command, rowCount: ctx.rowCount, host: ctx.host, port: ctx.port };
      if (failed) event.error = error;
      try {
        trace.log(event);
      } catch {
        // A logger that throws must not fail the query it logs.
      }
    }
  };
  const wrapped = () =>
    run().then(
      (result) => {
        finish(false, undefined, result);
        return result;
      },
      (err: unknown) => {
        finish(true, err);
        throw err;
      },
    );
  return queryChannel.hasSubscribers ? queryChannel.tracePromise(wrapped, ctx) : wrapped();
}
