// Tracing: the pgwarp:query TracingChannel, and the slow-query log.
import { tracingChannel } from 'node:diagnostics_channel';

import { afterEach, describe, expect, it } from 'vitest';

import { PostgresError } from '../src';
import type { QueryTraceContext } from '../src/tracing/tracing';
import { closedPort, databaseUrl, newPool } from './helpers';

type Seen = { event: string; ctx: QueryTraceContext };

function subscribe(): { seen: Seen[]; stop: () => void } {
  const seen: Seen[] = [];
  const copy = (event: string) => (ctx: unknown) => seen.push({ event, ctx: { ...(ctx as QueryTraceContext) } });
  const handlers = { start: copy('start'), end: copy('end'), asyncStart: copy('asyncStart'), asyncEnd: copy('asyncEnd'), error: copy('error') };
  const channel = tracingChannel('pgwarp:query');
  channel.subscribe(handlers);
  return { seen, stop: () => channel.unsubscribe(handlers) };
}

const stops: (() => void)[] = [];
afterEach(() => {
  for (const s of stops.splice(0)) s();
});

describe('the pgwarp:query channel', () => {
  it('a query: start with the SQL, database, user and host; asyncEnd with the command and row count', async () => {
    const pool = newPool({ max: 1, applicationName: 'traced-app' });
    const url = new URL(databaseUrl);
    const { seen, stop } = subscribe();
    stops.push(stop);
    expect(await pool.query('select $1::int as v', [7]).scalar()).toBe(7);
    const events = seen.map((s) => s.event);
    expect(events).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
    const start = seen[0].ctx;
    expect(start).toMatchObject({ sql: 'select $1::int as v', operation: 'query', database: url.pathname.slice(1) || 'postgres', user: decodeURIComponent(url.username) || 'postgres', applicationName: 'traced-app' });
    expect(start.params).toBeUndefined();
    expect(start.host).toBeDefined();
    expect(start.port).toBeGreaterThan(0);
    expect(seen[3].ctx).toMatchObject({ command: 'SELECT', rowCount: 1 });
    await pool.close();
  });

  it('a failing query: error with the PostgresError; params only with traceParams', async () => {
    const pool = newPool({ max: 1, traceParams: true });
    const { seen, stop } = subscribe();
    stops.push(stop);
    await expect(pool.query('select 1 / $1::int', [0]).all()).rejects.toBeInstanceOf(PostgresError);
    const error = seen.find((s) => s.event === 'error');
    expect(error?.ctx.error).toBeInstanceOf(PostgresError);
    expect((error?.ctx.error as PostgresError).code).toBe('22012');
    expect(error?.ctx.params).toEqual([0]);
    // Statements inside a transaction are traced too.
    seen.length = 0;
    await pool.transaction((tx) => tx.query('select 2 as two').execute());
    expect(seen.filter((s) => s.event === 'start').map((s) => s.ctx.sql)).toContain('select 2 as two');
    await pool.close();
  });

  it('nothing is published without a subscriber, and unsubscribing stops it', async () => {
    const pool = newPool({ max: 1 });
    const { seen, stop } = subscribe();
    stop();
    await pool.query('select 1').execute();
    expect(seen).toEqual([]);
    expect(tracingChannel('pgwarp:query').hasSubscribers).toBe(false);
    await pool.close();
  });
});

describe('the slow-query log', () => {
  it('hears of statements from slowQueryMs on, failed or not; a logger that throws is ignored', async () => {
    const events: unknown[] = [];
    const pool = newPool({ max: 1, slowQueryMs: 100, log: (e) => events.push(e) });
    await pool.query('select 1').execute();
    expect(events).toEqual([]);
    await pool.query('select pg_sleep(0.15)').execute();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: 'slow-query', sql: 'select pg_sleep(0.15)', command: 'SELECT', rowCount: 1 });
    expect((events[0] as { durationMs: number }).durationMs).toBeGreaterThanOrEqual(100);
    await expect(pool.query("do $$ begin perform pg_sleep(0.15); raise exception 'slow failure'; end $$").execute()).rejects.toThrow(/slow failure/);
    expect(events[1]).toMatchObject({ kind: 'slow-query', error: expect.any(PostgresError) });
    const throwing = newPool({ max: 1, slowQueryMs: 0, log: () => { throw new Error('logger down'); } });
    expect(await throwing.query('select 5 as v').scalar()).toBe(5);
    expect(() => newPool({ slowQueryMs: -1 })).toThrow(/slowQueryMs must be/);
    expect(() => newPool({ log: 'console' as never })).toThrow(/log must be a function/);
    await Promise.all([pool.close(), throwing.close()]);
  });
});

