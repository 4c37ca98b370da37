// What the application was told is what happened: a cancel stops only its own statement, a
// script that leaves a transaction open is refused, errors name where they are, parameters are
// refused rather than changed, and bad options are refused when the pool is made.
import { beforeAll, describe, expect, it } from 'vitest';

import {
  ConnectionError,
  DeadlockDetectedError,
  ForeignKeyViolationError,
  IntegrityConstraintViolationError,
  ParameterError,
  PgwarpError,
  Pool,
  PostgresError,
  QueryCanceledError,
  RolledBackError,
  SerializationFailureError,
  SqlSyntaxError,
  TransactionRollbackError,
  UndefinedTableError,
  UniqueViolationError,
} from '../src';
import { databaseUrl, newPool, tableName } from './helpers';

const pool = newPool({ max: 4 });
const s = tableName('trust');

beforeAll(async () => {
  await pool.exec(`
    create schema ${s};
    create type ${s}.pair as (a int4, b text);
    create table ${s}.parent (id int primary key);
    create table ${s}.child (id int primary key, parent int references ${s}.parent (id));
    create table ${s}.t (id int);
  `);
});

describe('a cancel on a reserved connection stops only the statement it was for', () => {
  it("an aborted query's cancel never reaches the holder's next statement (50 tries, aborts at 0-4 ms)", async () => {
    let hit = 0;
    for (let i = 0; i < 50; i++) {
      const conn = await pool.reserve();
      try {
        const ac = new AbortController();
        setTimeout(() => ac.abort(), Math.random() * 4);
        await conn.query('select pg_sleep(0.003)', [], { signal: ac.signal }).execute().catch(() => {});
        await conn.query('select pg_sleep(0.02)').execute().catch((e: { code?: string }) => {
          if (e.code === '57014') hit++;
          else throw e;
        });
      } finally {
        await conn.release();
      }
    }
    expect(hit).toBe(0);
  });
});

describe('exec()', () => {
  it('a script that ends inside a transaction it opened is refused, and nothing of it stays', async () => {
    const err = await pool.exec(`begin; insert into ${s}.t values (1)`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RolledBackError);
    expect((err as Error).message).toMatch(/ended inside a transaction it opened/);
    expect(await pool.query<number>(`select count(*)::int from ${s}.t`).scalar()).toBe(0);
    // Ended with COMMIT, it stays.
    await pool.exec(`begin; insert into ${s}.t values (2); commit`);
    expect(await pool.query<number>(`select count(*)::int from ${s}.t`).scalar()).toBe(1);
    // On a reserved connection the holder may go on with the transaction it opened.
    const conn = await pool.reserve();
    await conn.exec(`begin; insert into ${s}.t values (3)`);
    await conn.query('commit').execute();
    await conn.release();
    expect(await pool.query<number>(`select count(*)::int from ${s}.t`).scalar()).toBe(2);
  });

  it('a syntax error names the statement it is in, also past quotes, comments and dollar quotes holding ;', async () => {
    const third = await pool.exec('select 1; select 2; selec 3').catch((e: PostgresError) => e);
    expect(third).toBeInstanceOf(SqlSyntaxError);
    expect(third).toMatchObject({ statement: 3, position: 21 });
    const text = "select ';' as a; -- a comment; with semicolons\nselect $$;$$ /* ; */ as b;; select \"x;\" from nowhere_at_all_;";
    const err = (await pool.exec(text).catch((e: PostgresError) => e)) as PostgresError;
    expect(err).toBeInstanceOf(UndefinedTableError);
    expect(err.statement).toBe(3);
    expect(err.message).toMatch(/statement 3 of the script/);
  });
});

describe('parameters that cannot be sent exactly are refused, naming $n, the type and the problem', () => {
  it('an invalid Date as a range bound, a non-boolean range flag, a Symbol or a function in a composite', async () => {
    await expect(pool.query('select $1::tstzrange', [{ lower: new Date(NaN) }]).scalar()).rejects.toThrow(/\$1: field "lower" is an invalid Date/);
    await expect(pool.query('select $1::int4range', [{ empty: 'yes' }]).scalar()).rejects.toThrow(/\$1 \(int4range\): empty must be true or false/);
    await expect(pool.query('select $1::int4range', [{ lower: 1, upperInclusive: 1 }]).scalar()).rejects.toThrow(ParameterError);
    await expect(pool.query(`select $1::${s}.pair`, [{ a: 1, b: Symbol('x') }]).scalar()).rejects.toThrow(/\$1: field "b" is a symbol/);
    await expect(pool.query('select $1::jsonb', [{ list: [1, () => 2] }]).scalar()).rejects.toThrow(/\$1: field "list"\[1\] is a function/);
    await expect(pool.query('select $1::jsonb', [{ tags: new Set(['a']) }]).scalar()).rejects.toThrow(/field "tags" is a Set/);
    // What JSON leaves out on purpose (undefined fields) still goes.
    expect(await pool.query('select $1::jsonb', [{ a: 1, b: undefined }]).scalar()).toEqual({ a: 1 });
    expect(await pool.query('select $1::int4range', [{ lower: 1, upper: 3, empty: false }]).scalar()).toMatchObject({ lower: 1, upper: 3 });
  });

  it('float4 from a string or bigint past its range, and a toJSON that gives undefined', async () => {
    await expect(pool.query('select $1::float4', ['1e400']).scalar()).rejects.toThrow(/\$1 \(float4\): string "1e400" is out of range/);
    await expect(pool.query('select $1::float4', [10n ** 1000n]).scalar()).rejects.toThrow(/\$1 \(float4\).*out of range/);
    await expect(pool.query('select $1::float4', [1e300]).scalar()).rejects.toThrow(/out of range/);
    expect(await pool.query('select $1::float4', ['-Infinity']).scalar()).toBe(-Infinity);
    await expect(pool.query('select $1::bytea', [{ toJSON: () => undefined }]).scalar()).rejects.toThrow(/\$1: its toJSON\(\) gave undefined/);
    expect(await pool.query<number>('select 1').scalar()).toBe(1);
  });
});

