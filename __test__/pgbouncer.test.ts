// Every API through a real PgBouncer (Debian's binary) in transaction mode, 16 callers on 2
// server connections, with `prepare: false`. In CI, `.ci/run` installs PgBouncer; without it
// these tests fail in CI and are skipped elsewhere, saying why.
import { createRequire } from 'node:module';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Pool } from '../src';
import { findPgBouncer, startPgBouncer, startPostgres, type PgBouncer, type PostgresServer } from '../src/testing';

const require = createRequire(__filename);
const available = findPgBouncer() !== undefined;
if (!available && process.env.CI) throw new Error('PgBouncer is not installed: .ci/run installs it (apt-get install -y pgbouncer)');
if (!available) console.warn('pgbouncer.test.ts: no pgbouncer binary, skipped (Debian: apt-get install -y pgbouncer)');

let server: PostgresServer;
let bouncer: PgBouncer;

beforeAll(async () => {
  if (!available) return;
  server = await startPostgres();
  bouncer = await startPgBouncer(server, { poolMode: 'transaction', poolSize: 2 });
}, 60_000);

afterAll(async () => {
  await bouncer?.stop();
  await server?.stop();
});

/**
 * PgBouncer's admin console, through node-postgres itself (the console speaks the simple
 * protocol only; `pg` in this process is aliased to pgwarp/pg, its `lib` is not).
 */
async function show(what: string): Promise<Record<string, unknown>[]> {
  const pg = require('pg/lib/index.js') as typeof import('pg');
  const admin = new pg.Client({ connectionString: bouncer.adminUrl });
  await admin.connect();
  try {
    return (await admin.query(`show ${what}`)).rows;
  } finally {
    await admin.end();
  }
}

