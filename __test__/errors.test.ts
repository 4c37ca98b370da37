import { describe, expect, it } from 'vitest';

import { ParameterError, PgwarpError, PostgresError } from '../src';
import { newPool, tableName } from './helpers';

const pool = newPool();

async function failure(run: () => Promise<unknown>): Promise<PostgresError> {
  const err = await run().then(
    () => undefined,
    (e) => e,
  );
  expect(err).toBeInstanceOf(PostgresError);
  return err as PostgresError;
}

describe('PostgresError', () => {
  it('carries code, severity, position, file, line and routine', async () => {
    const err = await failure(() => pool.query('select * frm x').all());
    expect(err.code).toBe('42601');
    expect(err.severity).toBe('ERROR');
    expect(err.severityNonLocalized).toBe('ERROR');
    expect(err.message).toMatch(/syntax error at or near "frm"/);
    expect(err.position).toBe(10);
    expect(typeof err.file).toBe('string');
    expect(err.line).toBeGreaterThan(0);
    expect(typeof err.routine).toBe('string');
    expect(err).toBeInstanceOf(PgwarpError);
  });

  it('carries detail, schema, table and constraint', async () => {
    const t = tableName();
    await pool.query(`create table ${t} (id int primary key, v text not null)`).execute();
    await pool.query(`insert into ${t} values (1, 'a')`).execute();
    const dup = await failure(() => pool.query(`insert into ${t} values (1, 'b')`).execute());
    expect(dup.code).toBe('23505');
    expect(dup.detail).toBe('Key (id)=(1) already exists.');
    expect(dup.schema).toBe('public');
    expect(dup.table).toBe(t);
    expect(dup.constraint).toBe(`${t}_pkey`);
    const notNull = await failure(() => pool.query(`insert into ${t} values (2, null)`).execute());
    expect(notNull.code).toBe('23502');
    expect(notNull.column).toBe('v');
    await pool.query(`drop table ${t}`).execute();
  });

  it('carries hint, dataType, where, internalQuery and internalPosition', async () => {
    const hint = await failure(() => pool.query('select no_such_function(1)').all());
    expect(hint.code).toBe('42883');
    expect(hint.hint).toMatch(/No function matches/);

    const d = tableName('dom');
    await pool.query(`create domain ${d} as int check (value > 0)`).execute();
    const domain = await failure(() => pool.query(`select (-1)::${d}`).all());
    expect(domain.code).toBe('23514');
    expect(domain.dataType).toBe(d);
    await pool.query(`drop domain ${d}`).execute();

    const internal = await failure(() =>
      pool.query(`do $$ begin execute 'select * from no_such_table_here'; end $$`).execute(),
    );
    expect(internal.code).toBe('42P01');
    expect(internal.internalQuery).toBe('select * from no_such_table_here');
    expect(internal.internalPosition).toBe(15);
    expect(internal.where).toMatch(/PL\/pgSQL function inline_code_block/);
  });

  it('attaches the query text non-enumerably', async () => {
    const err = await failure(() => pool.query('select 1/0 as boom').all());
    expect(err.query).toBe('select 1/0 as boom');
    expect(Object.keys(err)).not.toContain('query');
    expect(JSON.stringify(err)).not.toContain('boom');
  });

  it("has a stack that points at the caller's await", async () => {
    async function callerFunctionName() {
      const rows = await pool.query('select 1/0').all();
      return rows;
    }
    const err = await callerFunctionName().catch((e) => e);
    expect(err.stack).toContain('callerFunctionName');
    expect(err.stack).toContain('errors.test.ts');
    const thenable = await (async function awaitingTheThenable() {
      await pool.query('select 1/0');
    })().catch((e) => e);
    expect(thenable.stack).toContain('awaitingTheThenable');
  });
});

describe('bad input is refused before anything is sent', () => {
  it('wrong number of parameters', async () => {
    const t = tableName();
    await pool.query(`create table ${t} (a int, b int)`).execute();
    const err = await pool.query(`insert into ${t} values ($1, $2)`, [1]).execute().catch((e) => e);
    expect(err).toBeInstanceOf(ParameterError);
    expect(err.message).toBe('the query takes 2 parameters ($1..$2) but 1 was given');
    const extra = await pool.query(`insert into ${t} values ($1, $2)`, [1, 2, 3]).execute().catch((e) => e);
    expect(extra.message).toBe('the query takes 2 parameters ($1..$2) but 3 were given');
    const none = await pool.query('select 1', [1]).all().catch((e) => e);
    expect(none.message).toBe('the query takes no parameters but 1 was given');
    expect(await pool.query(`select count(*)::int from ${t}`).scalar()).toBe(0);
    await pool.query(`drop table ${t}`).execute();
  });

  it('a value that cannot be encoded as the parameter type names $n and the type', async () => {
    const circular = () => {
      const o: Record<string, unknown> = {};
      o.self = o;
      return o;
    };
    const cases: [string, unknown[], RegExp][] = [
      ['select $1::int4', ['abc'], /^\$1 \(int4\): expected an integer, got string "abc"$/],
      ['select $1::int4, $2::int2', [1, 1.5], /^\$2 \(int2\): expected an integer, got number 1.5$/],
      ['select $1::int2', [40000], /^\$1 \(int2\): number 40000 is out of range/],
      ['select $1::int4', [Buffer.from('x')], /^\$1 \(int4\): expected an integer, got Buffer of 1 bytes$/],
      ['select $1::timestamptz', [{ a: 1 }], /^\$1 \(timestamptz\): expected a Date or a string, got object$/],
      ['select $1::bool', [3], /^\$1 \(bool\): expected a boolean, got number 3$/],
      ['select $1::int8', [2 ** 60], /^\$1 \(int8\): number .* beyond \+\/-2\^53-1/],
      ['select $1::int4[]', [[1, 'x']], /^\$1 \(int4\): expected an integer, got string "x"$/],
      ['select $1::date', [new Date(NaN)], /^\$1: the Date is invalid$/],
      ['select $1::text', [Symbol('s')], /^\$1: a symbol cannot be sent/],
      // (A bigint inside is written exactly, json-bigint.test.ts; a cycle cannot be written at all.)
      ['select $1::jsonb', [circular()], /^\$1: the object cannot be written as JSON/],
    ];
    for (const [sql, params, message] of cases) {
      const err = await pool.query(sql, params).all().catch((e) => e);
      expect(err, sql).toBeInstanceOf(ParameterError);
      expect(err.message, sql).toMatch(message);
    }
  });

  it('parameters must be an array', async () => {
    const err = await pool.query('select $1::int', 5 as unknown as unknown[]).all().catch((e) => e);
    expect(err).toBeInstanceOf(ParameterError);
  });
});

describe('after any error the pool keeps working', () => {
  it('serves queries after server, parameter and decode errors, also when pipelined', async () => {
    const small = newPool({ max: 1 });
    const results = await Promise.allSettled([
      small.query('select 1 as a').one(),
      small.query('select 1/0').all(),
      small.query('select $1::int', ['x']).all(),
      small.query('select 2 as a').one(),
      small.query('select * from nope_nope').all(),
      small.query('select 3 as a').one(),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    expect(results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<unknown>).value)).toEqual([
      { a: 1 },
      { a: 2 },
      { a: 3 },
    ]);
    expect(await small.query('select 4 as a').one()).toEqual({ a: 4 });
    expect(small.stats()).toMatchObject({ connections: { total: 1 }, inFlight: 0, waiting: 0 });
  });
});
