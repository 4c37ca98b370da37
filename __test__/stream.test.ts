/**
 * `stream()` and the result-size guard (`maxRows`, `maxBytes`) against the real server.
 * Long results put generate_series in the select list, where the server produces rows as
 * they are read (in FROM, it would build the whole set before the first row).
 */
import { describe, expect, it } from 'vitest';

import { PgwarpError, PostgresError, ResultTooLargeError } from '../src';
import { newPool, tableName } from './helpers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Stats of a pool whose work has all ended: nothing reserved, running or waiting. */
const settled = { connections: { reserved: 0, busy: 0 }, inFlight: 0, waiting: 0 };

async function waitSettled(pool: ReturnType<typeof newPool>, ms: number): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    const s = pool.stats();
    if (s.connections.reserved === 0 && s.connections.busy === 0 && s.inFlight === 0) return Date.now() - t0;
    await sleep(5);
  }
  return Infinity;
}

describe('stream()', () => {
  it('streams 2,000,000 rows to a slow consumer with flat memory', async () => {
    const pool = newPool({ max: 1 });
    const sql = `select g as id, 'row number ' || g as label, g * 1.5::float8 as x, now() as at
                   from generate_series(1, 2000000) g`;
    // Warm the decoder and the connection, so the baseline is the steady state.
    for await (const row of pool.query(sql).stream()) if ((row as { id: number }).id > 20_000) break;
    const base = process.memoryUsage().rss;
    let peak = base;
    let count = 0;
    let sum = 0;
    let last: { id: number; label: string; x: number } | undefined;
    for await (const row of pool.query<{ id: number; label: string; x: number; at: Date }>(sql).stream()) {
      count++;
      sum += row.id;
      last = row;
      if (count % 10_000 === 0) {
        peak = Math.max(peak, process.memoryUsage().rss);
        await sleep(1);
      }
    }
    expect(count).toBe(2_000_000);
    expect(sum).toBe((2_000_000 * 2_000_001) / 2);
    expect(last).toMatchObject({ id: 2_000_000, label: 'row number 2000000', x: 3_000_000 });
    const growthMb = (peak - base) / 2 ** 20;
    console.log(`stream of 2M rows: RSS grew by ${growthMb.toFixed(1)} MB`);
    expect(growthMb, `RSS grew by ${growthMb.toFixed(1)} MB`).toBeLessThan(100);
    expect(pool.stats()).toMatchObject(settled);
  }, 120_000);

  it('break after 10 rows cancels the query and returns the connection within a second', async () => {
    const pool = newPool({ max: 1 });
    const ids: number[] = [];
    for await (const row of pool.query<{ id: number }>('select generate_series(1, 100000000) as id').stream({ batchSize: 100 })) {
      ids.push(row.id);
      if (ids.length === 10) break;
    }
    const t0 = Date.now();
    const took = await waitSettled(pool, 1000);
    expect(ids).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(took, 'ms until the connection was idle').toBeLessThan(1000);
    expect(pool.stats()).toMatchObject({ ...settled, connections: { total: 1, idle: 1 } });
    // The same connection answers at once: the 100M-row query is no longer running.
    expect(await pool.query<number>('select 42').scalar()).toBe(42);
    expect(Date.now() - t0).toBeLessThan(1000);
    const running = await pool.query<number>("select count(*)::int from pg_stat_activity where query like '%100000000%' and state = 'active' and pid <> pg_backend_pid()").scalar();
    expect(running).toBe(0);
  });

  it('an error half-way is thrown from the loop, and the pool goes on', async () => {
    const pool = newPool({ max: 1 });
    let count = 0;
    const run = async () => {
      for await (const row of pool.query<{ v: number }>('select 1 / (500000 - generate_series(1, 1000000)) as v').stream()) {
        if (typeof row.v !== 'number') throw new Error(`row ${count} is ${String(row.v)}`);
        count++;
      }
    };
    const err = await run().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PostgresError);
    expect((err as PostgresError).code).toBe('22012');
    // Rows before the failing one came through; the server fails before sending row 500,000.
    expect(count).toBeGreaterThan(400_000);
    expect(count).toBeLessThan(500_000);
    expect(await waitSettled(pool, 1000)).toBeLessThan(1000);
    expect(await pool.query<number>('select 1').scalar()).toBe(1);
  }, 60_000);

  it('a throw in the loop stops the query and rethrows', async () => {
    const pool = newPool({ max: 1 });
    const boom = new Error('consumer failed');
    const err = await (async () => {
      for await (const row of pool.query<{ g: number }>('select generate_series(1, 10000000) as g').stream()) {
        if (row.g === 5) throw boom;
      }
    })().catch((e: unknown) => e);
    expect(err).toBe(boom);
    expect(await waitSettled(pool, 1000)).toBeLessThan(1000);
    expect(await pool.query<number>('select 2').scalar()).toBe(2);
  });

  it('works in a transaction, and stopping early keeps the transaction', async () => {
    const pool = newPool({ max: 2 });
    const t = tableName('stream_tx');
    await pool.query(`create table ${t} (id int primary key)`).execute();
    const seen = await pool.transaction(async (tx) => {
      await tx.query(`insert into ${t} select generate_series(1, 50000)`).execute();
      const ids: number[] = [];
      for await (const row of tx.query<{ id: number }>(`select id from ${t} order by id`).stream({ batchSize: 10 })) {
        ids.push(row.id);
        if (ids.length === 25) break;
      }
      // The transaction goes on after the cancelled stream.
      await tx.query(`insert into ${t} values (0)`).execute();
      let all = 0;
      for await (const _ of tx.query(`select id from ${t}`).stream()) all++;
      return { ids, all };
    });
    expect(seen.ids).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(seen.all).toBe(50_001);
    expect(await pool.query<number>(`select count(*)::int from ${t}`).scalar()).toBe(50_001);
    expect(pool.stats()).toMatchObject(settled);
  });

  it('an empty result ends at once; one page ends without a round trip more', async () => {
    const pool = newPool();
    const none: unknown[] = [];
    for await (const row of pool.query('select 1 where false').stream()) none.push(row);
    expect(none).toEqual([]);
    const rows: unknown[] = [];
    for await (const row of pool.query('select g from generate_series(1, 3) g').stream()) rows.push(row);
    expect(rows).toEqual([{ g: 1 }, { g: 2 }, { g: 3 }]);
    expect(pool.stats()).toMatchObject(settled);
  });

  it('refuses a bad batchSize, and running a query twice', async () => {
    const pool = newPool();
    expect(() => pool.query('select 1').stream({ batchSize: 0 })).toThrow(PgwarpError);
    const q = pool.query('select 1');
    await q.all();
    expect(() => q.stream()).toThrow(/already ran with all\(\)/);
  });
});

