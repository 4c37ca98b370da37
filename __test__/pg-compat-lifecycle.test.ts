// What node-postgres' own suite found pgwarp/pg doing differently from pg, as tests of this
// project written from pg's documentation and behaviour: 'drain', the transaction status,
// named statements, timeouts as pg sends them, defaults, the Promise option, secrets kept out
// of logs, end() during a query, pg-pool driving pgwarp/pg's Client, a proxy that sends what
// no query asked for, and an idle pooled connection that dies. Each also runs against
// node-postgres itself with PGWARP_PG_DRIVER=pg.
import { createRequire } from 'node:module';
import net from 'node:net';
import * as path from 'node:path';
import util from 'node:util';

import { describe, expect, it } from 'vitest';

import { closedPort, databaseUrl, newPool, tableName } from './helpers';
import { connect, driverName, newClient, pg } from './pg-driver';

const require = createRequire(__filename);
const PgPool = require(path.join(__dirname, '..', 'node_modules', 'pg-pool'));
const admin = newPool({ max: 1 });

describe('a Client as pg has it', () => {
  it("emits 'drain' once its queue is empty, after the last callback", async () => {
    const client = await connect();
    const order: string[] = [];
    const drained = new Promise<void>((resolve) => client.once('drain', () => (order.push('drain'), resolve())));
    client.query('select 1', () => order.push('one'));
    client.query('select 2', () => order.push('two'));
    await drained;
    expect(order).toEqual(['one', 'two', 'drain']);
  });

  it('getTransactionStatus() says what the server last said: I, T, E', async () => {
    const client = await connect();
    expect(client.getTransactionStatus()).toBe('I');
    await client.query('begin');
    expect(client.getTransactionStatus()).toBe('T');
    await client.query('select 1/0').catch(() => {});
    expect(client.getTransactionStatus()).toBe('E');
    await client.query('rollback');
    expect(client.getTransactionStatus()).toBe('I');
  });

  it('a named statement runs again by its name alone, also right behind its first use', async () => {
    const client = await connect();
    const first = client.query({ name: 'plus-one', text: 'select $1::int + 1 as n', values: [1] });
    const again = client.query({ name: 'plus-one', values: [41] } as unknown as { text: string; values: number[] });
    expect([(await first).rows, (await again).rows]).toEqual([[{ n: 2 }], [{ n: 42 }]]);
    await expect(client.query({ name: 'plus-one', text: 'select 2', values: [] })).rejects.toThrow("Prepared statements must be unique - 'plus-one' was used for a different statement");
    // One that fails is forgotten: its name may come back with another text.
    await expect(client.query({ name: 'broken', text: 'selec 1', values: [] })).rejects.toMatchObject({ code: '42601' });
    expect((await client.query({ name: 'broken', text: 'select 3 as n', values: [] })).rows).toEqual([{ n: 3 }]);
  });

  it('statement_timeout and idle_in_transaction_session_timeout go as pg sends them: whole milliseconds', async () => {
    const client = await connect({ connectionString: databaseUrl, statement_timeout: 3000.7, idle_in_transaction_session_timeout: '4000' } as never);
    const { rows } = await client.query("select current_setting('statement_timeout') as s, current_setting('idle_in_transaction_session_timeout') as i");
    expect(rows).toEqual([{ s: '3s', i: '4s' }]);
  });

  it('takes defaults.database, and returns promises of the Promise option', async () => {
    const before = pg.defaults.database;
    pg.defaults.database = 'from-defaults';
    try {
      expect(new pg.Client({ user: 'someone' }).database).toBe('from-defaults');
    } finally {
      pg.defaults.database = before;
    }
    class Marked<T> extends Promise<T> {}
    const client = newClient({ connectionString: databaseUrl, Promise: Marked } as never);
    const connected = client.connect();
    expect(connected).toBeInstanceOf(Marked);
    await connected;
    expect(client.query('select 1')).toBeInstanceOf(Marked);
  });

  it('keeps the password and the TLS key out of util.inspect and JSON, but readable', () => {
    const secret = 'SECRET-NOT-IN-LOGS';
    const client = new pg.Client({ password: secret, ssl: { key: secret, rejectUnauthorized: false } });
    const pool = new pg.Pool({ password: secret, ssl: { key: secret, rejectUnauthorized: false } });
    for (const o of [client, pool]) {
      expect(util.inspect(o, { depth: 20 })).not.toContain(secret);
      expect(JSON.stringify(o)).not.toContain(secret);
    }
    expect((client as unknown as { connectionParameters: { ssl: { key: string } } }).connectionParameters.ssl.key).toBe(secret);
    expect((pool.options as { ssl: { key: string }; password: string }).password).toBe(secret);
    expect(Object.keys(pg)).not.toContain('native');
  });

  it('notices are plain objects with the server fields, not Errors', async () => {
    const client = await connect();
    const notice = new Promise<Record<string, unknown>>((resolve) => client.once('notice', resolve));
    await client.query("do $$ begin raise notice 'hello' using detail = 'a test'; end $$");
    const n = await notice;
    expect(n).not.toBeInstanceOf(Error);
    expect(n).toMatchObject({ name: 'notice', message: 'hello', detail: 'a test', severity: 'NOTICE' });
  });

  it('end() during a query: the query fails, end() resolves', async () => {
    const client = await connect();
    const running = client.query('select pg_sleep(5)').then(
      () => 'resolved',
      (e: Error) => e.message,
    );
    await new Promise((r) => setTimeout(r, 50));
    await client.end();
    expect(await running).toMatch(/Connection terminated/);
  });

  it('a per-query query_timeout', async () => {
    const client = await connect();
    await expect(client.query({ text: 'select pg_sleep(5)', query_timeout: 100 } as never)).rejects.toThrow('Query read timeout');
    expect((await client.query('select 1 as x')).rows).toEqual([{ x: 1 }]);
  });

  it('pool.connect() with a callback passes a release function with an error too', async () => {
    const port = await closedPort();
    const pool = new pg.Pool({ host: '127.0.0.1', port, user: 'x' });
    const args = await new Promise<unknown[]>((resolve) => pool.connect((...a: unknown[]) => resolve(a)));
    expect(args[0]).toBeInstanceOf(Error);
    expect(typeof args[2]).toBe('function');
    await pool.end();
  });
});

