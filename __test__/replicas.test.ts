// A primary and a streaming standby started by the harness (pg_basebackup where the binaries
// have it, else a cold copy), host choice by target_session_attrs, and a promotion.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ConnectionError, Pool, type ReservedConnection } from '../src';
import { compareLsn } from '../src/pool/read-your-writes';
import { startPostgres, startStandby, type PostgresServer, type StandbyServer } from '../src/testing';

let primary: PostgresServer;
let standby: StandbyServer;
const pools: Pool[] = [];

/** A pool over both servers, primary first, wanting `target`. */
function poolFor(target: string, hosts = [primary, standby]): Pool {
  const list = hosts.map((s) => `127.0.0.1:${s.port}`).join(',');
  const pool = new Pool(`postgres://postgres@${list}/postgres?target_session_attrs=${target}&sslmode=disable`, { max: 2, connectTimeout: 5000 });
  pools.push(pool);
  return pool;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 15000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  primary = await startPostgres();
  standby = await startStandby(primary);
}, 120_000);

afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
  await standby?.stop();
  await primary?.stop();
});

describe('a primary and a streaming standby from the test harness', () => {
  it('the standby replays what the primary writes, and target_session_attrs picks each', async () => {
    const writer = poolFor('read-write');
    const reader = poolFor('standby');
    expect(await writer.query('select pg_is_in_recovery() as r').scalar()).toBe(false);
    expect(await reader.query('select pg_is_in_recovery() as r').scalar()).toBe(true);
    expect(await poolFor('prefer-standby').query('select pg_is_in_recovery()').scalar()).toBe(true);
    expect(await poolFor('primary', [standby, primary]).query('select pg_is_in_recovery()').scalar()).toBe(false);
    await writer.query('create table replicated (id int primary key, v text)').execute();
    await writer.query('insert into replicated values (1, $1)', ['from the primary']).execute();
    expect(await until('replay', () => reader.query('select v from replicated where id = 1').scalar<string>().then((v) => v ?? undefined))).toBe('from the primary');
    await expect(reader.query('insert into replicated values (2, $1)', ['x']).execute()).rejects.toMatchObject({ code: '25006' });
  });

  it('one pool routes each call: a target per query, reservation and transaction; pool.primary and pool.standby', async () => {
    const pool = poolFor('read-write');
    const recovering = (p: Pool, options?: Parameters<Pool['query']>[2]) => p.query<boolean>('select pg_is_in_recovery() as r', [], options).scalar();
    expect(await recovering(pool)).toBe(false);
    expect(await recovering(pool, { target: 'standby' })).toBe(true);
    expect(await recovering(pool.standby)).toBe(true);
    expect(await recovering(pool.primary)).toBe(false);
    // Views are the pool's own, shared: the same object each time, from the pool or a view.
    expect(pool.standby).toBe(pool.standby);
    expect(pool.standby.primary).toBe(pool.primary);
    const conn = await pool.reserve({ target: 'standby' });
    try {
      expect(await conn.query('select pg_is_in_recovery()').scalar()).toBe(true);
    } finally {
      await conn.release();
    }
    expect(await pool.transaction((tx) => tx.query('select pg_is_in_recovery()').scalar(), { target: 'standby', readOnly: true })).toBe(true);
    expect(() => pool.query('select 1', [], { target: 'nearest' as never })).toThrow(/target must be one of any, read-write/);
    // A standby stopped mid-load is skipped by pool.standby (prefer-standby): reads go on, on
    // the primary. Those in flight when it stopped may fail, saying the connection was lost.
    const reads = Promise.allSettled(Array.from({ length: 200 }, (_, i) => pool.standby.query('select $1::int as v', [i]).scalar()));
    await standby.halt();
    try {
      expect(await until('reads on the primary', async () => ((await recovering(pool.standby)) === false ? true : undefined))).toBe(true);
      for (const r of await reads) {
        if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConnectionError);
      }
    } finally {
      await standby.start();
    }
    await until('the standby back', async () => ((await recovering(poolFor('standby'))) === true ? true : undefined));
  });

  it("stats() shows each host's role, state and last check, shared by the pool's views", async () => {
    const pool = poolFor('read-write');
    await pool.query('select 1').execute();
    await pool.standby.query('select 1').execute();
    const [p, s] = pool.stats().hosts;
    expect(p).toMatchObject({ host: `127.0.0.1:${primary.port}`, role: 'primary', state: 'up', downForMs: null, lagMs: null });
    expect(s).toMatchObject({ host: `127.0.0.1:${standby.port}`, role: 'standby', state: 'up' });
    for (const h of [p, s]) expect(h.lastCheckMsAgo).toBeGreaterThanOrEqual(0);
    // A host that refuses is down for hostRecheck, with why.
    const { createServer } = await import('node:net');
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as import('node:net').AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const list = `127.0.0.1:${deadPort},127.0.0.1:${primary.port}`;
    const other = new Pool(`postgres://postgres@${list}/postgres?sslmode=disable`, { max: 1, hostRecheck: 60_000 });
    pools.push(other);
    await other.query('select 1').execute();
    const [dead, live] = other.stats().hosts;
    expect(dead).toMatchObject({ host: `127.0.0.1:${deadPort}`, role: 'unknown', state: 'down' });
    expect(dead.downForMs).toBeGreaterThan(50_000);
    expect(dead.lastError).toMatch(/refused/i);
    expect(live).toMatchObject({ role: 'primary', state: 'up' });
  });

  it('maxReplicaLagMs: a standby whose replay lags is skipped, reads fall back to the primary, and come back once it catches up', async () => {
    const list = `127.0.0.1:${primary.port},127.0.0.1:${standby.port}`;
    const pool = new Pool(`postgres://postgres@${list}/postgres?target_session_attrs=standby&sslmode=disable`, { max: 2, maxReplicaLagMs: 300, hostRecheck: 1000 });
    pools.push(pool);
    const recovering = () => pool.query<boolean>('select pg_is_in_recovery() as r').scalar();
    const writer = poolFor('read-write');
    const admin = new Pool(standby.url, { max: 1 });
    // A transaction replayed since the standby (re)started: the lag is measured from its time.
    await writer.query('create table if not exists lagging (id serial primary key)').execute();
    await until('replay', async () => ((await admin.query("select to_regclass('lagging') is not null").scalar()) ? true : undefined));
    expect(await until('reads on the standby', async () => ((await recovering()) === true ? true : undefined), 10_000)).toBe(true);
    try {
      await admin.query('select pg_wal_replay_pause()').execute();
      await writer.query('insert into lagging default values').execute();
      // The open standby connection is checked every maintenance tick; once it lags past the
      // limit, it retires and reads go to the primary.
      expect(
        await until(
          'reads on the primary',
          async () => {
            return (await recovering()) === false ? true : undefined;
          },
          10_000,
        ),
      ).toBe(true);
      expect(pool.stats().hosts[1].lagMs).toBeGreaterThan(300);
    } finally {
      await admin.query('select pg_wal_replay_resume()').execute();
      await admin.close();
    }
    // Caught up: after hostRecheck the primary connection retires and a standby serves again.
    expect(await until('reads on the standby', async () => ((await recovering()) === true ? true : undefined), 10_000)).toBe(true);
    expect(pool.stats().hosts[1].lagMs).toBeLessThanOrEqual(300);
  });

  it('readYourWrites(): reads see the caller\'s writes, on a standby once it replayed them, else on the primary', async () => {
    const pool = poolFor('read-write');
    await pool.query('create table if not exists mine (id int primary key)').execute();
    const where = (conn: ReservedConnection) => conn.query<{ standby: boolean; n: number }>('select pg_is_in_recovery() as standby, count(*)::int as n from mine where id = 7').one();
    const session = pool.readYourWrites();
    // No write yet: a standby, unchecked.
    await until('the table on the standby', async () => ((await session.read(where)).standby ? true : undefined));
    expect(session.position).toBeUndefined();
    const admin = new Pool(standby.url, { max: 1 });
    try {
      await admin.query('select pg_wal_replay_pause()').execute();
      await session.execute('insert into mine values (7)');
      expect(session.position).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      // The standby has not replayed it: the read goes to the primary, and sees it.
      expect(await session.read(where)).toEqual({ standby: false, n: 1 });
      // Another caller without the position reads the standby, which does not have it yet.
      expect(await pool.readYourWrites().read(where)).toEqual({ standby: true, n: 0 });
    } finally {
      await admin.query('select pg_wal_replay_resume()').execute();
      await admin.close();
    }
    // Replayed: the same session reads the standby again; a session given the position too.
    await until('reads on the standby', async () => ((await session.read(where)).standby ? true : undefined));
    expect(await pool.readYourWrites(session.position).read(where)).toEqual({ standby: true, n: 1 });
    await session.transaction((tx) => tx.query('delete from mine where id = 7').execute());
    const after = await session.read(where);
    expect(after.n).toBe(0);
    // Positions order by their halves as numbers, not as text.
    expect(compareLsn('0/10', '0/F')).toBeGreaterThan(0);
    expect(compareLsn('1/0', '0/FFFFFFFF')).toBeGreaterThan(0);
    expect(compareLsn('A/5', 'A/5')).toBe(0);
  });

  it('a promoted standby takes writes; a pool made afterwards finds it as the primary', async () => {
    await primary.halt();
    try {
      await standby.promote();
      const pool = poolFor('read-write');
      expect(await pool.query('select pg_is_in_recovery()').scalar()).toBe(false);
      await pool.query('insert into replicated values (3, $1)', ['after the promotion']).execute();
      expect(await pool.query('select count(*)::int from replicated').scalar()).toBe(2);
    } finally {
      await primary.start().catch(() => {});
    }
  });

  it('a server demoted to read-only by a reload is left: its connections retire, writes go to the host that fits', async () => {
    const a = await startPostgres();
    const b = await startPostgres();
    try {
      for (const s of [a, b]) {
        const direct = new Pool(s.url, { max: 1 });
        await direct.query('create table demoted (id serial primary key, port int not null)').execute();
        await direct.close();
      }
      const pool = poolFor('read-write', [a, b]);
      const write = () => pool.query('insert into demoted (port) values (inet_server_port()) returning port').scalar<number>();
      expect(await write()).toBe(a.port);
      const admin = new Pool(a.url, { max: 1 });
      try {
        await admin.exec('alter system set default_transaction_read_only = on');
        await admin.query('select pg_reload_conf()').execute();
      } finally {
        await admin.close();
      }
      // The server tells every session with its next answer (ParameterStatus); a write that
      // reached it first fails there (25006), and is not retried behind the caller's back.
      const failures: unknown[] = [];
      const landed = await until('a write on the other host', async () => {
        try {
          const port = await write();
          return port === b.port ? port : undefined;
        } catch (err) {
          failures.push(err);
          return undefined;
        }
      }, 10_000);
      expect(landed).toBe(b.port);
      for (const err of failures) expect(err).toMatchObject({ code: '25006' });
      expect(failures.length).toBeLessThanOrEqual(2);
      // And it stays there.
      for (let i = 0; i < 5; i++) expect(await write()).toBe(b.port);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('failover under a 32-way load: nobody hangs, what resolved is on the new primary, nothing rejected is half there', async () => {
    const a = await startPostgres();
    const b = await startStandby(a);
    try {
      const setup = new Pool(a.url, { max: 1 });
      await setup.query('create table ledger (id int primary key, tx int not null, part int not null)').execute();
      await setup.close();
      const hosts = [a, b].map((s) => `127.0.0.1:${s.port}`).join(',');
      const pool = new Pool(`postgres://postgres@${hosts}/postgres?target_session_attrs=read-write&sslmode=disable`, { max: 8, acquireTimeout: 5000, connectTimeout: 2000 });
      pools.push(pool);
      const reads = new Pool(`postgres://postgres@${hosts}/postgres?target_session_attrs=any&sslmode=disable`, { max: 4, acquireTimeout: 5000, connectTimeout: 2000 });
      pools.push(reads);
      let next = 0;
      let stop = false;
      const committed = new Set<number>();
      const rejected = new Set<number>();
      let lastFailure = 0;
      let firstSuccessAfterPromotion = 0;
      let promotedAt = 0;
      let longest = 0;
      const kinds = new Map<string, string>();
      const worker = async (w: number) => {
        while (!stop) {
          const tx = next++;
          const started = Date.now();
          try {
            if (w % 4 === 3) {
              await reads.query('select count(*) from ledger').scalar();
            } else {
              // Two rows per transaction: both there, or neither.
              await pool.transaction(async (t) => {
                await t.query('insert into ledger values ($1, $2, 1)', [tx * 2, tx]).execute();
                await t.query('insert into ledger values ($1, $2, 2)', [tx * 2 + 1, tx]).execute();
              });
              committed.add(tx);
              if (promotedAt && !firstSuccessAfterPromotion) firstSuccessAfterPromotion = Date.now();
            }
          } catch (err) {
            kinds.set(`${(err as Error).constructor.name} ${(err as { code?: string }).code}`, (err as Error).message);
            if (w % 4 !== 3) rejected.add(tx);
            lastFailure = Date.now();
            await new Promise((r) => setTimeout(r, 20));
          }
          longest = Math.max(longest, Date.now() - started);
        }
      };
      const load = Promise.all(Array.from({ length: 32 }, (_, w) => worker(w)));
      await new Promise((r) => setTimeout(r, 500));
      await a.halt();
      await new Promise((r) => setTimeout(r, 300));
      await b.promote();
      promotedAt = Date.now();
      await until('a write on the promoted server', async () => (firstSuccessAfterPromotion ? true : undefined), 10_000);
      await new Promise((r) => setTimeout(r, 500));
      stop = true;
      await load;
      // Nobody waited past acquireTimeout plus a connect attempt.
      expect(longest).toBeLessThan(5000 + 2000 + 1000);
      const check = new Pool(b.url, { max: 1 });
      try {
        const rows = await check.query<{ tx: number; n: number }>('select tx, count(*)::int as n from ledger group by tx').all();
        const present = new Map(rows.map((r) => [r.tx, r.n]));
        for (const tx of committed) expect(present.get(tx), `committed transaction ${tx}`).toBe(2);
        for (const [tx, n] of present) expect(n, `transaction ${tx} is whole`).toBe(2);
        for (const tx of rejected) expect([undefined, 2]).toContain(present.get(tx));
      } finally {
        await check.close();
      }
      expect(firstSuccessAfterPromotion - promotedAt).toBeLessThan(10_000);
      // Every failure is the connection's, and says whether the statement may have run.
      for (const [kind, message] of kinds) {
        expect(kind, message).toMatch(/^ConnectionError /);
        if (kind.endsWith('ECONNRESET')) expect(message).toMatch(/may have run|terminating connection/);
      }
      console.log(`failover errors: ${[...kinds.keys()].join(', ')}`);
      console.log(`failover: last failure ${lastFailure - promotedAt} ms after the promotion, first write ${firstSuccessAfterPromotion - promotedAt} ms after (${firstSuccessAfterPromotion - lastFailure} ms from the last failed to the first successful write); ${committed.size} committed, ${rejected.size} rejected`);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  }, 60_000);
});

describe('a connection lost to the server going away', () => {
  it("marks the host down and drains its other idle connections, which would fail their callers' checks", async () => {
    const server = await startPostgres();
    try {
      const pool = new Pool(server.url, { max: 4 });
      pools.push(pool);
      const held = await Promise.all([1, 2, 3, 4].map(() => pool.reserve()));
      const pids = await Promise.all(held.map((c) => c.query<number>('select pg_backend_pid()').scalar()));
      await Promise.all(held.map((c) => c.release()));
      await until('all four idle', async () => (pool.stats().connections.idle === 4 ? true : undefined), 5000);
      expect(pool.stats().hosts[0].state).toBe('up');
      const admin = new Pool(server.url, { max: 1 });
      try {
        // 57P01 on one idle session, as at a shutdown.
        await admin.query('select pg_terminate_backend($1)', [pids[0]]).execute();
      } finally {
        await admin.close();
      }
      await until('the host marked down', async () => (pool.stats().hosts[0].state === 'down' ? true : undefined), 5000);
      expect(pool.stats().hosts[0].lastError).toMatch(/57P01/);
      const destroyed = pool.stats().counters.destroyed;
      // The next query finds the other three drained and opens a new connection.
      expect(await pool.query('select 1 as one').scalar()).toBe(1);
      await until('the others drained', async () => (pool.stats().counters.destroyed >= destroyed + 3 ? true : undefined), 5000);
      const now = await pool.query<number>('select pg_backend_pid()').scalar();
      expect(pids).not.toContain(now);
    } finally {
      await server.stop();
    }
  });
});

describe('no server at all: the circuit breaker', () => {
  it('one attempt at a time, callers fail fast after the grace period, and the pool comes back by itself', async () => {
    // A port that accepts connections and never answers: every attempt waits out connectTimeout.
    let open = 0;
    let most = 0;
    let attempts = 0;
    const sockets = new Set<import('node:net').Socket>();
    const { createServer } = await import('node:net');
    const silent = createServer((socket) => {
      attempts++;
      most = Math.max(most, ++open);
      sockets.add(socket);
      socket.on('close', () => {
        open--;
        sockets.delete(socket);
      });
      socket.on('error', () => {});
      // Read (and drop) what comes, or a paused socket never sees the client close it.
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as import('node:net').AddressInfo).port;
    const pool = new Pool(`postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable`, { max: 8, connectTimeout: 300 });
    pools.push(pool);
    const started = Date.now();
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, () =>
        pool
          .query('select 1')
          .scalar()
          .then(
            () => 'ok',
            (err: Error & { code?: string }) => ({ code: err.code, message: err.message, at: Date.now() - started }),
          ),
      ),
    );
    // The first caller gets its own timeout; the rest waited for the probes, then failed at once.
    const errors = outcomes as { code?: string; message: string; at: number }[];
    expect(errors[0].code).toBe('ETIMEDOUT');
    for (const e of errors.slice(1)) {
      expect(e.message).toMatch(/no server reachable since \d+\.\d s ago/);
      expect(e.at).toBeLessThan(5000 + 300 + 1500);
    }
    expect(most).toBe(1);
    expect(pool.stats().unreachableForMs).toBeGreaterThanOrEqual(5000);
    const later = Date.now();
    await expect(pool.query('select 1').scalar()).rejects.toThrow(/no server reachable/);
    expect(Date.now() - later).toBeLessThan(200);
    expect(attempts).toBeLessThan(20);
    // A server comes up on that port: the background attempt finds it, and callers are served.
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
    const server = await startPostgres({ port });
    try {
      await until('the pool back', async () => ((await pool.query('select 1 as one').scalar()) === 1 ? true : undefined), 10_000);
      expect(await Promise.all(Array.from({ length: 20 }, (_, i) => pool.query('select $1::int as v', [i]).scalar()))).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(pool.stats().unreachableForMs).toBeNull();
    } finally {
      await pool.close();
      await server.stop();
    }
  }, 30_000);
});

describe('no server at all, several pools and views on one host', () => {
  it('while the host is down, one connection attempt to it is in flight across all of them', async () => {
    // When each attempt reached the port: one in flight at a time means each began no
    // sooner than connectTimeout after the one before (the server sees a socket the client
    // gave up on close only later, so counting open sockets would overstate).
    const accepted: number[] = [];
    const { createServer } = await import('node:net');
    const silent = createServer((socket) => {
      accepted.push(performance.now());
      socket.on('error', () => {});
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as import('node:net').AddressInfo).port;
    const url = `postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable`;
    const roots = [0, 1, 2].map(() => new Pool(url, { max: 4, connectTimeout: 200 }));
    pools.push(...roots);
    const all = roots.flatMap((p) => [p, p.primary, p.standby]);
    const load = () => Promise.allSettled(all.flatMap((p) => [1, 2, 3].map(() => p.query('select 1').execute())));
    try {
      // The first attempt of each pool and view races the others (nothing is known yet) ...
      await load();
      expect(roots[0].stats().hosts[0].state).toBe('down');
      // ... from then on, while the host is down, the probes of every pool and view (they
      // retry in the background with backoff) take turns: one attempt in flight at a time.
      const from = accepted.length;
      const outcomes = load();
      await new Promise((r) => setTimeout(r, 1500));
      const window = accepted.slice(from);
      expect(window.length).toBeGreaterThan(1);
      const gaps = window.slice(1).map((t, i) => t - window[i]);
      expect(Math.min(...gaps)).toBeGreaterThanOrEqual(180);
      expect((await outcomes).every((o) => o.status === 'rejected')).toBe(true);
    } finally {
      await Promise.all(roots.map((p) => p.close()));
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  }, 30_000);
});

describe('a host that does not answer', () => {
  it('is tried last for hostRecheck after it failed, so new connections do not each wait it out', async () => {
    let attempts = 0;
    const { createServer } = await import('node:net');
    const silent = createServer((socket) => {
      attempts++;
      socket.on('error', () => {});
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentPort = (silent.address() as import('node:net').AddressInfo).port;
    const server = await startPostgres();
    try {
      const open4 = async (options: { hostRecheck?: number }) => {
        const pool = new Pool(`postgres://postgres@127.0.0.1:${silentPort},127.0.0.1:${server.port}/postgres?sslmode=disable`, { max: 4, connectTimeout: 300, ...options });
        pools.push(pool);
        const held = [];
        const started = Date.now();
        // One after another, each on a new connection.
        for (let i = 0; i < 4; i++) {
          const conn = await pool.reserve();
          await conn.query('select 1').execute();
          held.push(conn);
        }
        const ms = Date.now() - started;
        await Promise.all(held.map((c) => c.release()));
        await pool.close();
        return ms;
      };
      attempts = 0;
      const marked = await open4({});
      expect(attempts).toBe(1);
      expect(marked).toBeLessThan(300 + 3 * 250);
      attempts = 0;
      const unmarked = await open4({ hostRecheck: 0 });
      expect(attempts).toBe(4);
      expect(unmarked).toBeGreaterThanOrEqual(4 * 300);
    } finally {
      await new Promise<void>((resolve) => silent.close(() => resolve()));
      await server.stop();
    }
  }, 30_000);
});

describe('the circuit breaker with a connection still alive', () => {
  it('pool queries go on over the live connection while the server refuses new ones (too many clients)', async () => {
    const server = await startPostgres({ settings: { max_connections: 4, superuser_reserved_connections: 0, reserved_connections: 0 } }).catch(() =>
      // reserved_connections is PostgreSQL 16+.
      startPostgres({ settings: { max_connections: 4, superuser_reserved_connections: 0 } }),
    );
    const other = new Pool(server.url, { max: 3 });
    try {
      const pool = new Pool(server.url, { max: 4 });
      pools.push(pool);
      expect(await pool.query('select 1 as one').scalar()).toBe(1);
      // Every other slot on the server is taken.
      const held = await Promise.all([1, 2, 3].map(() => other.reserve({ timeout: 5000 })));
      await Promise.all(held.map((c) => c.query('select 1').execute()));
      const round = () => Promise.allSettled(Array.from({ length: 20 }, (_, i) => pool.query('select $1::int as v', [i]).scalar()));
      // Callers that tried to open a connection get the server's refusal; the rest pipeline.
      const first = await round();
      const refused = first.filter((r) => r.status === 'rejected');
      expect(refused.length).toBeLessThanOrEqual(3);
      for (const r of refused) expect(String((r as PromiseRejectedResult).reason)).toMatch(/too many clients/);
      // Past the breaker's grace period the live connection still serves everyone: no one is
      // told no server is reachable.
      await new Promise((r) => setTimeout(r, 5500));
      const later = await round();
      expect(later.map((r) => (r.status === 'fulfilled' ? r.value : String(r.reason)))).toEqual(Array.from({ length: 20 }, (_, i) => i));
      await Promise.all(held.map((c) => c.release()));
    } finally {
      await other.close();
      await server.stop();
    }
  }, 30_000);
});
