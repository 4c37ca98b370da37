/**
 * OpenTelemetry for pgwarp (`pgwarp/otel`): spans and metrics by the stable database
 * semantic conventions, from the `pgwarp:query` channel, and the connection-pool metrics from
 * each open pool's `stats()`. `@opentelemetry/api` is an optional peer dependency, loaded
 * only by this module.
 *
 * @example
 * ```ts
 * import { instrument } from 'pgwarp/otel';
 * const otel = instrument(); // the global tracer and meter providers; or pass yours
 * // ... later, to stop:
 * otel.disable();
 * ```
 * @module
 */
import { context, metrics, SpanKind, SpanStatusCode, trace, type Attributes, type BatchObservableCallback, type MeterProvider, type Span, type TracerProvider } from '@opentelemetry/api';

import { acquireChannel, livePools, queryChannel, releaseChannel, type AcquireTraceContext, type QueryTraceContext } from './tracing';

const NAME = 'pgwarp';
const VERSION: string = (require('../../package.json') as { version: string }).version;

/** What {@link instrument} takes: the providers to use (default: the global ones). */
export interface InstrumentOptions {
  tracerProvider?: TracerProvider;
  meterProvider?: MeterProvider;
}

/** What {@link instrument} returns. */
export interface Instrumentation {
  /** Stops the spans and metrics (what is in flight ends unrecorded). */
  disable(): void;
}

interface InFlight {
  span: Span;
  started: number;
}

/**
 * Starts recording: a CLIENT span per statement, parented on the context active where the
 * query was issued, named by its command (from the server's tag) and database; the
 * `db.client.operation.duration` histogram; and the pool metrics
 * `db.client.connection.count` (by `db.client.connection.state`: `idle`, `used`),
 * `db.client.connection.max`, `db.client.connection.pending_requests` and
 * `db.client.connection.timeouts`, read from every open pool when the meter collects.
 */
export function instrument(options: InstrumentOptions = {}): Instrumentation {
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(NAME, VERSION);
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(NAME, VERSION);
  const duration = meter.createHistogram('db.client.operation.duration', {
    description: 'Duration of database client operations.',
    unit: 's',
    advice: { explicitBucketBoundaries: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10] },
  });
  const inFlight = new WeakMap<object, InFlight>();

  const start = (message: unknown) => {
    const ctx = message as QueryTraceContext;
    const attributes: Attributes = {
      'db.system.name': 'postgresql',
      'db.namespace': ctx.database,
      'db.query.text': ctx.sql,
    };
    if (ctx.host !== undefined) attributes['server.address'] = ctx.host;
    if (ctx.port !== undefined) attributes['server.port'] = ctx.port;
    if (ctx.params !== undefined) ctx.params.forEach((v, i) => (attributes[`db.query.parameter.${i}`] = v === null || v === undefined ? 'NULL' : String(v)));
    const span = tracer.startSpan(ctx.database, { kind: SpanKind.CLIENT, attributes }, context.active());
    inFlight.set(ctx, { span, started: performance.now() });
  };

  const finish = (message: unknown) => {
    const ctx = message as QueryTraceContext;
    const f = inFlight.get(ctx);
    if (f === undefined) return;
    inFlight.delete(ctx);
    const { span } = f;
    const common: Attributes = { 'db.system.name': 'postgresql', 'db.namespace': ctx.database };
    if (ctx.host !== undefined) common['server.address'] = ctx.host;
    if (ctx.port !== undefined) common['server.port'] = ctx.port;
    if (ctx.command) {
      common['db.operation.name'] = ctx.command;
      span.updateName(`${ctx.command} ${ctx.database}`);
    }
    if (ctx.error !== undefined) {
      const code = (ctx.error as { code?: unknown }).code;
      const sqlstate = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
      if (sqlstate !== undefined) common['db.response.status_code'] = sqlstate;
      common['error.type'] = sqlstate ?? (ctx.error as Error)?.constructor?.name ?? 'Error';
      span.recordException(ctx.error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (ctx.error as Error)?.message });
    }
    span.setAttributes(common);
    if (ctx.batchSize !== undefined && ctx.batchSize > 1) span.setAttribute('db.operation.batch.size', ctx.batchSize);
    if (ctx.rowCount !== undefined) span.setAttribute('db.response.returned_rows', ctx.rowCount);
    span.end();
    duration.record((performance.now() - f.started) / 1000, common);
  };

  const none = () => {};
  const handlers = {
    start,
    asyncStart: none,
    error: none,
    asyncEnd: finish,
    // A call that threw before returning its promise has no asyncEnd.
    end: (message: unknown) => {
      if ((message as QueryTraceContext).error !== undefined) finish(message);
    },
  };
  queryChannel.subscribe(handlers);

  const count = meter.createObservableUpDownCounter('db.client.connection.count', { description: 'Connections open, by state.', unit: '{connection}' });
  const max = meter.createObservableUpDownCounter('db.client.connection.max', { description: 'The most connections the pool opens.', unit: '{connection}' });
  const pending = meter.createObservableUpDownCounter('db.client.connection.pending_requests', { description: 'Callers waiting for a connection.', unit: '{request}' });
  const waitTime = meter.createHistogram('db.client.connection.wait_time', { description: 'Time to obtain a connection of its own from the pool.', unit: 's' });
  const useTime = meter.createHistogram('db.client.connection.use_time', { description: 'Time between borrowing a connection and returning it.', unit: 's' });
  const waited = {
    start: none,
    end: none,
    asyncStart: none,
    error: none,
    asyncEnd: (message: unknown) => waitTime.record((message as AcquireTraceContext).durationMs / 1000),
  };
  const released = (message: unknown) => useTime.record((message as { durationMs: number }).durationMs / 1000);
  acquireChannel.subscribe(waited);
  releaseChannel.subscribe(released);
  const timeouts = meter.createObservableCounter('db.client.connection.timeouts', { description: 'Callers that gave up waiting for a connection (acquireTimeout).', unit: '{timeout}' });
  const instruments = [count, max, pending, timeouts];
  const observe: BatchObservableCallback = (result) => {
      for (const pool of livePools.open()) {
        const s = pool.stats();
        const info = pool.connectionInfo();
        const name = { 'db.client.connection.pool.name': poolName(info) };
        result.observe(count, s.connections.idle, { ...name, 'db.client.connection.state': 'idle' });
        result.observe(count, s.connections.total - s.connections.idle, { ...name, 'db.client.connection.state': 'used' });
        result.observe(max, info.max, name);
        result.observe(pending, s.waiting, name);
        result.observe(timeouts, s.counters.acquireTimeouts, name);
      }
  };
  meter.addBatchObservableCallback(observe, instruments);

  let on = true;
  return {
    disable() {
      if (!on) return;
      on = false;
      queryChannel.unsubscribe(handlers);
      acquireChannel.unsubscribe(waited);
      releaseChannel.unsubscribe(released);
      meter.removeBatchObservableCallback(observe, instruments);
    },
  };
}

/** A pool's name in metrics: its application name, else its first host and database. */
function poolName(info: { hosts: string[]; ports: number[]; database: string; applicationName?: string | null }): string {
  return info.applicationName ?? `${info.hosts[0] ?? ''}:${info.ports[0] ?? ''}/${info.database}`;
}

