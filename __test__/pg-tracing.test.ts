// The channels of node-postgres' pull request #3650, on pgwarp/pg: subscribers written for pg
// see the same names and context shapes.
import { channel, tracingChannel } from 'node:diagnostics_channel';

import { afterEach, describe, expect, it } from 'vitest';

import { databaseUrl } from './helpers';
import { driverName, pg } from './pg-driver';

/** pg's Client has `processID`; @types/pg does not say so. */
const pid = (c: object) => (c as { processID: number | null }).processID;

type Event = { channel: string; event: string; ctx: Record<string, unknown> };
const subscriptions: (() => void)[] = [];
afterEach(() => {
  for (const s of subscriptions.splice(0)) s();
});

function watch(): Event[] {
  const seen: Event[] = [];
  for (const name of ['pg:query', 'pg:connection', 'pg:pool:connect']) {
    const copy = (event: string) => (ctx: unknown) => seen.push({ channel: name, event, ctx: { ...(ctx as Record<string, unknown>) } });
    const handlers = { start: copy('start'), end: copy('end'), asyncStart: copy('asyncStart'), asyncEnd: copy('asyncEnd'), error: copy('error') };
    tracingChannel(name).subscribe(handlers);
    subscriptions.push(() => tracingChannel(name).unsubscribe(handlers));
  }
  for (const name of ['pg:pool:release', 'pg:pool:remove']) {
    const handler = (ctx: unknown) => seen.push({ channel: name, event: 'publish', ctx: { ...(ctx as Record<string, unknown>) } });
    channel(name).subscribe(handler);
    subscriptions.push(() => channel(name).unsubscribe(handler));
  }
  return seen;
}

describe.runIf(driverName === 'pgwarp/pg')('pg-style tracing channels in pgwarp/pg', () => {
  it('a Client: pg:connection on connect, pg:query with the text and the client, the result or the error', async () => {
    const seen = watch();
    const client = new pg.Client(databaseUrl);
    await client.connect();
    const conn = seen.filter((e) => e.channel === 'pg:connection');
    expect(conn.map((e) => e.event)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
    expect(conn[0].ctx.connection).toMatchObject({ host: client.host, port: client.port, database: client.database, user: client.user, ssl: false });
    seen.length = 0;
    await client.query({ text: 'select $1::int as v', values: [3], name: 'traced' });
    const q = seen.filter((e) => e.channel === 'pg:query');
    expect(q.map((e) => e.event)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
    expect(q[0].ctx.query).toEqual({ text: 'select $1::int as v', name: 'traced' });
    expect(q[0].ctx.client).toMatchObject({ database: client.database, host: client.host, port: client.port, user: client.user, processID: pid(client), ssl: false });
    expect(q[3].ctx.result).toMatchObject({ rowCount: 1, command: 'SELECT' });
    expect(JSON.stringify(q[0].ctx)).not.toContain('values');
    seen.length = 0;
    await expect(client.query('select 1 / 0')).rejects.toThrow(/division by zero/);
    const err = seen.find((e) => e.channel === 'pg:query' && e.event === 'error');
    expect((err?.ctx.error as { code?: string }).code).toBe('22012');
    await client.end();
  });

  it('a Pool: pg:pool:connect with the pool and the client, pg:pool:release, pg:pool:remove, pg:query for pool.query', async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 3 });
    const seen = watch();
    const client = await pool.connect();
    const connect = seen.filter((e) => e.channel === 'pg:pool:connect');
    expect(connect.map((e) => e.event)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
    expect(connect[0].ctx.pool).toEqual({ totalCount: 0, idleCount: 0, waitingCount: 0, maxSize: 3 });
    expect(connect[3].ctx.client).toEqual({ processID: pid(client), reused: false });
    client.release();
    expect(seen.filter((e) => e.channel === 'pg:pool:release').map((e) => e.ctx)).toEqual([{ client: { processID: pid(client) }, error: undefined }]);
    const again = await pool.connect();
    expect(seen.filter((e) => e.channel === 'pg:pool:connect').at(-1)?.ctx.client).toEqual({ processID: pid(again), reused: pid(again) === pid(client) });
    again.release(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(seen.filter((e) => e.channel === 'pg:pool:remove').map((e) => e.ctx)).toEqual([{ client: { processID: pid(again) } }]);
    seen.length = 0;
    expect((await pool.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    const q = seen.filter((e) => e.channel === 'pg:query');
    expect(q[0].ctx.query).toMatchObject({ text: 'select 1 as one' });
    expect(q.at(-1)?.ctx.result).toMatchObject({ rowCount: 1, command: 'SELECT' });
    await pool.end();
  });
});
