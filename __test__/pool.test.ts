import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { ConnectionError, Pool, PoolClosedError, PoolTimeoutError, PostgresError, QueryTimeoutError } from '../src';
import { startPostgres, type PostgresServer } from '../src/testing';
import { databaseUrl, newPool, socketDir, tableName } from './helpers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a script in a fresh Node process with pgwarp's build; returns its output and time. */
function runScript(body: string) {
  const script = `const { Pool } = require(${JSON.stringify(path.resolve('dist/index.js'))});\nconst url = ${JSON.stringify(databaseUrl)};\n${body}`;
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['-e', script], { timeout: 20_000, encoding: 'utf8' });
  return { ...r, ms: Date.now() - t0 };
}

describe('completion bridge', () => {
  it('many queries issued in one tick all complete, and results stay apart', async () => {
    const pool = newPool({ max: 4 });
    const results = await Promise.all(Array.from({ length: 2000 }, (_, i) => pool.query<{ n: number; s: string }>('select $1::int as n, $2::text as s', [i, `v${i}`]).one()));
    results.forEach((r, i) => expect(r).toEqual({ n: i, s: `v${i}` }));
    expect(pool.stats()).toMatchObject({ inFlight: 0, waiting: 0 });
  });

  it('an idle pool does not keep the process alive, in-flight work does', () => {
    const idle = runScript(`const pool = new Pool(url); pool.query('select 1 as a').one().then((r) => console.log(JSON.stringify(r)));`);
    expect(idle.stderr).toBe('');
    expect(idle.stdout.trim()).toBe('{"a":1}');
    expect(idle.status).toBe(0);
    const busy = runScript(`const pool = new Pool(url); pool.query('select pg_sleep(0.3), 7 as a').one().then((r) => console.log(r.a));`);
    expect(busy.stdout.trim()).toBe('7');
    expect(busy.ms).toBeGreaterThanOrEqual(300);
  });
});

describe('pools dropped without close()', () => {
  it('are collected, and their engine threads end', () => {
    const script = `
      const { Pool } = require(${JSON.stringify(path.resolve('dist/index.js'))});
      const fs = require('fs');
      const shardThreads = () => fs.readdirSync('/proc/self/task').filter((t) => {
        try { return fs.readFileSync('/proc/self/task/' + t + '/comm', 'utf8').startsWith('pgwarp-shard'); } catch { return false; }
      }).length;
      (async () => {
        await (async () => {
          for (let i = 0; i < 3; i++) {
            const pool = new Pool(${JSON.stringify(databaseUrl)}, { shards: 2 });
            await pool.query('select 1').all();
          }
        })();
        const before = shardThreads();
        for (let i = 0; i < 100 && shardThreads() > 0; i++) { global.gc(); await new Promise((r) => setTimeout(r, 50)); }
        console.log(before + ' ' + shardThreads());
      })();`;
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { timeout: 30_000, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('6 0');
  });
});

describe('shards', () => {
  it('spread queries over every shard by load', async () => {
    const pool = newPool({ shards: 2, max: 4 });
    await Promise.all(Array.from({ length: 400 }, (_, i) => pool.query('select $1::int', [i]).scalar()));
    const stats = pool.stats();
    expect(stats.shards).toHaveLength(2);
    for (const s of stats.shards) expect(s.counters.queries).toBeGreaterThan(0);
    expect(stats.counters.queries).toBe(400);
    expect(stats.connections.total).toBeLessThanOrEqual(4);
  });

  it("'auto' makes one shard per CPU (at most max)", () => {
    const pool = newPool({ shards: 'auto', max: 64 });
    expect(pool.stats().shards.length).toBe(Math.min(64, os.availableParallelism()));
    expect(newPool({ shards: 'auto', max: 1 }).stats().shards.length).toBe(1);
  });
});

describe('pipelining', () => {
  it('pipelines concurrent queries on one connection; an error fails only its query', async () => {
    const pool = newPool({ max: 1 });
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => pool.query(i % 10 === 5 ? 'select 1/0' : 'select $1::int as n', i % 10 === 5 ? [] : [i]).scalar()));
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(5);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(45);
    expect(pool.stats().counters.created).toBe(1);
  });

  it('waits when every connection is maxPipeline deep', async () => {
    const pool = newPool({ max: 1, maxPipeline: 2 });
    const running = [1, 2, 3].map(() => pool.query('select pg_sleep(0.2)').execute());
    await sleep(50);
    expect(pool.stats().waiting).toBe(1);
    await Promise.all(running);
    expect(pool.stats()).toMatchObject({ waiting: 0, inFlight: 0 });
  });
});