describe.runIf(available)('through PgBouncer in transaction mode', () => {
  it('queries, transactions, reservations, streams, COPY and scripts from 16 callers on 2 server connections; nothing leaks', async () => {
    const pool = new Pool(`${bouncer.url}?sslmode=disable`, { prepare: false, max: 16 });
    try {
      await pool.exec('create table bounced (id int primary key, worker int not null, note text)');
      let next = 0;
      const worker = async (w: number) => {
        for (let round = 0; round < 6; round++) {
          const id = next++;
          expect(await pool.query('select $1::int * 2 as v, $2::text as t', [id, `w${w}`]).one()).toEqual({ v: id * 2, t: `w${w}` });
          // A transaction stays on one server connection: its SET LOCAL and its insert are its own.
          await pool.transaction(async (tx) => {
            await tx.query("set local statement_timeout = '7s'").execute();
            await tx.query('insert into bounced values ($1, $2, $3)', [id, w, 'tx']).execute();
            expect(await tx.query('show statement_timeout').scalar()).toBe('7s');
          });
          const conn = await pool.reserve();
          try {
            expect(await conn.query('select count(*)::int as n from bounced where id = $1', [id]).scalar()).toBe(1);
          } finally {
            await conn.release();
          }
          if (round % 3 === 0) {
            let sum = 0;
            for await (const row of pool.query<{ i: number }>('select i from generate_series(1, 2000) i').stream({ batchSize: 500 })) sum += row.i;
            expect(sum).toBe(2001000);
          }
        }
      };
      await Promise.all(Array.from({ length: 16 }, (_, w) => worker(w)));
      await pool.copyIn('copy bounced (id, worker, note) from stdin', ['10000\t99\tcopied\n', '10001\t99\tcopied\n']);
      expect(await pool.query('select count(*)::int from bounced').scalar()).toBe(96 + 2);
      // A failed statement inside a transaction rolls it back, and the server connection is clean after.
      await expect(
        pool.transaction(async (tx) => {
          await tx.query('insert into bounced values (20000, 1, $1)', ['rolled back']).execute();
          await tx.query('select 1 / 0').execute();
        }),
      ).rejects.toMatchObject({ code: '22012' });
      expect(await pool.query('select count(*)::int from bounced where id = 20000').scalar()).toBe(0);
      // No SET LOCAL outlived its transaction on any server connection.
      for (let i = 0; i < 8; i++) expect(await pool.query('show statement_timeout').scalar()).toBe('0');
    } finally {
      await pool.close();
    }
    // Nothing is left checked out on PgBouncer's side.
    const pools = (await show('pools')).filter((p) => p.database === server.database);
    expect(pools.length).toBeGreaterThan(0);
    for (const p of pools) {
      expect(p.cl_active).toBe(0);
      expect(p.cl_waiting).toBe(0);
      expect(p.sv_active).toBe(0);
    }
    const servers = (await show('servers')).filter((s) => s.database === server.database);
    expect(servers.length).toBeLessThanOrEqual(2);
  }, 60_000);

  it("pooler: 'transaction' needs no prepare: false, and refuses what cannot work behind it", async () => {
    const pool = new Pool(`${bouncer.url}?sslmode=disable`, { pooler: 'transaction', max: 8 });
    try {
      // Unnamed statements by default: the same text from many callers on 2 server connections.
      const values = await Promise.all(Array.from({ length: 50 }, (_, i) => pool.query('select $1::int + 1 as v', [i]).scalar()));
      expect(values).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      await expect(pool.listen('jobs', () => {})).rejects.toThrow(/listen\(\) needs a session of its own/);
      // Session state on a reserved connection would outlive it on a server session another
      // client gets next: refused before it is sent, in or out of a transaction. SET LOCAL
      // and a cursor inside a transaction end with it, and pass.
      const conn = await pool.reserve();
      try {
        await expect(conn.query('set search_path = elsewhere').execute()).rejects.toThrow(/SET \(session state\) cannot run on this pool.*SET LOCAL/);
        await expect(conn.query('create temp table t (a int)').execute()).rejects.toThrow(/session state/);
        expect(await conn.query('select 1 as one').scalar()).toBe(1);
      } finally {
        await conn.release();
      }
      expect(
        await pool.transaction(async (tx) => {
          await expect(tx.query('set statement_timeout = 1000').execute()).rejects.toThrow(/session state/);
          await tx.query("set local statement_timeout = '3s'").execute();
          await tx.query('declare c cursor for select 42 as v').execute();
          return tx.query('fetch 1 from c').scalar();
        }),
      ).toBe(42);
    } finally {
      await pool.close();
    }
    expect(() => new Pool(bouncer.url, { pooler: 'transaction', statementTimeout: 1000 })).toThrow(/statementTimeout cannot be used with pooler: 'transaction'/);
    expect(() => new Pool(bouncer.url, { pooler: 'session' as never })).toThrow(/pooler must be 'none' or 'transaction'/);
  });

  it('a server behind the pooler demoted to read-only is left within a recheck: the refused write has its role checked', async () => {
    const other = await startPostgres();
    const admin = new Pool(server.url, { max: 1 });
    try {
      for (const url of [server.url, other.url]) {
        const direct = new Pool(url, { max: 1 });
        await direct.exec('create table demoted_behind (id serial primary key, port int not null)');
        await direct.close();
      }
      const [bhost, bport] = new URL(bouncer.url).host.split(':');
      const url = `postgres://postgres@${bhost}:${bport},127.0.0.1:${other.port}/postgres?target_session_attrs=read-write&sslmode=disable`;
      const pool = new Pool(url, { pooler: 'transaction', max: 4, hostRecheck: 10_000 });
      try {
        const write = () => pool.query("insert into demoted_behind (port) values (current_setting('port')::int) returning port").scalar<number>();
        expect(await write()).toBe(server.port);
        expect(pool.stats().hosts[0]).toMatchObject({ role: 'primary', state: 'up' });
        await admin.exec('alter system set default_transaction_read_only = on');
        await admin.query('select pg_reload_conf()').execute();
        const started = Date.now();
        const failures: unknown[] = [];
        for (;;) {
          try {
            if ((await write()) === other.port) break;
          } catch (err) {
            failures.push(err);
          }
          if (Date.now() - started > 10_000) throw new Error(`still writing behind the pooler after 10 s: ${failures.map(String).join('; ')}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        for (const err of failures) expect(err).toMatchObject({ code: '25006' });
        expect(pool.stats().hosts[0].role).toBe('read-only');
        for (let i = 0; i < 5; i++) expect(await write()).toBe(other.port);
      } finally {
        await pool.close();
      }
    } finally {
      await admin.exec('alter system reset default_transaction_read_only');
      await admin.query('select pg_reload_conf()').execute();
      await admin.close();
      await other.stop();
    }
  }, 30_000);
});