describe("pg-pool (node-postgres' pool) driving the Client", () => {
  it('checks Clients out and in, counts them, and removes idle ones after idleTimeoutMillis', async () => {
    const pool = new PgPool({ Client: pg.Client, connectionString: databaseUrl, max: 2, idleTimeoutMillis: 100 });
    const client = await pool.connect();
    expect((await client.query('select 1 as x')).rows).toEqual([{ x: 1 }]);
    client.release();
    expect([pool.totalCount, pool.idleCount]).toEqual([1, 1]);
    const again = await pool.connect();
    expect(again).toBe(client);
    again.release();
    await new Promise((r) => setTimeout(r, 300));
    expect(pool.totalCount).toBe(0);
    await pool.end();
  });

  it('connectionTimeoutMillis on a server that never answers: the checkout fails with a timeout', async () => {
    const silent = net.createServer((s) => s.on('data', () => {}));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const pool = new PgPool({ Client: pg.Client, host: '127.0.0.1', port, user: 'x', connectionTimeoutMillis: 50 });
      await expect(pool.connect()).rejects.toThrow(/timeout/);
      expect(pool.idleCount).toBe(0);
      await pool.end();
    } finally {
      silent.close();
    }
  });
});

describe('idle clients, as pg-pool keeps them', () => {
  it('a released client is idle and the next connect() hands out the same one', async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    const client = await pool.connect();
    await client.query('select 1');
    client.release();
    expect([pool.totalCount, pool.idleCount]).toEqual([1, 1]);
    const again = await pool.connect();
    expect(again).toBe(client);
    expect((await again.query('select 2 as x')).rows).toEqual([{ x: 2 }]);
    again.release();
    await pool.end();
  });

  it('a connect() waiting while every connection is out gets the next one released', async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    const first = await pool.connect();
    const waiting = pool.connect();
    await new Promise((r) => setTimeout(r, 20));
    first.release();
    const second = await waiting;
    expect((await second.query('select 1 as x')).rows).toEqual([{ x: 1 }]);
    second.release();
    await pool.end();
  });

  it('pool.query() and a script run while the only connection sits idle in the pool', async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    const client = await pool.connect();
    client.release();
    expect((await pool.query('select 1 as x')).rows).toEqual([{ x: 1 }]);
    expect(Array.isArray(await pool.query('select 1; select 2'))).toBe(true);
    const again = await pool.connect();
    again.release();
    await pool.end();
  });

  it("an idle client whose backend ends: the pool's 'error' listeners hear it, and the next connect() works", async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    const errors: Error[] = [];
    pool.on('error', (e: Error) => errors.push(e));
    const client = await pool.connect();
    const pid = (await client.query('select pg_backend_pid() as pid')).rows[0].pid;
    client.release();
    const admin = new pg.Client(databaseUrl);
    await admin.connect();
    await admin.query('select pg_terminate_backend($1)', [pid]);
    await admin.end();
    for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(errors.length).toBe(1);
    const next = await pool.connect();
    const row = (await next.query('select pg_backend_pid() as pid')).rows[0];
    expect(row.pid).not.toBe(pid);
    next.release();
    await pool.end();
  });
});

