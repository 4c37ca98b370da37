// Scripts (`exec`) and result metadata (`columns`, `command`, `rowCount`) against the real server.
import { describe, expect, it } from 'vitest';

import { PostgresError } from '../src';
import { newPool, tableName } from './helpers';

const pool = newPool({ max: 2 });

describe('exec(): scripts of many statements', () => {
  it('runs a script whole, function bodies with semicolons and DO blocks included', async () => {
    const t = tableName('script');
    const done = await pool.exec(`
      create table ${t} (id int primary key, note text);
      create function ${t}_fill(n int) returns int language plpgsql as $$
        declare i int;
        begin
          for i in 1..n loop insert into ${t} values (i, 'row; ' || i); end loop;
          return n;
        end;
      $$;
      select ${t}_fill(3);
      do $$ begin insert into ${t} values (100, 'from do; block'); end $$;
      update ${t} set note = note || '!' where id <= 2;
      -- a comment; with a semicolon
      select * from ${t};
    `);
    expect(done.map((s) => s.command)).toEqual(['CREATE TABLE', 'CREATE FUNCTION', 'SELECT', 'DO', 'UPDATE', 'SELECT']);
    expect(done.map((s) => s.rowCount)).toEqual([0, 0, 1, 0, 2, 4]);
    expect(await pool.query(`select id, note from ${t} order by id`).all()).toEqual([
      { id: 1, note: 'row; 1!' },
      { id: 2, note: 'row; 2!' },
      { id: 3, note: 'row; 3' },
      { id: 100, note: 'from do; block' },
    ]);
  });

  it('a failing script leaves nothing behind and names the failing statement', async () => {
    const t = tableName('script_fail');
    await pool.query(`create table ${t} (id int primary key)`).execute();
    const err = await pool
      .exec(`insert into ${t} values (1); insert into ${t} values (2); select 1 / 0; insert into ${t} values (3);`)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PostgresError);
    const e = err as PostgresError;
    expect(e.code).toBe('22012');
    expect(e.statement).toBe(3);
    expect(e.message).toContain('statement 3 of the script');
    expect(e.completed?.map((s) => s.tag)).toEqual(['INSERT 0 1', 'INSERT 0 1']);
    expect(await pool.query<number>(`select count(*)::int from ${t}`).scalar()).toBe(0);
    // A syntax error: the server points at its position in the whole text.
    const syntax = (await pool.exec(`select 1; selec 2;`).catch((x: unknown) => x)) as PostgresError;
    expect(syntax.code).toBe('42601');
    expect(syntax.position).toBe(11);
  });

  it('session state a script sets does not reach the next caller; it works on reserve() and in a transaction', async () => {
    const single = newPool({ max: 1 });
    await single.exec(`set search_path = pg_catalog; set application_name = 'from-script'`);
    expect(await single.query('show application_name').scalar()).not.toBe('from-script');
    const t = tableName('script_tx');
    await single.query(`create table ${t} (id int)`).execute();
    const conn = await single.reserve();
    try {
      expect((await conn.exec(`insert into ${t} values (1); insert into ${t} values (2)`)).length).toBe(2);
    } finally {
      await conn.release();
    }
    await single
      .transaction(async (tx) => {
        await tx.exec(`insert into ${t} values (3); insert into ${t} values (4)`);
        throw new Error('undo');
      })
      .catch(() => {});
    await single.transaction((tx) => tx.exec(`insert into ${t} values (5)`));
    expect(await single.query<number>(`select count(*)::int from ${t}`).scalar()).toBe(3);
  });

  it('the rows a script returns are not kept', async () => {
    const done = await pool.exec(`select repeat('x', 1000) from generate_series(1, 200000)`);
    expect(done).toEqual([{ command: 'SELECT', rowCount: 200000, tag: 'SELECT 200000' }]);
  });
});

describe('result metadata', () => {
  it('all() carries columns (names, type OIDs, table and column number), command and rowCount, not enumerable', async () => {
    const t = tableName('meta');
    await pool.query(`create table ${t} (id int4, name varchar(20), price numeric(12,2), doc jsonb)`).execute();
    await pool.query(`insert into ${t} values (1, 'a', 1.5, '{}'), (2, 'b', 2.5, '[]')`).execute();
    const tableOid = await pool.query<number>(`select $1::regclass::oid::int`, [t]).scalar();
    const rows = await pool.query(`select id, name, price, doc, 1 + 1 as computed from ${t} order by id`);
    expect(rows.columns).toEqual([
      { name: 'id', type: 23, table: tableOid, number: 1, typeModifier: -1, size: 4 },
      { name: 'name', type: 1043, table: tableOid, number: 2, typeModifier: 24, size: -1 },
      { name: 'price', type: 1700, table: tableOid, number: 3, typeModifier: (12 << 16) + 2 + 4, size: -1 },
      { name: 'doc', type: 3802, table: tableOid, number: 4, typeModifier: -1, size: -1 },
      { name: 'computed', type: 23, table: 0, number: 0, typeModifier: -1, size: 4 },
    ]);
    expect(rows.command).toBe('SELECT');
    expect(rows.rowCount).toBe(2);
    expect(Object.keys(rows)).toEqual(['0', '1']);
    expect(JSON.stringify(rows)).toBe(JSON.stringify([...rows]));
    const inserted = await pool.query(`insert into ${t} values (3, 'c', 3, null) returning id`).all();
    expect([inserted.command, inserted.rowCount, inserted.columns.map((c) => c.name)]).toEqual(['INSERT', 1, ['id']]);
    const none = await pool.query(`select id from ${t} where false`).all();
    expect([none.length, none.columns.map((c) => c.name), none.rowCount]).toEqual([0, ['id'], 0]);
  });

  it('columns survive paging (a result of many pages) and stream() exposes them once known', async () => {
    const many = await pool.query(`select g as n, repeat('y', 100) as pad from generate_series(1, 5000) g`).all();
    expect(many.length).toBe(5000);
    expect(many.columns.map((c) => [c.name, c.type])).toEqual([
      ['n', 23],
      ['pad', 25],
    ]);
    const stream = pool.query(`select g::int8 as big from generate_series(1, 10) g`).stream({ batchSize: 3 });
    expect(stream.columns).toBeUndefined();
    let seen = 0;
    for await (const _ of stream) {
      seen++;
      expect(stream.columns).toEqual([{ name: 'big', type: 20, table: 0, number: 0, typeModifier: -1, size: 8 }]);
    }
    expect(seen).toBe(10);
  });
});
