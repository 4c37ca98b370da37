// pgwarp/pg's own options (`pgwarp: { ... }`), off by default: pgwarp's values instead of pg's,
// and unnamed statements for PgBouncer in transaction mode.
import { afterAll, describe, expect, it } from 'vitest';

import { Pool, type PgwarpOptions } from '../src/pg';
import { databaseUrl } from './helpers';

const pools: Pool[] = [];
const newPool = (pgwarp?: PgwarpOptions) => {
  const pool = new Pool({ connectionString: databaseUrl, max: 2, pgwarp });
  pools.push(pool);
  return pool;
};
afterAll(() => Promise.all(pools.map((p) => p.end())));

const SQL = `select 9007199254741993::int8 as big, 1.50::numeric as price, timestamp '2024-01-02 03:04:05' as at, date '2024-01-02' as day`;

describe('pgwarp/pg options', () => {
  it("default: pg's values", async () => {
    const { rows } = await newPool().query(SQL);
    expect(rows[0].big).toBe('9007199254741993');
    expect(rows[0].at).toEqual(new Date(2024, 0, 2, 3, 4, 5));
    expect(rows[0].day).toEqual(new Date(2024, 0, 2));
  });

  it("values: 'pgwarp' gives pgwarp's own values and calls no parsers", async () => {
    const pool = newPool({ values: 'pgwarp' });
    const { rows } = await pool.query(SQL);
    expect(rows[0]).toEqual({ big: 9007199254741993n, price: '1.50', at: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)), day: '2024-01-02' });
    const asString = newPool({ values: 'pgwarp', int8: 'string' });
    expect((await asString.query('select 5::int8 as n')).rows).toEqual([{ n: '5' }]);
  });

  it('prepare: false runs unnamed statements, with the same values', async () => {
    const pool = newPool({ prepare: false });
    const { rows } = await pool.query('select $1::int4 + 1 as n, $2::text as s', [1, 'x']);
    expect(rows).toEqual([{ n: 2, s: 'x' }]);
    const named = await pool.query(`select count(*)::int as n from pg_prepared_statements`);
    expect(named.rows[0].n).toBe(0);
  });
});
