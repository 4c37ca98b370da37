// Transaction and session state come from the server: nothing one caller leaves behind reaches
// the next, and nothing is acknowledged that does not stay. Each case checks, from a fresh
// pool, exactly which writes were committed.
import { describe, expect, it } from 'vitest';

import { ParameterError, Pool, PostgresError, RolledBackError } from '../src';
import { databaseUrl, newPool, tableName } from './helpers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The rows of `t`, as a fresh pool (another session, after everything closed) sees them. */
async function committed(t: string): Promise<string[]> {
  const fresh = new Pool(databaseUrl);
  try {
    return (await fresh.query<{ v: string }>(`select v from ${t} order by v`)).map((r) => r.v);
  } finally {
    await fresh.close();
  }
}

async function table(): Promise<string> {
  const t = tableName('state');
  const setup = new Pool(databaseUrl);
  await setup.query(`create table ${t} (v text)`).execute();
  await setup.close();
  return t;
}

describe('a released connection is rolled back when the server says a transaction is open', () => {
  const leftOpen: [string, string[]][] = [
    ['savepoint and rollback to savepoint', ['begin', 'savepoint a', 'rollback to savepoint a']],
    ['commit and chain', ['begin', "insert into T values ('chained')", 'commit and chain']],
    ['rollback and chain', ['begin', 'rollback and chain']],
    ['start transaction', ['start transaction isolation level repeatable read']],
    ['a leading comment before begin', ['/* why */ -- not\n  BeGiN']],
    ['a failed statement inside', ['begin', "insert into T values ('failed tx')", 'select 1/0']],
    ['abandoned work', ['begin', "insert into T values ('abandoned')"]],
  ];
  for (const [name, statements] of leftOpen) {
    it(name, async () => {
      const t = await table();
      const pool = newPool({ max: 1 });
      const c = await pool.reserve();
      for (const sql of statements) await c.query(sql.replace(' T ', ` ${t} `)).execute().catch(() => {});
      await c.release();
      expect(await pool.query(`insert into ${t} values ('next')`).execute()).toMatchObject({ command: 'INSERT', rowCount: 1 });
      await pool.close();
      const rows = await committed(t);
      // `commit and chain` committed its row before chaining; the rest was never committed.
      expect(rows).toEqual(name === 'commit and chain' ? ['chained', 'next'] : ['next']);
    });
  }

  it('work abandoned on release is not committed by the next caller’s transaction', async () => {
    const t = await table();
    const pool = newPool({ max: 1 });
    const c = await pool.reserve();
    await c.query('begin').execute();
    await c.query(`insert into ${t} values ('abandoned')`).execute();
    await c.release();
    await pool.transaction(async (tx) => {
      await tx.query(`insert into ${t} values ('mine')`).execute();
    });
    await pool.close();
    expect(await committed(t)).toEqual(['mine']);
  });
});

