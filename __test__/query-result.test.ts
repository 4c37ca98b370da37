import { describe, expect, it } from 'vitest';

import { QueryResultError } from '../src';
import { newPool, tableName } from './helpers';

const pool = newPool();

describe('QueryResult', () => {
  it('all() and awaiting the result give every row', async () => {
    const rows = await pool.query<{ n: number }>('select generate_series(1, 3) as n');
    expect(rows).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(await pool.query('select generate_series(1, 2) as n').all()).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('one() returns exactly one row and says how many came otherwise', async () => {
    expect(await pool.query('select 1 as a').one()).toEqual({ a: 1 });
    await expect(pool.query('select 1 where false').one()).rejects.toThrow(/expected exactly 1 row, got 0/);
    const err = await pool.query('select generate_series(1, 5)').one().catch((e) => e);
    expect(err).toBeInstanceOf(QueryResultError);
    expect(err.message).toMatch(/got 5/);
    expect(err.rowCount).toBe(5);
  });

  it('first() gives the first row or null', async () => {
    expect(await pool.query('select generate_series(7, 9) as n').first()).toEqual({ n: 7 });
    expect(await pool.query('select 1 where false').first()).toBeNull();
  });

  it('scalar() gives the first column of the first row or null', async () => {
    expect(await pool.query('select 42 as a, 43 as b').scalar()).toBe(42);
    expect(await pool.query('select 1 where false').scalar()).toBeNull();
    expect(await pool.query('select null::int').scalar()).toBeNull();
  });

  it('model() uses parse() when present and new otherwise', async () => {
    const schema = { parse: (row: { a: number }) => ({ doubled: row.a * 2 }) };
    expect(await pool.query<{ a: number }>('select 21 as a').model(schema)).toEqual([{ doubled: 42 }]);
    class Thing {
      a: number;
      constructor(row: { a: number }) {
        this.a = row.a;
      }
      twice() {
        return this.a * 2;
      }
    }
    const things = await pool.query<{ a: number }>('select 5 as a union all select 6').model(Thing);
    expect(things.map((t) => t.twice())).toEqual([10, 12]);
    expect(things[0]).toBeInstanceOf(Thing);
  });

  it('execute() reports the command and row count', async () => {
    const t = tableName();
    expect(await pool.query(`create table ${t} (a int)`).execute()).toEqual({ command: 'CREATE TABLE', rowCount: 0, tag: 'CREATE TABLE' });
    expect(await pool.query(`insert into ${t} select generate_series(1, 4)`).execute()).toEqual({ command: 'INSERT', rowCount: 4, tag: 'INSERT 0 4' });
    expect(await pool.query(`update ${t} set a = a + 1 where a > 2`).execute()).toEqual({ command: 'UPDATE', rowCount: 2, tag: 'UPDATE 2' });
    expect(await pool.query(`delete from ${t}`).execute()).toEqual({ command: 'DELETE', rowCount: 4, tag: 'DELETE 4' });
    await pool.query(`drop table ${t}`).execute();
  });

  it('rowMode array gives arrays in column order', async () => {
    expect(await pool.query('select 1 as a, $1::text as b', ['x'], { rowMode: 'array' })).toEqual([[1, 'x']]);
  });

  it('is lazy: nothing runs until a terminal method is called', async () => {
    const t = tableName();
    await pool.query(`create table ${t} (a int)`).execute();
    const pending = pool.query(`insert into ${t} values (1)`);
    await new Promise((r) => setTimeout(r, 50));
    expect(await pool.query(`select count(*)::int from ${t}`).scalar()).toBe(0);
    await pending.execute();
    expect(await pool.query(`select count(*)::int from ${t}`).scalar()).toBe(1);
    // Runs once: the same method again shares the run, another method is refused.
    await expect(pending.execute()).resolves.toEqual({ command: 'INSERT', rowCount: 1, tag: 'INSERT 0 1' });
    await expect(pending.all()).rejects.toThrow(/already ran with execute\(\)/);
    expect(await pool.query(`select count(*)::int from ${t}`).scalar()).toBe(1);
    await pool.query(`drop table ${t}`).execute();
  });

  it('handles duplicate and hostile column names', async () => {
    const row = await pool.query(`select 1 as "__proto__", 2 as "a""b", 3 as "x", 4 as "x", 5 as "}); throw 1; ({"`).one();
    expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
    expect(Object.keys(row)).toEqual(['__proto__', 'a"b', 'x', '}); throw 1; ({']);
    expect((row as Record<string, unknown>).x).toBe(4);
  });

  it('decodes results without columns and empty results', async () => {
    expect(await pool.query('select from generate_series(1, 2)')).toEqual([{}, {}]);
    expect(await pool.query('select 1 as a where false')).toEqual([]);
  });

  it('adapts when a cached statement result type changes', async () => {
    const t = tableName();
    await pool.query(`create table ${t} (a int)`).execute();
    await pool.query(`insert into ${t} values (1)`).execute();
    expect(await pool.query(`select * from ${t}`)).toEqual([{ a: 1 }]);
    await pool.query(`alter table ${t} add column b text default 'x'`).execute();
    expect(await pool.query(`select * from ${t}`)).toEqual([{ a: 1, b: 'x' }]);
    await pool.query(`drop table ${t}`).execute();
  });
});