describe('maxRows / maxBytes', () => {
  it('a pool maxRows rejects a larger buffered result with ResultTooLargeError, and the pool goes on', async () => {
    const pool = newPool({ max: 1, maxRows: 1000 });
    expect(await pool.query('select g from generate_series(1, 1000) g')).toHaveLength(1000);
    const err = await pool
      .query('select generate_series(1, 10000000) as g')
      .all()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResultTooLargeError);
    expect(err).toMatchObject({ limit: 'maxRows', max: 1000 });
    expect((err as Error).message).toMatch(/maxRows \(1000\).*stream\(\)/);
    // The 10M-row query was cancelled, not read to its end: the connection answers at once.
    const t0 = Date.now();
    expect(await pool.query<number>('select 5').scalar()).toBe(5);
    expect(Date.now() - t0).toBeLessThan(1000);
    // Per query: lifted, or lowered.
    expect(await pool.query('select g from generate_series(1, 5000) g', [], { maxRows: 0 })).toHaveLength(5000);
    await expect(pool.query('select g from generate_series(1, 11) g', [], { maxRows: 10 }).all()).rejects.toThrow(ResultTooLargeError);
    // first(), one() and scalar() buffer no more than a row; stream() is not limited.
    expect(await pool.query<{ g: number }>('select g from generate_series(1, 5000) g').first()).toEqual({ g: 1 });
    let n = 0;
    for await (const _ of pool.query('select g from generate_series(1, 5000) g').stream()) n++;
    expect(n).toBe(5000);
    expect(pool.stats()).toMatchObject(settled);
  });

  it('maxBytes rejects a result whose row data passes it', async () => {
    const pool = newPool({ max: 1 });
    const err = await pool
      .query("select repeat('x', 1000) as s from generate_series(1, 10000)", [], { maxBytes: 1_000_000 })
      .all()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResultTooLargeError);
    expect(err).toMatchObject({ limit: 'maxBytes', max: 1_000_000 });
    expect(await pool.query("select repeat('x', 1000) as s from generate_series(1, 100)", [], { maxBytes: 1_000_000 })).toHaveLength(100);
    expect(await pool.query<number>('select 6').scalar()).toBe(6);
  });

  it('refuses invalid limits', () => {
    expect(() => newPool({ maxRows: -1 })).toThrow(/maxRows must be an integer/);
    const pool = newPool();
    expect(() => pool.query('select 1', [], { maxBytes: 1.5 })).toThrow(/maxBytes must be an integer/);
  });
});