describe('pool.transaction() resolves only if the server committed', () => {
  it('a caught failure makes COMMIT a ROLLBACK: it rejects, with the failure as cause', async () => {
    const t = await table();
    const pool = newPool({ max: 1 });
    const err = await pool
      .transaction(async (tx) => {
        await tx.query(`insert into ${t} values ('y')`).execute();
        await tx.query('select 1/0').execute().catch(() => {});
        return 'ok';
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RolledBackError);
    expect((err as Error).message).toMatch(/rolled back.*ROLLBACK/);
    expect((err as Error).cause).toBeInstanceOf(PostgresError);
    expect(((err as Error).cause as PostgresError).code).toBe('22012');
    // The connection is fine afterwards and the next transaction commits.
    await pool.transaction((tx) => tx.query(`insert into ${t} values ('z')`).execute());
    expect(await committed(t)).toEqual(['z']);
  });

  it('a failure inside a savepoint that was rolled back to does not doom the transaction', async () => {
    const t = await table();
    const pool = newPool({ max: 1 });
    await pool.transaction(async (tx) => {
      await tx.query(`insert into ${t} values ('outer')`).execute();
      await tx.savepoint((sp) => sp.query('select 1/0').execute()).catch(() => {});
    });
    expect(await committed(t)).toEqual(['outer']);
  });

  it('concurrent savepoints run one after another: one that resolved is never undone', async () => {
    const t = await table();
    const pool = newPool({ max: 1 });
    const outcomes = await pool.transaction((tx) =>
      Promise.all([
        tx
          .savepoint(async (sp) => {
            await sp.query(`insert into ${t} values ('a')`).execute();
            await sleep(150);
            throw new Error('a');
          })
          .catch((e: Error) => e.message),
        tx.savepoint(async (sp) => {
          await sp.query(`insert into ${t} values ('b')`).execute();
          await sleep(30);
          return 'b ok';
        }),
      ]),
    );
    expect(outcomes).toEqual(['a', 'b ok']);
    expect(await committed(t)).toEqual(['b']);
  });

  it('a query on tx while a savepoint is open is refused, naming the savepoint’s handle', async () => {
    const pool = newPool({ max: 1 });
    const err = await pool
      .transaction((tx) => tx.savepoint(() => tx.query('select 1').all()))
      .catch((e: unknown) => e);
    expect(String(err)).toMatch(/savepoint pgwarp_sp_1_1 is open.*sp/);
  });

  it('a hand-written COMMIT of a failed transaction reports ROLLBACK, as the server says', async () => {
    const pool = newPool({ max: 1 });
    await using c = await pool.reserve();
    await c.query('begin').execute();
    await c.query('select 1/0').execute().catch(() => {});
    expect(await c.query('commit').execute()).toEqual({ command: 'ROLLBACK', rowCount: 0, tag: 'ROLLBACK' });
  });
});

describe('the shared, pipelined path', () => {
  it('refuses transaction control and session state before anything is sent, naming the tool', async () => {
    const pool = newPool();
    for (const [sql, tool] of [
      ['begin', 'pool.transaction('],
      ['  -- x\n START TRANSACTION', 'pool.transaction('],
      ['commit', 'pool.reserve()'],
      ['savepoint a', 'pool.transaction('],
      ['set role postgres', 'onConnect'],
      ["set search_path = 'x'", 'SET LOCAL inside pool.transaction()'],
      ['listen ch', 'pool.reserve()'],
      ['discard all', 'onConnect'],
    ] as const) {
      const err = await pool.query(sql).execute().catch((e: unknown) => e);
      expect(err, sql).toBeInstanceOf(ParameterError);
      expect((err as Error).message, sql).toContain(tool);
    }
    // Nothing was sent: no connection was even opened.
    expect(pool.stats().counters.created).toBe(0);
  });

  it('without that check, a BEGIN that reaches the server fails, and so does everything pipelined behind it; nothing acknowledged is lost', async () => {
    const t = await table();
    process.env.PGWARP_TEST_SKIP_SHARED_GUARD = '1';
    const pool = new Pool(databaseUrl, { max: 1 });
    delete process.env.PGWARP_TEST_SKIP_SHARED_GUARD;
    try {
      await pool.query('select 1').all(); // one open connection, so everything below pipelines on it
      // Both statements prepared on it beforehand, so BEGIN and the inserts behind it leave in
      // one write, before any answer (a first-time prepare would hold the rest back a round trip).
      const warm = await pool.reserve();
      await warm.query('begin').execute();
      await warm.query(`insert into ${t} values ($1)`, ['warm']).execute();
      await warm.query('rollback').execute();
      await warm.release();
      const insert = (v: string) => pool.query(`insert into ${t} values ($1)`, [v]).execute();
      const values = Array.from({ length: 20 }, (_, i) => `w${String(i).padStart(2, '0')}`);
      const writes = [...values.slice(0, 10).map(insert), pool.query('begin').execute(), ...values.slice(10).map(insert)];
      const outcomes = await Promise.allSettled(writes);
      const beginError = (outcomes[10] as PromiseRejectedResult).reason;
      expect(beginError).toBeInstanceOf(RolledBackError);
      expect(beginError.message).toMatch(/left the shared connection inside a transaction/);
      const acknowledged = values.filter((_, i) => outcomes[i < 10 ? i : i + 1].status === 'fulfilled');
      const behind = outcomes.filter((o) => o.status === 'rejected' && /pipelined before this one/.test(String(o.reason)));
      expect(behind.length).toBeGreaterThan(0);
      // The pool goes on with a new connection.
      expect(await pool.query(`insert into ${t} values ('later')`).execute()).toMatchObject({ rowCount: 1 });
      await pool.close();
      // Exactly the acknowledged writes stayed.
      expect(await committed(t)).toEqual([...acknowledged, 'later'].sort());
    } finally {
      await pool.close();
    }
  });
});

describe('session state does not reach the next caller', () => {
  it('search_path, application_name, role, an advisory lock, a LISTEN, a cursor and a temp table are reset', async () => {
    const pool = newPool({ max: 1, statementTimeout: 12345 });
    const probe = `select current_setting('search_path') as search_path, current_setting('application_name') as app,
      current_user::text as "user", current_setting('statement_timeout') as timeout,
      (select count(*)::int from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()) as locks,
      (select count(*)::int from pg_listening_channels()) as listens,
      (select count(*)::int from pg_cursors) as cursors,
      (select count(*)::int from pg_class where relnamespace = pg_my_temp_schema()) as temps,
      pg_backend_pid() as pid`;
    const clean = await pool.query(probe).one();
    const dirty = await pool.reserve();
    await dirty.query("set search_path = 'elsewhere'").execute();
    await dirty.query("set application_name = 'dirty'").execute();
    await dirty.query('select pg_advisory_lock(4242)').execute();
    await dirty.query('listen pgwarp_test_channel').execute();
    await dirty.query('declare held cursor with hold for select 1').execute();
    await dirty.query('create temp table scratch (a int)').execute();
    await dirty.query('set role pg_monitor').execute();
    // pg_cursors also lists the probe's own portal.
    expect(await dirty.query(probe).one()).toMatchObject({ search_path: 'elsewhere', app: 'dirty', user: 'pg_monitor', locks: 1, listens: 1, cursors: (clean.cursors as number) + 1, temps: 1 });
    const resetsBefore = pool.stats().counters.resets;
    await dirty.release();
    const next = await pool.reserve();
    const after = await next.query(probe).one();
    // The release is sent, not waited for; the next holder's statement came after its reset.
    expect(pool.stats().counters.resets).toBe(resetsBefore + 1);
    await next.release();
    expect(after).toEqual(clean);
    expect(after).toMatchObject({ timeout: '12345ms', locks: 0, listens: 0, temps: 0 });
  });

  it('a release costs no round trip: the next reservation gets the same connection, reset, with no new one opened', async () => {
    const pool = newPool({ max: 4 });
    const first = await pool.reserve();
    const pid = await first.query('select pg_backend_pid()').scalar();
    await first.query("set application_name = 'left behind'").execute();
    await first.query('begin').execute();
    const xid = await first.query('select txid_current()::text').scalar();
    expect(xid).toMatch(/^\d+$/);
    // Not awaited, as pg's synchronous release() is used: the reservation goes out in the same batch.
    const released = first.release();
    const next = await pool.reserve();
    // The same backend, rolled back and reset (a new connection would have another pid).
    expect(await next.query("select pg_backend_pid() as pid, current_setting('application_name') as app").one()).toEqual({ pid, app: '' });
    // Not inside the transaction the first holder left open.
    expect(await next.query('select txid_current_if_assigned()').scalar()).toBe(null);
    await released;
    expect(pool.stats().connections.total).toBe(1);
    await next.release();
  });

  it('a reset that fails closes the connection: what was pipelined behind it never reads a session left as it was', async () => {
    const admin = newPool({ max: 1 });
    const role = `pgwarp_reset_${process.pid}`;
    await admin.query(`drop role if exists ${role}`).execute();
    await admin.query(`create role ${role}`).execute();
    try {
      // onConnect's role is set again by every reset: dropping the role makes the reset fail.
      const pool = newPool({ max: 1, onConnect: (conn) => conn.query(`set role ${role}`).execute() });
      const held = await pool.reserve();
      const pid = await held.query('select pg_backend_pid()').scalar();
      await held.query("set application_name = 'left behind'").execute();
      await admin.query(`drop role ${role}`).execute();
      const released = held.release();
      // Pipelined behind the reset on the only connection.
      const behind = await pool.query('select pg_backend_pid() as pid').scalar().then(
        (p) => ({ ran: p }),
        (e: Error) => ({ failed: e.message }),
      );
      await released;
      // Either it failed with the connection, or it ran on a new one; never on the old session.
      if ('ran' in behind) expect(behind.ran).not.toBe(pid);
      else expect(behind.failed).toMatch(/session reset|closed|connection|onConnect/i);
      await admin.query(`create role ${role}`).execute();
      const after = await pool.query('select pg_backend_pid() as pid, current_user as who').one();
      expect(after.pid).not.toBe(pid);
      expect(after.who).toBe(role);
      await pool.close();
    } finally {
      await admin.query(`drop role if exists ${role}`).execute();
    }
  });

  it('what onConnect set is set again after a reset; a clean release costs no reset', async () => {
    const pool = newPool({
      max: 1,
      onConnect: (conn) => conn.query("set search_path = 'from_on_connect', public").execute(),
    });
    expect(await pool.query('show search_path').scalar()).toBe('from_on_connect, public');
    const c = await pool.reserve();
    await c.query("set search_path = 'changed'").execute();
    await c.release();
    expect(await pool.query('show search_path').scalar()).toBe('from_on_connect, public');
    const resets = pool.stats().counters.resets;
    await pool.transaction(async (tx) => {
      await tx.savepoint(async () => {});
    });
    const idle = await pool.reserve();
    await idle.release();
    expect(pool.stats().counters.resets).toBe(resets);
  });
});

describe('execute() reports what the server says the statement did', () => {
  it('WITH ... INSERT, MERGE, COPY, CREATE TABLE and SELECT give their own tags', async () => {
    const pool = newPool();
    const t = tableName('tags');
    expect(await pool.query(`create table ${t} (id int primary key, v text)`).execute()).toEqual({ command: 'CREATE TABLE', rowCount: 0, tag: 'CREATE TABLE' });
    expect(await pool.query(`with src as (select g from generate_series(1, 3) g) insert into ${t} select g, 'x' from src`).execute()).toEqual({ command: 'INSERT', rowCount: 3, tag: 'INSERT 0 3' });
    const merged = await pool.query(`merge into ${t} using (values (1), (9)) s(id) on ${t}.id = s.id when matched then update set v = 'm' when not matched then insert values (s.id, 'n')`).execute();
    expect(merged).toEqual({ command: 'MERGE', rowCount: 2, tag: 'MERGE 2' });
    expect(await pool.query(`copy ${t} from '/dev/null'`).execute()).toEqual({ command: 'COPY', rowCount: 0, tag: 'COPY 0' });
    expect(await pool.query(`select * from ${t}`).execute()).toEqual({ command: 'SELECT', rowCount: 4, tag: 'SELECT 4' });
    expect(await pool.query(`select * from ${t} where id = $1`, [9]).one()).toEqual({ id: 9, v: 'n' });
  });
});

describe('the statement cache follows the server', () => {
  it('DISCARD ALL and DEALLOCATE on a reserved connection empty it; a statement gone behind its back is prepared again', async () => {
    const pool = newPool({ max: 1 });
    const c = await pool.reserve();
    const q = () => c.query<number>('select $1::int + 1 as n', [1]).scalar();
    expect(await q()).toBe(2);
    await c.query('discard all').execute();
    expect(await q()).toBe(2);
    await c.query('deallocate all').execute();
    expect(await q()).toBe(2);
    // A function drops every prepared statement without a tag that says so: the next use
    // fails with 26000 at Bind, and is prepared again and retried once.
    await c.query("do $$ begin execute 'deallocate all'; end $$").execute();
    expect(await q()).toBe(2);
    await c.release();
    expect(await pool.query<number>('select $1::int + 1 as n', [2]).scalar()).toBe(3);
  });

  it('a table altered under a prepared statement: "cached plan must not change result type" (0A000) is prepared again, not failed', async () => {
    const pool = newPool({ max: 1 });
    const t = tableName('altered');
    await pool.query(`create table ${t} (id int)`).execute();
    await pool.query(`insert into ${t} values (1)`).execute();
    const q = () => pool.query(`select * from ${t}`).all();
    expect(await q()).toEqual([{ id: 1 }]);
    expect(await q()).toEqual([{ id: 1 }]);
    await pool.query(`alter table ${t} add column note text default 'x'`).execute();
    expect(await q()).toEqual([{ id: 1, note: 'x' }]);
    await pool.query(`alter table ${t} add column more int default 2`).execute();
    expect(await q()).toEqual([{ id: 1, note: 'x', more: 2 }]);
  });
});

describe('what the review found', () => {
  it('a COPY FROM STDIN through query() on a reserved connection never hands anyone another’s answer', async () => {
    const pool = newPool({ max: 1 });
    const t = tableName('copy_q');
    await pool.query(`create table ${t} (a int)`).execute();
    const c = await pool.reserve();
    const outcomes = await Promise.allSettled([c.query(`copy ${t} from stdin`).execute(), c.query('select 1 as a').all(), c.query('select 2 as b').all()]);
    expect(outcomes[0].status).toBe('rejected');
    expect(String((outcomes[0] as PromiseRejectedResult).reason)).toMatch(/COPY/);
    if (outcomes[1].status === 'fulfilled') expect(outcomes[1].value).toEqual([{ a: 1 }]);
    if (outcomes[2].status === 'fulfilled') expect(outcomes[2].value).toEqual([{ b: 2 }]);
    await c.release();
    expect(await pool.query('select 3 as c').all()).toEqual([{ c: 3 }]);
    await expect(pool.query(`;copy ${t} from stdin`).execute()).rejects.toThrow(/copyIn\(\)/);
  });

  it('copyIn() of a script with a second COPY, or a COPY after a SELECT, fails instead of hanging', async () => {
    const pool = newPool({ max: 1 });
    const a = tableName('copy_a');
    await pool.query(`create table ${a} (x int)`).execute();
    await expect(pool.copyIn(`copy ${a} from stdin; copy ${a} from stdin`, ['1\n'])).rejects.toThrow(/COPY/);
    await expect(pool.copyIn(`select 1; copy ${a} from stdin`, ['1\n'])).rejects.toThrow(/not a COPY/);
    await expect(pool.copyOut(`copy ${a} from stdin`).toArray()).rejects.toThrow(/not a COPY/);
    expect(await pool.query<number>(`select count(*)::int from ${a}`).scalar()).toBe(0);
    expect(await pool.copyIn(`copy ${a} from stdin`, ['1\n2\n'])).toBe(2);
  });

  it('a query on a reserved connection inside its own stream is refused, not a hang', async () => {
    const pool = newPool({ max: 1 });
    const c = await pool.reserve();
    let err: unknown;
    for await (const _row of c.query('select g from generate_series(1, 200000) g').stream({ batchSize: 100 })) {
      err = await c.query('select 1').all().catch((e: unknown) => e);
      break;
    }
    expect(String(err)).toMatch(/stream\(\) or COPY on this connection has not finished/);
    expect(await c.query<number>('select 7').scalar()).toBe(7);
    await c.release();
  });

  it('statements stopped early (maxRows) and copyOut on a reserved connection still get the session reset', async () => {
    const pool = newPool({ max: 1 });
    const locks = "select count(*)::int from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()";
    const c = await pool.reserve();
    await expect(c.query('select pg_advisory_lock(77), g from generate_series(1, 100000) g', [], { maxRows: 10 }).all()).rejects.toThrow(/maxRows/);
    expect(await c.query<number>(locks).scalar()).toBe(1);
    await c.release();
    const d = await pool.reserve();
    expect(await d.query<number>(locks).scalar()).toBe(0);
    await d.copyOut('copy (select pg_advisory_lock(78)) to stdout').toArray();
    await d.release();
    expect(await pool.query<number>(locks).scalar()).toBe(0);
  });

  it('a query on tx issued before a savepoint runs outside it; one issued once it is sent is refused', async () => {
    const t = await table();
    const pool = newPool({ max: 1 });
    const [undone, during] = await pool.transaction(async (tx) => {
      const sp = tx
        .savepoint(async (inner) => {
          await inner.query(`insert into ${t} values ('in savepoint')`).execute();
          throw new Error('undo');
        })
        .catch((e: Error) => e.message);
      // Issued before the savepoint's SAVEPOINT goes out: it runs (and stays) outside it.
      const before = tx.query(`insert into ${t} values ('before')`).execute();
      await new Promise((r) => setImmediate(r));
      const refused = await tx.query('select 1').all().catch((e: unknown) => e);
      await before;
      return [await sp, refused];
    });
    expect(undone).toBe('undo');
    expect(String(during)).toMatch(/savepoint pgwarp_sp_1_1 is open/);
    expect(await committed(t)).toEqual(['before']);
  });

  it('a savepoint whose callback caught a failure is rolled back, with the failure as cause', async () => {
    const t = await table();
    const pool = newPool({ max: 1 });
    const inner = await pool.transaction(async (tx) => {
      await tx.query(`insert into ${t} values ('outer')`).execute();
      return tx
        .savepoint(async (sp) => {
          await sp.query(`insert into ${t} values ('inner')`).execute();
          await sp.query('select 1/0').execute().catch(() => {});
        })
        .catch((e: unknown) => e);
    });
    expect(inner).toBeInstanceOf(RolledBackError);
    expect(((inner as Error).cause as PostgresError).code).toBe('22012');
    expect(await committed(t)).toEqual(['outer']);
  });
});
