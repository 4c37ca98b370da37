// Tracing: the pgwarp:query TracingChannel, and the slow-query log.
import { tracingChannel } from 'node:diagnostics_channel';

import { afterEach, describe, expect, it } from 'vitest';

import { PostgresError } from '../src';
import type { QueryTraceContext } from '../src/tracing';
import { databaseUrl, newPool } from './helpers';

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