describe('errors say what went wrong', () => {
  it('bad options are refused at new Pool(), naming the option', () => {
    expect(() => new Pool(databaseUrl, { ssl: { ca: 5 as never } })).toThrow(/ssl\.ca must be a PEM string or a Buffer, not number 5/);
    expect(() => new Pool(databaseUrl, { ssl: { rejectUnauthorized: 'no' as never } })).toThrow(/ssl\.rejectUnauthorized must be true or false/);
    expect(() => new Pool(databaseUrl, { types: 5 as never })).toThrow(/types must be an object/);
    expect(() => new Pool(databaseUrl, { idleTimeoutMillis: 5 } as never)).toThrow(/unknown pool option "idleTimeoutMillis": pgwarp calls it idleTimeout/);
    expect(() => new Pool(databaseUrl, { maxpipeline: 5 } as never)).toThrow(/did you mean maxPipeline/);
    expect(() => new Pool(databaseUrl, { onNotice: 'log' as never })).toThrow(/onNotice must be a function/);
  });

  it('a host name that does not resolve is named', async () => {
    const p = new Pool({ host: 'no-such-host.invalid', user: 'x', connectTimeout: 5000 });
    const err = await p.query('select 1').scalar().catch((e: unknown) => e);
    await p.close();
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toMatch(/no-such-host\.invalid/);
  });

  it("a codec's own exception says the codec, the type and the column; a serialize that gives a Promise is refused", async () => {
    const p = newPool({
      max: 1,
      types: {
        [`${s}.pair`]: {
          parse: () => {
            throw new Error('cannot read pairs');
          },
          serialize: (() => Promise.resolve('(1,x)')) as never,
        },
      },
    });
    const parsed = (await p.query(`select row(1, 'x')::${s}.pair as p`).all().catch((e: Error) => e)) as Error;
    expect(parsed).toBeInstanceOf(PgwarpError);
    expect(parsed.message).toMatch(new RegExp(`column "p" \\(${s}\\.pair\\): its codec's parse failed on .*cannot read pairs`));
    expect((parsed as Error & { cause: Error }).cause.message).toBe('cannot read pairs');
    await expect(p.query(`select $1::${s}.pair`, [{ a: 1, b: 'x' }]).scalar()).rejects.toThrow(new RegExp(`\\$1 \\(${s}\\.pair\\): its codec's serialize must return a string, not a Promise`));
  });
});

describe('server errors have a class per SQLSTATE class and for the common codes', () => {
  it('instanceof the code and its class, with every field as the server sent it', async () => {
    await pool.query(`insert into ${s}.parent values (1)`).execute();
    const dup = await pool.query(`insert into ${s}.parent values (1)`).execute().catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(UniqueViolationError);
    expect(dup).toBeInstanceOf(IntegrityConstraintViolationError);
    expect(dup).toBeInstanceOf(PostgresError);
    expect(dup).not.toBeInstanceOf(ForeignKeyViolationError);
    expect(dup).toMatchObject({ name: 'UniqueViolationError', code: '23505', constraint: 'parent_pkey', table: 'parent', schema: s, severity: 'ERROR' });
    const fk = await pool.query(`insert into ${s}.child values (1, 42)`).execute().catch((e: unknown) => e);
    expect(fk).toBeInstanceOf(ForeignKeyViolationError);
    expect(fk).toMatchObject({ code: '23503', constraint: 'child_parent_fkey' });
    // The caller's own timeout rejects with QueryTimeoutError; the server's statement_timeout is 57014.
    const timedOut = await pool.transaction(async (tx) => {
      await tx.query('set local statement_timeout = 20').execute();
      return tx.query('select pg_sleep(1)').execute();
    }).catch((e: unknown) => e);
    expect(timedOut).toBeInstanceOf(QueryCanceledError);
    expect(timedOut).toMatchObject({ code: '57014' });
    const raised = await pool.query("do $$ begin raise exception using errcode = '40001', message = 'conflict'; end $$").execute().catch((e: unknown) => e);
    expect(raised).toBeInstanceOf(SerializationFailureError);
    expect(raised).toBeInstanceOf(TransactionRollbackError);
    const deadlock = await pool.query("do $$ begin raise exception using errcode = '40P01'; end $$").execute().catch((e: unknown) => e);
    expect(deadlock).toBeInstanceOf(DeadlockDetectedError);
    // A code with no class of its own is still a PostgresError with that code.
    const other = await pool.query("do $$ begin raise exception using errcode = 'ZZ123'; end $$").execute().catch((e: unknown) => e);
    expect(other).toMatchObject({ name: 'PostgresError', code: 'ZZ123' });
  });
});