describe('reserve()', () => {
  it('lends a connection to one caller; others wait until it comes back', async () => {
    const pool = newPool({ max: 1 });
    const conn = await pool.reserve();
    const pid = await conn.query('select pg_backend_pid()').scalar();
    let other = false;
    const waiting = pool.query('select pg_backend_pid() as pid').one().then((r) => ((other = true), r.pid));
    await sleep(100);
    expect(other).toBe(false);
    expect(pool.stats().connections.reserved).toBe(1);
    await conn.release();
    expect(await waiting).toBe(pid);
    await expect(conn.query('select 1').all()).rejects.toThrow(/released/);
  });

  it('a connection released inside an open or failed transaction is rolled back', async () => {
    const pool = newPool({ max: 1 });
    const t = tableName();
    await pool.query(`create table ${t} (a int)`).execute();
    const open = await pool.reserve();
    await open.query('begin').execute();
    await open.query(`insert into ${t} values (1)`).execute();
    await open.release();
    const failed = await pool.reserve();
    await failed.query('begin').execute();
    await failed.query(`insert into ${t} values (2)`).execute();
    await expect(failed.query('select 1/0').all()).rejects.toBeInstanceOf(PostgresError);
    await failed[Symbol.asyncDispose]();
    // Same (only) connection: no transaction is open and nothing was committed.
    expect(await pool.query('select pg_current_xact_id_if_assigned() is null as clean').scalar()).toBe(true);
    expect(await pool.query(`select count(*)::int from ${t}`).scalar()).toBe(0);
    const conn = await pool.reserve();
    await conn.query('begin').execute();
    await conn.query(`insert into ${t} values (3)`).execute();
    await conn.query('commit').execute();
    await conn.release();
    expect(await pool.query(`select count(*)::int from ${t}`).scalar()).toBe(1);
  });

  it('queries issued on a reserved connection without awaiting run in issue order', async () => {
    const pool = newPool({ max: 2 });
    const conn = await pool.reserve();
    const t = tableName();
    await conn.query(`create temp table ${t} (i int)`).execute();
    await Promise.all(Array.from({ length: 50 }, (_, i) => conn.query(`insert into ${t} values ($1)`, [i]).execute()));
    const rows = await conn.query<{ i: number }>(`select i from ${t} order by ctid`).all();
    expect(rows.map((r) => r.i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    await conn.release();
  });
});

describe('statement order on one connection', () => {
  it('a statement that must be prepared is not overtaken by a later cached one', async () => {
    const pool = newPool({ max: 1 });
    const conn = await pool.reserve();
    const t = tableName();
    await conn.query(`create temp table ${t} (i int)`).execute();
    await conn.query(`select count(*)::int from ${t}`).scalar(); // now cached
    const counts: Promise<number | null>[] = [];
    for (let i = 0; i < 20; i++) {
      // Each insert text is new (so it is prepared first); the count is cached.
      void conn.query(`insert into ${t} values ($1) -- ${i}`, [i]).execute();
      counts.push(conn.query<number>(`select count(*)::int from ${t}`).scalar());
    }
    expect(await Promise.all(counts)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await conn.release();
  });
});

describe('options', () => {
  it('acquireTimeout fires while every connection is reserved, and the pool works after release', async () => {
    const pool = newPool({ max: 2, acquireTimeout: 200 });
    const a = await pool.reserve();
    const b = await pool.reserve();
    const t0 = Date.now();
    const err = await pool.query('select 1').all().catch((e) => e);
    expect(err).toBeInstanceOf(PoolTimeoutError);
    expect(err.message).toMatch(/2 of max 2 in use \(2 reserved, 0 busy\), 1 callers waiting/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(pool.stats().counters.acquireTimeouts).toBe(1);
    await a.release();
    await b.release();
    expect(await pool.query('select 1').scalar()).toBe(1);
  });

  it('min opens connections at start and keeps them', async () => {
    const pool = newPool({ min: 2, max: 4, idleTimeout: 100 });
    await sleep(1500);
    expect(pool.stats().connections.total).toBe(2);
  });

  it('idleTimeout closes idle connections down to min', async () => {
    const pool = newPool({ max: 3, idleTimeout: 200 });
    await Promise.all([1, 2, 3].map(() => pool.query('select pg_sleep(0.05)').execute()));
    expect(pool.stats().connections.total).toBe(3);
    await sleep(1600);
    expect(pool.stats().connections.total).toBe(0);
    expect(pool.stats().counters.destroyed).toBe(3);
  });

  it('maxLifetime retires connections', async () => {
    const pool = newPool({ max: 1, maxLifetime: 200 });
    const first = await pool.query('select pg_backend_pid()').scalar();
    await sleep(300);
    const second = await pool.query('select pg_backend_pid()').scalar();
    expect(second).not.toBe(first);
  });

  it("pgx's pool keys in the URL size and tend the pool; options given explicitly win", async () => {
    const withParams = (q: string) => `${databaseUrl}${databaseUrl.includes('?') ? '&' : '?'}${q}`;
    const pool = new Pool(withParams('pool_max_conns=2&pool_min_conns=1&pool_max_conn_idle_time=100ms&pool_health_check_period=100ms'));
    try {
      // min is opened by the health check, every 100 ms rather than every second.
      await sleep(400);
      expect(pool.stats().connections.total).toBe(1);
      const held = [await pool.reserve(), await pool.reserve()];
      await Promise.all(held.map((c) => c.query('select 1').execute()));
      // A third would pass pool_max_conns: it waits until its timeout.
      const third = await pool.reserve({ timeout: 200 }).catch((err: unknown) => err);
      await Promise.all(held.map((c) => c.release()));
      expect(third).toBeInstanceOf(QueryTimeoutError);
      expect(pool.stats().connections.total).toBe(2);
      // Idle past 100 ms, closed down to min by a check every 100 ms (pgwarp's own is every second).
      await sleep(300);
      expect(pool.stats().connections.total).toBe(1);
    } finally {
      await pool.close();
    }
    const explicit = new Pool(withParams('pool_max_conns=1'), { max: 3 });
    try {
      const held = await Promise.all([1, 2, 3].map(() => explicit.reserve({ timeout: 2000 })));
      expect(new Set(await Promise.all(held.map((c) => c.query('select pg_backend_pid()').scalar()))).size).toBe(3);
      await Promise.all(held.map((c) => c.release()));
    } finally {
      await explicit.close();
    }
    expect(() => new Pool(withParams('pool_max_conns=0'))).toThrow(/pool_max_conns "0": the pool needs at least 1 connection/);
    expect(() => new Pool(withParams('pool_max_conn_lifetime=1d'))).toThrow(/invalid pool_max_conn_lifetime "1d"/);
    expect(() => new Pool(withParams('pool_max_conns_typo=3'))).toThrow(/unknown or unsupported parameter "pool_max_conns_typo"/);
  });

  it('prepare: false uses unnamed statements only', async () => {
    const pool = newPool({ max: 1, prepare: false });
    expect(await pool.query('select $1::int + 1 as n, $2::text as s, $3::jsonb as j', [41, 'x', { a: [1] }]).one()).toEqual({ n: 42, s: 'x', j: { a: [1] } });
    expect(await pool.query('select $1::int[] as a', [[1, 2, 3]]).scalar()).toEqual([1, 2, 3]);
    expect(await pool.query('select * from generate_series(1, 3) n').all()).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(await pool.query('select 1 as n where false').all()).toEqual([]);
    expect(await pool.query('select count(*)::int from pg_prepared_statements').scalar()).toBe(0);
  });
});

describe('health', () => {
  it('a connection killed by the server is replaced without the user noticing', async () => {
    const pool = newPool({ max: 1 });
    const admin = newPool();
    const pid = await pool.query('select pg_backend_pid()').scalar();
    await admin.query('select pg_terminate_backend($1)', [pid]).execute();
    await sleep(200);
    const next = await pool.query('select pg_backend_pid()').scalar();
    expect(next).not.toBe(pid);
    expect(pool.stats().counters.destroyed).toBeGreaterThanOrEqual(1);
  });
});

describe('close()', () => {
  it('cancels what is still running when the timeout passes', async () => {
    const pool = new Pool(databaseUrl);
    const running = pool.query('select pg_sleep(10)').execute().catch((e) => e);
    await sleep(100);
    const t0 = Date.now();
    await pool.close({ timeout: 200 });
    expect(Date.now() - t0).toBeLessThan(3000);
    const err = await running;
    expect(err).toBeInstanceOf(PostgresError);
    expect(err.code).toBe('57014');
    await expect(pool.query('select 1').all()).rejects.toBeInstanceOf(PoolClosedError);
    await expect(pool.reserve()).rejects.toBeInstanceOf(PoolClosedError);
  });
});

describe('no leaks', () => {
  it('10,000 queries and 1,000 reserve/release cycles with random errors leave nothing behind', async () => {
    const pool = newPool({ max: 4, shards: 2 });
    let failures = 0;
    await Promise.all(
      Array.from({ length: 16 }, async (_, loop) => {
        for (let i = 0; i < 625; i++) {
          const bad = (i * 7 + loop) % 13 === 0;
          await pool
            .query(bad ? 'select 1/0' : 'select $1::int', bad ? [] : [i])
            .scalar()
            .catch(() => failures++);
        }
      }),
    );
    await Promise.all(
      Array.from({ length: 4 }, async (_, loop) => {
        for (let i = 0; i < 250; i++) {
          const conn = await pool.reserve();
          try {
            if ((i + loop) % 3 === 0) await conn.query('begin').execute();
            if ((i + loop) % 5 === 0) await conn.query('select 1/0').all();
            else await conn.query('select 1').all();
          } catch {
            failures++;
          } finally {
            await conn.release();
          }
        }
      }),
    );
    expect(failures).toBeGreaterThan(0);
    // The last releases are sent, not waited for: give the engine a moment to take them.
    await vi.waitFor(() => expect(pool.stats().connections.reserved).toBe(0), { timeout: 1000 });
    const stats = pool.stats();
    expect(stats).toMatchObject({ inFlight: 0, waiting: 0, connections: { reserved: 0 } });
    // 10,000 pooled queries, 1,000 on reserved connections, and a BEGIN on every third.
    expect(stats.counters.queries).toBeGreaterThanOrEqual(11_000);
    expect(stats.connections.total).toBeLessThanOrEqual(4);
  });
});

describe.runIf(socketDir !== null)('server restart under load', () => {
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('costs only the queries in flight, and the pool recovers by itself', async () => {
    const pool = new Pool(server.url, { max: 4, acquireTimeout: 5000, connectTimeout: 2000 });
    let ok = 0;
    let okAfter = 0;
    const errors = new Set<string>();
    let restarted = false;
    let stop = false;
    const loops = Array.from({ length: 8 }, async (_, l) => {
      while (!stop) {
        try {
          await pool.query('select $1::int', [l]).scalar();
          ok++;
          if (restarted) okAfter++;
        } catch (e) {
          errors.add((e as Error).constructor.name);
          expect(e instanceof ConnectionError || e instanceof PostgresError).toBe(true);
          await sleep(20);
        }
      }
    });
    await sleep(300);
    await server.restart();
    restarted = true;
    const t0 = Date.now();
    while (okAfter < 100 && Date.now() - t0 < 15_000) await sleep(50);
    stop = true;
    await Promise.all(loops);
    expect(ok).toBeGreaterThan(0);
    expect(okAfter).toBeGreaterThanOrEqual(100);
    expect(pool.stats()).toMatchObject({ inFlight: 0, waiting: 0 });
    await pool.close();
  });
});

describe('onConnect', () => {
  it('prepares every new connection before its first query', async () => {
    let calls = 0;
    const pool = newPool({
      max: 2,
      onConnect: async (conn) => {
        calls++;
        await conn.query(`set application_name = 'prepared-by-onconnect'`).execute();
      },
    });
    const names = await Promise.all([1, 2, 3, 4].map(() => pool.query('select current_setting($1) as v, pg_sleep(0.05)', ['application_name']).one()));
    expect(names.every((r) => r.v === 'prepared-by-onconnect')).toBe(true);
    expect(calls).toBe(2);
  });

  it('a throwing onConnect fails the query that needed the connection, not the pool', async () => {
    let fail = true;
    const pool = newPool({
      max: 1,
      onConnect: () => {
        if (fail) throw new Error('no session for you');
      },
    });
    const err = await pool.query('select 1').all().catch((e) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.message).toMatch(/onConnect failed: no session for you/);
    fail = false;
    expect(await pool.query('select 1').scalar()).toBe(1);
  });
});
