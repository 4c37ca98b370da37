// Tagged-template SQL: pool.sql, reserved.sql and tx.sql, and their helpers.
import { afterAll, describe, expect, it } from 'vitest';

import { EmptyListError, ParameterError, type Sql } from '../src';
import { newPool, tableName } from './helpers';

const pool = newPool({ max: 1 });
afterAll(() => pool.close());

/** The text a query was rendered to (for checking the helpers' output). */
const text = (q: unknown) => (q as { sql: string }).sql;
const params = (q: unknown) => (q as { params: unknown[] }).params;

describe('the sql tag', () => {
  it('makes every ${value} a parameter: injection-shaped values stay values', async () => {
    const { sql } = pool;
    for (const evil of ["'; drop table users; --", '$1', "o'clock", '"quoted"', 'a; select 1', '\\', '-- comment']) {
      const q = sql`select ${evil}::text as v`;
      expect(text(q)).toBe('select $1::text as v');
      expect(await q.scalar()).toBe(evil);
    }
    expect(await sql`select ${1}::int + ${2}::int as n`.scalar()).toBe(3);
  });

  it('sql(name) is one quoted identifier, whatever its characters; dotted names are schema-qualified', async () => {
    const { sql } = pool;
    const t = `${tableName('tag')}"x`;
    await sql`create table ${sql(t)} (${sql('we"ird col')} int)`.execute();
    await sql`insert into ${sql(t)} values (${5})`.execute();
    expect(await sql`select ${sql('we"ird col')} from ${sql(`public.${t}`)}`.all()).toEqual([{ 'we"ird col': 5 }]);
    expect(text(sql`select 1 from ${sql('a"b')}`)).toBe('select 1 from "a""b"');
    expect(text(sql`select 1 from ${sql('s.t')}`)).toBe('select 1 from "s"."t"');
    expect(() => sql`select ${sql('')}`).toThrow(/non-empty/);
    expect(() => sql`select ${sql('a..b')}`).toThrow(/empty part/);
    await sql`drop table ${sql(t)}`.execute();
  });

  it('lists: columns, IN values (padded to a power of two), rows to insert, SET assignments, nested fragments', async () => {
    const { sql } = pool;
    const t = tableName('tagrows');
    await sql`create table ${sql(t)} (id int primary key, name text, email text)`.execute();
    const rows = [
      { id: 1, name: 'ann', email: 'a@x' },
      { id: 2, name: 'bob', email: 'b@x' },
      { id: 3, name: 'cy', email: null },
    ];
    const insert = sql`insert into ${sql(t)} ${sql(rows, 'id', 'name', 'email')}`;
    expect(text(insert)).toBe(`insert into "${t}" ("id", "name", "email") values ($1, $2, $3), ($4, $5, $6), ($7, $8, $9)`);
    expect((await insert.execute()).rowCount).toBe(3);
    // One object, columns from its keys.
    await sql`insert into ${sql(t)} ${sql({ id: 4, name: 'dee' })}`.execute();
    const cols = sql`select ${sql(['id', 'name'])} from ${sql(t)} where id in ${sql([1, 2, 4])} order by id`;
    expect(text(cols)).toBe(`select "id", "name" from "${t}" where id in ($1, $2, $3, $4) order by id`);
    expect(params(cols)).toEqual([1, 2, 4, 4]);
    expect(await cols.all()).toEqual([
      { id: 1, name: 'ann' },
      { id: 2, name: 'bob' },
      { id: 4, name: 'dee' },
    ]);
    // Strings after IN are values; NOT IN too.
    expect(await sql`select count(*)::int from ${sql(t)} where name not in ${sql(['ann', 'bob'])}`.scalar()).toBe(2);
    // Bun's sql(rows, 'key') after IN: that column of each row.
    expect(await sql`select count(*)::int from ${sql(t)} where id in ${sql(rows, 'id')}`.scalar()).toBe(3);
    const update = sql`update ${sql(t)} set ${sql({ name: 'ANN', email: 'A@X' }, 'name', 'email')} where id = ${1}`;
    expect(text(update)).toBe(`update "${t}" set "name" = $1, "email" = $2 where id = $3`);
    await update.execute();
    // Fragments compose and renumber.
    const byName = (name: string) => sql`name = ${name}`;
    const both = sql`select id from ${sql(t)} where ${byName('ANN')} or ${byName('bob')} order by id`;
    expect(text(both)).toBe(`select id from "${t}" where name = $1 or name = $2 order by id`);
    expect(await both.all()).toEqual([{ id: 1 }, { id: 2 }]);
    // unsafe, json, array.
    expect(await sql`select count(*)::int from ${sql.unsafe(`"${t}"`)} where ${sql.unsafe('id > 0')}`.scalar()).toBe(4);
    expect(await pool.sql.unsafe('select $1::int * 2 as v', [21]).scalar()).toBe(42);
    expect(await sql`select ${sql.json([1, { a: 'b' }])} as j`.scalar()).toEqual([1, { a: 'b' }]);
    expect(await sql`select ${sql.array([1, 2, 3], 'int')} as a`.scalar()).toEqual([1, 2, 3]);
    expect(() => sql.array([1], 'int; drop table x')).toThrow(/type name/);
    await sql`drop table ${sql(t)}`.execute();
  });

  it('fails clearly: empty lists (typed), 65,536 parameters before sending, arrays that merely have raw, wrong helper use', async () => {
    const { sql } = pool;
    expect(() => sql`select 1 where 1 in ${sql([])}`).toThrow(EmptyListError);
    expect(() => sql`select 1 where 1 not in ${sql([])}`).toThrow(/NOT IN match nothing/);
    expect(() => sql`insert into t ${sql([] as object[])}`).toThrow(EmptyListError);
    const many = Array.from({ length: 65536 }, (_, i) => i);
    expect(() => sql`select 1 where 1 in ${sql(many)}`).toThrow(/at most 65,535/);
    // Not a template: an array with a raw property is a list helper, never a query.
    const fake = Object.assign(['select 1'], { raw: ['select 1'] });
    expect((sql as unknown as (x: unknown) => unknown)(fake)).not.toHaveProperty('then');
    expect(() => sql`select ${sql.unsafe('$1', [1])}`).toThrow(/cannot be nested/);
    expect(() => sql`select ${pool.query('select 1')}`).toThrow(/sql tag/);
    expect(() => (sql as unknown as (x: unknown) => unknown)(42)).toThrow(ParameterError);
    const ok = await sql`select 1 as one`.all();
    expect(ok).toEqual([{ one: 1 }]);
  });

  it('tx.sql runs in its transaction; reserved.sql on its connection; one type for all', async () => {
    const t = tableName('tagtx');
    await pool.sql`create table ${pool.sql(t)} (id int)`.execute();
    const inside = async (sql: Sql) => sql`insert into ${sql(t)} values (${1})`.execute();
    await expect(
      pool.transaction(async (tx) => {
        await inside(tx.sql);
        expect(await tx.sql`select count(*)::int from ${tx.sql(t)}`.scalar()).toBe(1);
        throw new Error('roll it back');
      }),
    ).rejects.toThrow(/roll it back/);
    expect(await pool.sql`select count(*)::int from ${pool.sql(t)}`.scalar()).toBe(0);
    const conn = await pool.reserve();
    try {
      await conn.sql`set local statement_timeout = 1000`.execute().catch(() => {});
      expect(await conn.sql`select pg_backend_pid() = pg_backend_pid() as same`.scalar()).toBe(true);
      await inside(conn.sql);
    } finally {
      await conn.release();
    }
    expect(await pool.sql`select count(*)::int from ${pool.sql(t)}`.scalar()).toBe(1);
    await pool.sql`drop table ${pool.sql(t)}`.execute();
  });

  it('keeps the statement cache bounded: inserts of varying length run unnamed, IN lists by size class', async () => {
    const t = tableName('tagcache');
    const { sql } = pool;
    await sql`create table ${sql(t)} (id int, v text)`.execute();
    const prepared = () => sql`select count(*)::int from pg_prepared_statements`.scalar<number>();
    const before = (await prepared())!;
    for (let n = 1; n <= 40; n++) {
      await sql`insert into ${sql(t)} ${sql(Array.from({ length: n }, (_, i) => ({ id: i, v: `r${i}` })))}`.execute();
      await sql`select count(*) from ${sql(t)} where id in ${sql(Array.from({ length: n }, (_, i) => i))}`.scalar();
    }
    const grown = (await prepared())! - before;
    // The single-row insert (a fixed shape) and IN lists of 1, 2, 4, 8, 16, 32 and 64 values.
    expect(grown).toBeLessThanOrEqual(10);
    // The same template is one statement.
    const again = (await prepared())!;
    for (let i = 0; i < 5; i++) await sql`select ${i}::int as v`.scalar();
    expect((await prepared())! - again).toBeLessThanOrEqual(1);
    await sql`drop table ${sql(t)}`.execute();
  });
});
