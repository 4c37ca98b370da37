import { describe, expect, it } from 'vitest';

import { PgwarpError, PostgresError } from '../src';
import { newPool, tableName } from './helpers';

const pool = newPool({ max: 10 });

async function table(columns: string): Promise<string> {
  const t = tableName('tx');
  await pool.query(`create table ${t} (${columns})`).execute();
  return t;
}

describe('pool.transaction()', () => {
  it('commits when the callback resolves and returns its value', async () => {
    const t = await table('a int');
    const out = await pool.transaction(async (tx) => {
      await tx.query(`insert into ${t} values (1), (2)`).execute();
      return tx.query<number>(`select count(*)::int from ${t}`).scalar();
    });
    expect(out).toBe(2);
    expect(await pool.query(`select count(*)::int from ${t}`).scalar()).toBe(2);
  });

  it('rolls back when the callback throws, rethrowing the original error', async () => {
    const t = await table('a int');
    const boom = new Error('boom');
    const err = await pool
      .transaction(async (tx) => {
        await tx.query(`insert into ${t} values (1)`).execute();
        throw boom;
      })
      .catch((e) => e);
    expect(err).toBe(boom);
    expect(await pool.query(`select count(*)::int from ${t}`).scalar()).toBe(0);
  });

  it('runs queries issued without awaiting in issue order', async () => {
    const t = await table('i int');
    const rows = await pool.transaction(async (tx) => {
      const inserts = Array.from({ length: 30 }, (_, i) => tx.query(`insert into ${t} values ($1)`, [i]).execute());
      await Promise.all(inserts);
      return tx.query<{ i: number }>(`select i from ${t} order by ctid`).all();
    });
    expect(rows.map((r) => r.i)).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  it('a savepoint that throws is rolled back and the outer work stays', async () => {
    const t = await table('a text');
    await pool.transaction(async (tx) => {
      await tx.query(`insert into ${t} values ('outer')`).execute();
      await expect(
        tx.savepoint(async (sp) => {
          await sp.query(`insert into ${t} values ('inner')`).execute();
          await sp.query('select 1/0').all();
        }),
      ).rejects.toBeInstanceOf(PostgresError);
      await tx.savepoint((sp) => sp.query(`insert into ${t} values ('kept')`).execute());
    });
    expect((await pool.query<{ a: string }>(`select a from ${t} order by a`).all()).map((r) => r.a)).toEqual(['kept', 'outer']);
  });

  it('nests savepoints to any depth', async () => {
    const t = await table('d int');
    await pool.transaction(async (tx) => {
      const dive = async (sp: typeof tx, depth: number): Promise<void> => {
        await sp.query(`insert into ${t} values ($1)`, [depth]).execute();
        if (depth < 5) await sp.savepoint((inner) => dive(inner, depth + 1));
        if (depth === 3) throw new Error('undo 3 and deeper');
      };
      await dive(tx, 0).catch(() => {});
      await tx.savepoint((sp) => dive(sp, 10));
    });
    // The throw at level 3 propagates through every enclosing savepoint, undoing 5..1; row 0
    // was written by the transaction itself and stays, and the later savepoint's row too.
    const depths = (await pool.query<{ d: number }>(`select d from ${t} order by d`).all()).map((r) => r.d);
    expect(depths).toEqual([0, 10]);
  });

  it('read-only transactions refuse writes', async () => {
    const t = await table('a int');
    const err = await pool.transaction((tx) => tx.query(`insert into ${t} values (1)`).execute(), { readOnly: true }).catch((e) => e);
    expect(err).toBeInstanceOf(PostgresError);
    expect(err.code).toBe('25006');
  });

  it('sets each isolation level (read back from the server)', async () => {
    for (const isolation of ['read committed', 'repeatable read', 'serializable'] as const) {
      const level = await pool.transaction((tx) => tx.query('select current_setting($1)', ['transaction_isolation']).scalar(), { isolation });
      expect(level).toBe(isolation);
    }
    const flags = await pool.transaction(
      (tx) => tx.query(`select current_setting('transaction_read_only') as ro, current_setting('transaction_deferrable') as d`).one(),
      { isolation: 'serializable', readOnly: true, deferrable: true },
    );
    expect(flags).toEqual({ ro: 'on', d: 'on' });
    await expect(pool.transaction(async () => {}, { isolation: 'chaos' as never })).rejects.toThrow(/isolation must be/);
  });

  it('a COMMIT that fails (deferred constraint) is the transaction error, with nothing committed', async () => {
    const t = await table('a int unique deferrable initially deferred');
    const err = await pool
      .transaction(async (tx) => {
        await tx.query(`insert into ${t} values (1), (1)`).execute();
        return 'callback finished';
      })
      .catch((e) => e);
    expect(err).toBeInstanceOf(PostgresError);
    expect(err.code).toBe('23505');
    expect(await pool.query(`select count(*)::int from ${t}`).scalar()).toBe(0);
  });

  it('refuses queries on tx after the transaction ended', async () => {
    let leaked: Parameters<Parameters<typeof pool.transaction>[0]>[0] | undefined;
    await pool.transaction(async (tx) => {
      leaked = tx;
    });
    const err = await leaked!.query('select 1').all().catch((e) => e);
    expect(err).toBeInstanceOf(PgwarpError);
    expect(err.message).toMatch(/transaction has ended \(committed\)/);
  });
});

describe('retries', () => {
  /** Two serializable transactions that each read the table and then insert: write skew. */
  async function conflict(retries: number) {
    const t = await table('v int');
    await pool.query(`insert into ${t} values (1), (2)`).execute();
    let arrived = 0;
    let release!: () => void;
    const bothRead = new Promise<void>((r) => (release = r));
    const run = (v: number) =>
      pool.transaction(
        async (tx) => {
          await tx.query(`select sum(v) from ${t}`).scalar();
          if (++arrived === 2) release();
          await bothRead;
          await tx.query(`insert into ${t} values ($1)`, [v]).execute();
        },
        { isolation: 'serializable', retries },
      );
    const results = await Promise.allSettled([run(10), run(20)]);
    return { results, count: await pool.query<number>(`select count(*)::int from ${t}`).scalar() };
  }

  it('without retries one of two conflicting serializable transactions fails with 40001', async () => {
    const { results, count } = await conflict(0);
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(failed).toHaveLength(1);
    expect(failed[0].reason.code).toBe('40001');
    expect(failed[0].reason.attempts).toBe(1);
    expect(count).toBe(3);
  });

  it('with retries both complete', async () => {
    const { results, count } = await conflict(3);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(count).toBe(4);
  });

  it('bank transfers: the total never changes and each resolved transfer applies once', async () => {
    const accounts = await table('id int primary key, balance int not null check (balance >= 0)');
    const log = await table('id int primary key');
    await pool.query(`insert into ${accounts} select i, 1000 from generate_series(1, 20) i`).execute();
    const outcomes = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        pool
          .transaction(
            async (tx) => {
              const from = (i * 7) % 20 + 1;
              const to = (i * 13 + 5) % 20 + 1;
              const amount = 1 + (i % 50);
              await tx.query(`update ${accounts} set balance = balance - $1 where id = $2`, [amount, from]).execute();
              if (i % 9 === 4) throw new Error(`transfer ${i} gave up`);
              await tx.query(`update ${accounts} set balance = balance + $1 where id = $2`, [amount, to]).execute();
              await tx.query(`insert into ${log} values ($1)`, [i]).execute();
            },
            { isolation: 'serializable', retries: 30 },
          )
          .then(() => i),
      ),
    );
    const resolved = outcomes.filter((o) => o.status === 'fulfilled').map((o) => (o as PromiseFulfilledResult<number>).value);
    const rejected = outcomes.filter((o) => o.status === 'rejected') as PromiseRejectedResult[];
    expect(rejected.every((r) => /gave up/.test(r.reason.message))).toBe(true);
    expect(rejected.length).toBe(Array.from({ length: 50 }, (_, i) => i).filter((i) => i % 9 === 4).length);
    expect(await pool.query<string>(`select sum(balance)::text from ${accounts}`).scalar()).toBe('20000');
    const logged = (await pool.query<{ id: number }>(`select id from ${log} order by id`).all()).map((r) => r.id);
    expect(logged).toEqual(resolved.sort((a, b) => a - b));
  });
});

describe('hygiene', () => {
  it('after 1,000 transactions with random errors nothing is reserved, in flight or waiting', async () => {
    const p = newPool({ max: 4 });
    const t = tableName('tx');
    await p.query(`create table ${t} (a int)`).execute();
    let failures = 0;
    await Promise.all(
      Array.from({ length: 8 }, async (_, loop) => {
        for (let i = 0; i < 125; i++) {
          await p
            .transaction(async (tx) => {
              await tx.query(`insert into ${t} values ($1)`, [i]).execute();
              if ((i + loop) % 4 === 0) throw new Error('callback failed');
              if ((i + loop) % 7 === 0) await tx.query('select 1/0').all();
              if ((i + loop) % 11 === 0) await tx.savepoint((sp) => sp.query('select 1/0').all()).catch(() => {});
            })
            .catch(() => failures++);
        }
      }),
    );
    expect(failures).toBeGreaterThan(0);
    expect(p.stats()).toMatchObject({ inFlight: 0, waiting: 0, connections: { reserved: 0 } });
    expect(await p.query<number>(`select count(*)::int from ${t}`).scalar()).toBe(1000 - failures);
  });
});