describe('BEGIN on a checked-out client (pgwarp/pg answers it with the next statement)', () => {
  it('the transaction holds what follows: ROLLBACK undoes it, COMMIT keeps it, and the isolation level given applies', async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    const t = tableName('lazy_begin');
    await pool.query(`create table ${t} (id int)`);
    const client = await pool.connect();
    await client.query('BEGIN');
    await client.query(`insert into ${t} values (1)`);
    await client.query('ROLLBACK');
    await client.query('begin isolation level serializable, read write');
    expect((await client.query('show transaction_isolation')).rows[0].transaction_isolation).toBe('serializable');
    await client.query(`insert into ${t} values (2)`);
    await client.query('COMMIT');
    expect((await client.query(`select array_agg(id) as ids from ${t}`)).rows[0].ids).toEqual([2]);
    client.release();
    await pool.query(`drop table ${t}`);
    await pool.end();
  });

  it('a statement that fails right after BEGIN gets its own error, and the transaction is failed', async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    const client = await pool.connect();
    await client.query('begin');
    await expect(client.query('select 1/0')).rejects.toMatchObject({ code: '22012' });
    await expect(client.query('select 1')).rejects.toMatchObject({ code: '25P02' });
    await client.query('rollback');
    expect((await client.query('select 1 as x')).rows).toEqual([{ x: 1 }]);
    client.release();
    await pool.end();
  });

  it('a BEGIN with nothing after it, released: the next holder is not in a transaction', async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    const client = await pool.connect();
    await client.query('START TRANSACTION');
    client.release();
    const next = await pool.connect();
    // SAVEPOINT is refused outside a transaction block. (pg hands the open transaction on.)
    if (driverName === 'pgwarp/pg') await expect(next.query('savepoint inside')).rejects.toMatchObject({ code: '25P01' });
    else await next.query('rollback');
    next.release();
    await pool.end();
  });
});

