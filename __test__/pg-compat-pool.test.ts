// node-postgres compatibility: pg.Pool (pg-pool) — checkout and release, counts, events,
// timeouts, errors of idle clients, and ending the pool.
import net from 'node:net';

import { afterAll, describe, expect, it } from 'vitest';

import { closedPort, databaseUrl } from './helpers';
import { pg, driverName } from './pg-driver';
import { wireSpy } from './wire-spy';

type Pool = InstanceType<typeof pg.Pool>;
type PoolClient = import('pg').PoolClient;

const pools: Pool[] = [];
function newPool(options: ConstructorParameters<typeof pg.Pool>[0] = {}): Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, ...options });
  pools.push(pool);
  return pool;
}
const admin = new pg.Client(databaseUrl);
const adminReady = admin.connect();
afterAll(async () => {
  await Promise.all(pools.filter((p) => !p.ending).map((p) => p.end()));
  await admin.end();
});

const pidOf = (client: unknown) => (client as { processID: number }).processID;
async function terminate(pid: number) {
  await adminReady;
  await admin.query('select pg_terminate_backend($1)', [pid]);
}
function once<T extends unknown[]>(emitter: NodeJS.EventEmitter, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, (...args: unknown[]) => resolve(args as T)));
}

describe('processID', () => {
  it('is the backend pid of each checkout, with no query to find it', async () => {
    const spy = await wireSpy(databaseUrl);
    const pool = new pg.Pool({ connectionString: spy.url, max: 2 });
    try {
      const clients = [await pool.connect(), await pool.connect()];
      const pids = clients.map(pidOf);
      for (const c of clients) c.release();
      expect(spy.sent.filter((m) => m.type === 'Q' || m.type === 'P')).toEqual([]);
      const again = await pool.connect();
      expect(pids).toContain(pidOf(again));
      expect((await again.query('select pg_backend_pid() as pid')).rows[0].pid).toBe(pidOf(again));
      again.release();
      expect(new Set(pids).size).toBe(2);
    } finally {
      await pool.end();
      await spy.close();
    }
  });
});