describe('pgwarp:connect and pgwarp:acquire, and what stats() adds', () => {
  it('a new connection: its host, TLS and duration; a failed one: the error', async () => {
    const seen: { event: string; ctx: Record<string, unknown> }[] = [];
    const copy = (event: string) => (ctx: unknown) => seen.push({ event, ctx: { ...(ctx as Record<string, unknown>) } });
    const handlers = { start: copy('start'), end: copy('end'), asyncStart: copy('asyncStart'), asyncEnd: copy('asyncEnd'), error: copy('error') };
    tracingChannel('pgwarp:connect').subscribe(handlers);
    stops.push(() => tracingChannel('pgwarp:connect').unsubscribe(handlers));
    const pool = newPool({ max: 1 });
    await pool.query('select 1').execute();
    await new Promise((r) => setTimeout(r, 20));
    expect(seen.map((s) => s.event)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
    expect(seen[0].ctx).toMatchObject({ tls: false, host: expect.any(String), port: expect.any(Number) });
    expect(seen[0].ctx.durationMs).toBeGreaterThan(0);
    expect(pool.stats().opened).toEqual({ tls: 0, plain: 1 });
    await pool.close();
    seen.length = 0;
    const port = await closedPort();
    const down = newPool({ host: '127.0.0.1', port, max: 1, connectTimeout: 1000 });
    await expect(down.query('select 1').execute()).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 20));
    const error = seen.find((s) => s.event === 'error');
    expect(String(error?.ctx.error)).toMatch(/refused/i);
    await down.close();
  });

  it('a caller that waited for a connection: pgwarp:acquire with the wait; stats() counts waits, query times, TLS and plaintext', async () => {
    const waits: number[] = [];
    const handlers = { start: () => {}, end: () => {}, asyncStart: () => {}, error: () => {}, asyncEnd: (ctx: unknown) => waits.push((ctx as { durationMs: number }).durationMs) };
    tracingChannel('pgwarp:acquire').subscribe(handlers);
    stops.push(() => tracingChannel('pgwarp:acquire').unsubscribe(handlers));
    const pool = newPool({ max: 1 });
    const held = await pool.reserve();
    await held.query('select 1').execute();
    const second = pool.query('select 2 as v').scalar();
    await new Promise((r) => setTimeout(r, 150));
    await held.release();
    expect(await second).toBe(2);
    await new Promise((r) => setTimeout(r, 20));
    // The reservation found a connection free (a wait of 0 is told for reservations); the
    // pool query waited for it.
    expect(waits).toHaveLength(2);
    expect(waits[0]).toBeLessThan(50);
    expect(waits[1]).toBeGreaterThanOrEqual(100);
    for (let i = 0; i < 20; i++) await pool.query('select 1').execute();
    const s = pool.stats();
    expect(s.acquireWait.count).toBe(1);
    expect(s.acquireWait.maxMs).toBeGreaterThanOrEqual(100);
    expect(s.acquireWait.totalMs).toBe(s.acquireWait.maxMs);
    expect(s.queryTimeMs.count).toBe(s.counters.queries);
    expect(s.queryTimeMs.p50).toBeGreaterThan(0);
    expect(s.queryTimeMs.p99).toBeGreaterThanOrEqual(s.queryTimeMs.p50);
    // The query that waited 150 ms is the slowest: the top bucket bounds it.
    expect(s.queryTimeMs.p99).toBeLessThan(1000);
    await pool.close();
  });
});

describe('scripts and COPY', () => {
  it('are traced with their operation, and a script with its statement count', async () => {
    const pool = newPool({ max: 1 });
    const { seen, stop } = subscribe();
    stops.push(stop);
    await pool.exec('create temp table traced_copy (a int, b int, c int); select 1; select 2');
    const script = seen.find((s) => s.event === 'asyncEnd' && s.ctx.operation === 'script');
    expect(script?.ctx).toMatchObject({ batchSize: 3, command: 'SELECT' });
    const t = `traced_${process.pid}`;
    await pool.query(`create table ${t} (a int, b int, c int)`).execute();
    seen.length = 0;
    expect(await pool.copyRows(t, ['a', 'b', 'c'], [[1, 2, 3], [4, 5, 6]])).toBe(2);
    expect(await pool.copyIn(`copy ${t} from stdin`, ['7\t8\t9\n'])).toBe(1);
    const copies = seen.filter((s) => s.event === 'asyncEnd' && s.ctx.operation === 'copy').map((s) => [s.ctx.command, s.ctx.rowCount]);
    expect(copies).toEqual([
      ['COPY', 2],
      ['COPY', 1],
    ]);
    seen.length = 0;
    const chunks: Buffer[] = [];
    for await (const chunk of pool.copyOut(`copy ${t} to stdout`)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString().split('\n').filter(Boolean)).toHaveLength(3);
    await new Promise((r) => setImmediate(r));
    expect(seen.filter((s) => s.event === 'asyncEnd' && s.ctx.operation === 'copy').map((s) => [s.ctx.command, s.ctx.rowCount])).toEqual([['COPY', 3]]);
    await pool.query(`drop table ${t}`).execute();
    await pool.close();
  });
});

describe('streams', () => {
  it('one traced call from the first row to the end, with the rows received; a loop left early ends it too', async () => {
    const pool = newPool({ max: 1 });
    const { seen, stop } = subscribe();
    stops.push(stop);
    let n = 0;
    for await (const _ of pool.query('select generate_series(1, 2500) as i').stream({ batchSize: 1000 })) n++;
    expect(n).toBe(2500);
    const tick = () => new Promise((r) => setImmediate(r));
    await tick();
    const done = seen.filter((s) => s.ctx.operation === 'stream').map((s) => s.event);
    expect(done).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
    expect(seen.find((s) => s.event === 'asyncEnd')?.ctx).toMatchObject({ command: 'SELECT', rowCount: 2500 });
    seen.length = 0;
    for await (const _ of pool.query('select generate_series(1, 5000) as i').stream({ batchSize: 100 })) break;
    await tick();
    expect(seen.filter((s) => s.ctx.operation === 'stream').map((s) => s.event)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
    seen.length = 0;
    await expect(
      (async () => {
        for await (const _ of pool.query('select 1 / (i - 3) from generate_series(1, 5) as i').stream()) void _;
      })(),
    ).rejects.toThrow(/division by zero/);
    await tick();
    expect(seen.some((s) => s.event === 'error' && s.ctx.operation === 'stream')).toBe(true);
    await pool.close();
  });
});