describe('a socket destroyed while connecting', () => {
  it("pg-pool's connect timeout while a slow connect() is still queued: the waiter gets the timeout, the late Client serves the pool", async () => {
    // pg-pool destroys the socket of a Client whose connect() has not even begun (a subclass
    // that awaits something first); as with pg, that Client still connects when it does begin.
    let calls = 0;
    class SlowClient extends pg.Client {
      // pg-pool calls connect(callback).
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      override connect(callback?: any): any {
        const real = () => (super.connect as (cb?: (err: Error | null) => void) => void).call(this, callback);
        if (calls++ === 0) setTimeout(real, 300);
        else real();
        return undefined;
      }
    }
    const pool = new PgPool({ Client: SlowClient as never, connectionString: databaseUrl, connectionTimeoutMillis: 100, max: 1 });
    const first = pool.connect();
    const queued = pool.connect();
    await expect(queued).rejects.toThrow(/timeout/);
    const client = await first;
    expect((await client.query('select 1 as x')).rows).toEqual([{ x: 1 }]);
    client.release();
    expect(pool.totalCount).toBe(1);
    expect((await pool.query('select 2 as x')).rows).toEqual([{ x: 2 }]);
    await pool.end();
  });

  it('a socket destroyed while connect() runs: connect() fails, and the pool that held it can end', async () => {
    class DestroyedClient extends pg.Client {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      override connect(callback?: any): any {
        (super.connect as (cb?: (err: Error | null) => void) => void).call(this, callback);
        (this as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
        return undefined;
      }
    }
    const pool = new PgPool({ Client: DestroyedClient as never, connectionString: databaseUrl });
    await expect(pool.connect()).rejects.toThrow(/Connection terminated/);
    expect(pool.totalCount).toBe(0);
    await pool.end();
  });
});

describe('connections that end on their own', () => {
  it('a server (or proxy) that sends what no query asked for: the client says so and is not queryable', async () => {
    // A fake server that answers a query, then sends a stray ReadyForQuery.
    const frame = (code: string, body: Buffer) => {
      const b = Buffer.alloc(5 + body.length);
      b.write(code, 0);
      b.writeUInt32BE(4 + body.length, 1);
      body.copy(b, 5);
      return b;
    };
    const ready = frame('Z', Buffer.from('I'));
    const server = net.createServer((socket) => {
      socket.on('data', (data) => {
        if (data.length === 8) return void socket.write('N');
        if (data[0] === 0) return void socket.write(Buffer.concat([frame('R', Buffer.alloc(4)), ready]));
        // An extended query (Parse ...) or a simple one (Q): one answer, then a stray message.
        const first = String.fromCharCode(data[0]);
        const answer = first === 'P' ? [frame('1', Buffer.alloc(0)), frame('2', Buffer.alloc(0)), frame('T', Buffer.alloc(2)), frame('D', Buffer.alloc(2)), frame('C', Buffer.from('SELECT 1\0')), ready] : [frame('T', Buffer.alloc(2)), frame('D', Buffer.alloc(2)), frame('C', Buffer.from('SELECT 1\0')), ready];
        socket.write(Buffer.concat(answer));
        setImmediate(() => socket.write(frame('C', Buffer.from('stray\0'))));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const client = newClient({ host: '127.0.0.1', port, user: 'x', database: 'y' });
      const errors: Error[] = [];
      client.on('error', (e: Error) => errors.push(e));
      await client.connect();
      await client.query('select $1', ['a']);
      await new Promise((r) => setTimeout(r, 100));
      expect(errors.length).toBeGreaterThan(0);
      await expect(client.query('select 1')).rejects.toThrow('Client has encountered a connection error and is not queryable');
      await client.end().catch(() => {});
    } finally {
      server.close();
    }
  });

  it("an idle pooled connection whose backend is terminated: the pool's 'error' listeners hear it, and it is not counted", async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    const errors: Error[] = [];
    pool.on('error', (e: Error) => errors.push(e));
    const pid = (await pool.query('select pg_backend_pid() as pid')).rows[0].pid;
    await admin.query('select pg_terminate_backend($1)', [pid]).execute();
    for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(errors.length).toBe(1);
    expect((errors[0] as Error & { code?: string }).code).toBe('57P01');
    expect(pool.totalCount).toBe(0);
    expect((await pool.query('select 1 as x')).rows).toEqual([{ x: 1 }]);
    await pool.end();
  });

  it('type parsers set through require("pg-types") apply, as pg and pg-types share one registry', async () => {
    const types = require('pg-types');
    const before = types.getTypeParser(1700, 'text');
    types.setTypeParser(1700, 'text', (v: string) => `numeric:${v}`);
    try {
      const client = await connect();
      for (let i = 0; i < 2; i++) expect((await client.query('select 1.5::numeric as n')).rows).toEqual([{ n: 'numeric:1.5' }]);
    } finally {
      types.setTypeParser(1700, 'text', before);
    }
  });
});