describe('pg.Pool', () => {
  it('options: the given ones plus pg-pool defaults', () => {
    const pool = newPool({ max: 3 });
    expect(pool.options.max).toBe(3);
    expect(pool.options.connectionString).toBe(databaseUrl);
    // pg: the pool's idle timeout defaults to 10 s (pg.defaults says 30 s, but pg-pool uses its own).
    expect(pool.options.idleTimeoutMillis).toBe(10000);
    expect(newPool().options.max).toBe(10);
    expect([pool.totalCount, pool.idleCount, pool.waitingCount]).toEqual([0, 0, 0]);
    expect([pool.ending, pool.ended]).toEqual([false, false]);
  });

  it('connect() resolves to a client with release(); counts follow checkout and release', async () => {
    const pool = newPool({ max: 2 });
    const a = await pool.connect();
    expect(a).toBeInstanceOf(pg.Client);
    expect(typeof a.release).toBe('function');
    expect([pool.totalCount, pool.idleCount, pool.waitingCount]).toEqual([1, 0, 0]);
    expect((await a.query('select 1 as x')).rows).toEqual([{ x: 1 }]);
    a.release();
    expect([pool.totalCount, pool.idleCount]).toEqual([1, 1]);
    // The idle client is handed out again.
    const again = await pool.connect();
    expect(again).toBe(a);
    const b = await pool.connect();
    expect(b).not.toBe(a);
    expect([pool.totalCount, pool.idleCount]).toEqual([2, 0]);
    const waiting = pool.connect();
    expect(pool.waitingCount).toBe(1);
    b.release();
    expect(await waiting).toBe(b);
    expect(pool.waitingCount).toBe(0);
    again.release();
    b.release();
    expect([pool.totalCount, pool.idleCount]).toEqual([2, 2]);
  });

  it('connect(callback) gets (err, client, release)', async () => {
    const pool = newPool({ max: 1 });
    const [err, client, release] = await new Promise<[Error | undefined, PoolClient | undefined, (e?: unknown) => void]>((resolve) =>
      pool.connect((e, c, r) => resolve([e, c, r])),
    );
    expect(err).toBeFalsy();
    expect(client).toBeInstanceOf(pg.Client);
    expect(release).toBe(client!.release);
    release();
    expect(pool.idleCount).toBe(1);
  });

  it('releasing twice throws', async () => {
    const pool = newPool({ max: 1 });
    const client = await pool.connect();
    client.release();
    expect(() => client.release()).toThrow('Release called on client which has already been released to the pool.');
    expect([pool.totalCount, pool.idleCount]).toEqual([1, 1]);
  });

  it('release(true) and release(err) destroy the client: totalCount drops at once, remove follows', async () => {
    const pool = newPool({ max: 1 });
    for (const how of [true, new Error('broken')]) {
      const client = await pool.connect();
      const pid = pidOf(client);
      const removed = once<[PoolClient]>(pool, 'remove');
      client.release(how);
      expect([pool.totalCount, pool.idleCount]).toEqual([0, 0]);
      expect((await removed)[0]).toBe(client);
      const next = await pool.connect();
      expect(next).not.toBe(client);
      expect(pidOf(next)).not.toBe(pid);
      next.release();
    }
  });

  it('pool.query: promise and callback, config objects, and values', async () => {
    const pool = newPool({ max: 1 });
    expect((await pool.query('select $1::int as n', [4])).rows).toEqual([{ n: 4 }]);
    expect((await pool.query({ text: 'select $1::text as s', values: ['y'] })).rows).toEqual([{ s: 'y' }]);
    const viaCallback = await new Promise<unknown[]>((resolve, reject) =>
      pool.query('select 2 as w', (err, res) => (err ? reject(err) : resolve(res.rows))),
    );
    expect(viaCallback).toEqual([{ w: 2 }]);
    // pg: a function as the first argument is taken as the callback and gets an error.
    const misuse = await new Promise<Error>((resolve) => pool.query(((err: Error) => resolve(err)) as unknown as string));
    expect(misuse.message).toBe('Passing a function as the first parameter to pool.query is not supported');
  });

  it('a failing pool.query rejects with the server error and discards its client', async () => {
    const pool = newPool({ max: 1 });
    await pool.query('select 1');
    expect([pool.totalCount, pool.idleCount]).toEqual([1, 1]);
    const removed = once(pool, 'remove');
    const err = (await pool.query('select 1/0').catch((e: unknown) => e)) as InstanceType<typeof pg.DatabaseError>;
    expect(err).toBeInstanceOf(pg.DatabaseError);
    expect(err.code).toBe('22012');
    if (driverName === 'pg') {
      // pg: pool.query releases with the error, so the connection is closed, not reused.
      expect(pool.totalCount).toBe(0);
      await removed;
    } else {
      // pgwarp/pg: pool.query runs on the shared, pipelined connections, where one statement's
      // error is not the connection's: it stays (and the error leaves it usable).
      expect([pool.totalCount, pool.idleCount]).toEqual([1, 1]);
    }
    expect((await pool.query('select 1 as ok')).rows).toEqual([{ ok: 1 }]);
  });

  it('events: connect and acquire on checkout, release (err, client), remove', async () => {
    const pool = newPool({ max: 1 });
    const events: [string, unknown, unknown][] = [];
    for (const name of ['connect', 'acquire', 'release', 'remove']) {
      pool.on(name as 'connect', (...args: unknown[]) => events.push([name, ...args] as [string, unknown, unknown]));
    }
    const client = await pool.connect();
    client.release();
    const again = await pool.connect();
    const removed = once(pool, 'remove');
    again.release(true);
    await removed;
    expect(events.map((e) => e[0])).toEqual(['connect', 'acquire', 'release', 'acquire', 'release', 'remove']);
    expect(events[0][1]).toBe(client);
    expect(events[1][1]).toBe(client);
    // 'release' carries (err, client); err is what release() was given.
    expect(events[2][1]).toBeFalsy();
    expect(events[2][2]).toBe(client);
    expect(events[4][1]).toBe(true);
    expect(events[4][2]).toBe(client);
    expect(events[5][1]).toBe(client);
    events.length = 0;
    await pool.query('select 1');
    // pgwarp/pg: pool.query checks out nothing (it is pipelined on the shared connections), so
    // only the new connection's 'connect' shows.
    expect(events.map((e) => e[0])).toEqual(driverName === 'pg' ? ['connect', 'acquire', 'release'] : ['connect']);
  });

  // pgwarp/pg: the engine drops an idle connection that died without telling JavaScript (it is
  // never handed out), so there is no pool 'error' for it.
  it.runIf(driverName === 'pg')("an idle client's connection error is emitted as the pool's 'error' (err, client) and the client is removed", async () => {
    const pool = newPool({ max: 2 });
    const client = await pool.connect();
    const pid = pidOf(client);
    client.release();
    const errored = once<[InstanceType<typeof pg.DatabaseError>, PoolClient]>(pool, 'error');
    const removed = once<[PoolClient]>(pool, 'remove');
    await terminate(pid);
    const [err, which] = await errored;
    expect(which).toBe(client);
    expect(err).toBeInstanceOf(pg.DatabaseError);
    expect(err.code).toBe('57P01');
    expect(err.message).toBe('terminating connection due to administrator command');
    expect((await removed)[0]).toBe(client);
    expect([pool.totalCount, pool.idleCount]).toEqual([0, 0]);
    const fresh = await pool.query('select pg_backend_pid() as pid');
    expect(fresh.rows[0].pid).not.toBe(pid);
  });

  it('connectionTimeoutMillis: waiting for a busy pool fails with "timeout exceeded when trying to connect"', async () => {
    const pool = newPool({ max: 1, connectionTimeoutMillis: 100 });
    const held = await pool.connect();
    await expect(pool.connect()).rejects.toThrow('timeout exceeded when trying to connect');
    expect(pool.waitingCount).toBe(0);
    await expect(pool.query('select 1')).rejects.toThrow('timeout exceeded when trying to connect');
    held.release();
    expect((await pool.query('select 1 as ok')).rows).toEqual([{ ok: 1 }]);
  });

  it('connect errors reach the caller and leave no client behind', async () => {
    const port = await closedPort();
    const pool = newPool({ connectionString: undefined, host: '127.0.0.1', port });
    const err = (await pool.query('select 1').catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err.code).toBe('ECONNREFUSED');
    expect(pool.totalCount).toBe(0);
    const missing = newPool({ connectionString: `${databaseUrl.replace(/\/[^/]*$/, '')}/pgc_no_such_db` });
    const dbErr = (await missing.connect().catch((e: unknown) => e)) as InstanceType<typeof pg.DatabaseError>;
    expect(dbErr).toBeInstanceOf(pg.DatabaseError);
    expect(dbErr.code).toBe('3D000');
    expect(dbErr.message).toBe('database "pgc_no_such_db" does not exist');
    expect(missing.totalCount).toBe(0);
  });

  it('a new connection that does not answer in connectionTimeoutMillis fails', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const pool = newPool({ connectionString: undefined, host: '127.0.0.1', port: (silent.address() as net.AddressInfo).port, connectionTimeoutMillis: 100 });
      const err = (await pool.connect().catch((e: unknown) => e)) as Error;
      expect(err.message).toBe('Connection terminated due to connection timeout');
      expect(err.cause).toBeInstanceOf(Error);
      expect(pool.totalCount).toBe(0);
    } finally {
      sockets.forEach((s) => s.destroy());
      silent.close();
    }
  });

  it('maxUses retires a client after that many checkouts', async () => {
    const pool = newPool({ max: 1, maxUses: 2 });
    const first = await pool.connect();
    first.release();
    const second = await pool.connect();
    expect(second).toBe(first);
    const removed = once(pool, 'remove');
    second.release();
    expect(pool.totalCount).toBe(0);
    await removed;
    const third = await pool.connect();
    expect(third).not.toBe(first);
    third.release();
  });

  // pgwarp/pg: the engine closes idle connections itself, with no 'remove' event.
  it.runIf(driverName === 'pg')('idleTimeoutMillis closes idle clients', async () => {
    const pool = newPool({ max: 1, idleTimeoutMillis: 50 });
    const client = await pool.connect();
    const removed = once<[PoolClient]>(pool, 'remove');
    client.release();
    expect(pool.idleCount).toBe(1);
    expect((await removed)[0]).toBe(client);
    expect([pool.totalCount, pool.idleCount]).toEqual([0, 0]);
  });

  it('end(): waits for checked-out clients, then refuses use; a second end() rejects', async () => {
    const pool = newPool({ max: 2 });
    const held = await pool.connect();
    await pool.query('select 1');
    expect([pool.totalCount, pool.idleCount]).toEqual([2, 1]);
    let ended = false;
    const ending = pool.end().then(() => {
      ended = true;
    });
    expect([pool.ending, pool.ended]).toEqual([true, false]);
    await new Promise((r) => setTimeout(r, 50));
    expect(ended).toBe(false);
    // pg closes the idle client at once; pgwarp/pg's engine closes all of them together at the end.
    if (driverName === 'pg') expect(pool.totalCount).toBe(1);
    held.release();
    await ending;
    expect([pool.ending, pool.ended, pool.totalCount]).toEqual([true, true, 0]);
    await expect(pool.query('select 1')).rejects.toThrow('Cannot use a pool after calling end on the pool');
    await expect(pool.connect()).rejects.toThrow('Cannot use a pool after calling end on the pool');
    const viaCallback = await new Promise<Error | undefined>((resolve) => pool.connect((err) => resolve(err)));
    expect(viaCallback?.message).toBe('Cannot use a pool after calling end on the pool');
    await expect(pool.end()).rejects.toThrow('Called end on pool more than once');
  });
});
