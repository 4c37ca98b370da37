// pgwarp/otel with the OpenTelemetry SDK's in-memory exporter and a manual metric reader.
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AggregationTemporality, MeterProvider, MetricReader, type DataPoint } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { instrument } from '../src/tracing/otel';
import { newPool } from './helpers';

class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const reader = new TestReader();
const meterProvider = new MeterProvider({ readers: [reader] });
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
});
afterAll(() => {
  context.disable();
});

async function metric(name: string): Promise<DataPoint<unknown>[]> {
  const { resourceMetrics } = await reader.collect();
  for (const scope of resourceMetrics.scopeMetrics) for (const m of scope.metrics) if (m.descriptor.name === name) return m.dataPoints as DataPoint<unknown>[];
  return [];
}

describe('pgwarp/otel', () => {
  it('spans by the database conventions, parented on the active span; errors; metrics; disable()', async () => {
    const otel = instrument({ tracerProvider, meterProvider });
    const pool = newPool({ max: 2, applicationName: 'otel-test' });
    try {
      const tracer = tracerProvider.getTracer('test');
      await tracer.startActiveSpan('request', async (parent) => {
        await pool.query('select $1::int as v', [1]).scalar();
        await expect(pool.query('select 1 / 0').all()).rejects.toThrow(/division by zero/);
        parent.end();
      });
      const spans = exporter.getFinishedSpans();
      const parent = spans.find((s) => s.name === 'request')!;
      const db = spans.filter((s) => s.attributes['db.system.name'] === 'postgresql');
      expect(db).toHaveLength(2);
      const [ok, failed] = db;
      expect(ok.name).toBe(`SELECT ${ok.attributes['db.namespace']}`);
      expect(ok.kind).toBe(2); // CLIENT
      expect(ok.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
      expect(ok.attributes).toMatchObject({ 'db.query.text': 'select $1::int as v', 'db.operation.name': 'SELECT', 'db.response.returned_rows': 1 });
      expect(typeof ok.attributes['server.address']).toBe('string');
      expect(ok.attributes['server.port']).toBeGreaterThan(0);
      expect(ok.attributes['db.query.parameter.0']).toBeUndefined();
      expect(failed.status.code).toBe(SpanStatusCode.ERROR);
      expect(failed.attributes).toMatchObject({ 'db.response.status_code': '22012', 'error.type': '22012' });
      expect(failed.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
      // A query outside any span is a root.
      await pool.query('select 2').execute();
      expect(exporter.getFinishedSpans().at(-1)!.parentSpanContext).toBeUndefined();
      // Metrics: the operation histogram, the pool's connections.
      const durations = await metric('db.client.operation.duration');
      expect(durations.length).toBeGreaterThan(0);
      expect(durations.some((p) => (p.attributes as Record<string, unknown>)['db.response.status_code'] === '22012')).toBe(true);
      const counts = await metric('db.client.connection.count');
      const mine = counts.filter((p) => p.attributes['db.client.connection.pool.name'] === 'otel-test');
      expect(mine.map((p) => p.attributes['db.client.connection.state']).sort()).toEqual(['idle', 'used']);
      const max = (await metric('db.client.connection.max')).find((p) => p.attributes['db.client.connection.pool.name'] === 'otel-test');
      expect(max?.value).toBe(2);
      // A transaction: the wait for its connection and how long it was held.
      await pool.transaction((tx) => tx.query('select 1').execute());
      const waited = await metric('db.client.connection.wait_time');
      const used = await metric('db.client.connection.use_time');
      expect((waited[0]?.value as { count: number }).count).toBeGreaterThan(0);
      expect((used[0]?.value as { count: number }).count).toBeGreaterThan(0);
      // disable(): nothing more.
      otel.disable();
      const before = exporter.getFinishedSpans().length;
      await pool.query('select 3').execute();
      expect(exporter.getFinishedSpans()).toHaveLength(before);
    } finally {
      otel.disable();
      await pool.close();
    }
  });

  it('parameters become attributes only with traceParams', async () => {
    const otel = instrument({ tracerProvider, meterProvider });
    const pool = newPool({ max: 1, traceParams: true });
    try {
      exporter.reset();
      await pool.query('select $1::text as a, $2::int as b', ['x', null]).execute();
      const span = exporter.getFinishedSpans()[0];
      expect(span.attributes['db.query.parameter.0']).toBe('x');
      expect(span.attributes['db.query.parameter.1']).toBe('NULL');
    } finally {
      otel.disable();
      await pool.close();
    }
    void trace;
  });
});
