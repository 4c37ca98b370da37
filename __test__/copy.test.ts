/**
 * COPY in and out against the real server: `copyIn` from Readables and iterables, `copyRows`
 * for every type of the README's type table, `copyOut` as a Readable, and the guarantee that
 * a failed COPY leaves nothing behind and the connection usable.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { describe, expect, it } from 'vitest';

import { ParameterError, Pool, PostgresError } from '../src';
import { databaseUrl, newPool, tableName } from './helpers';
import { wireSpy } from './wire-spy';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const settled = { connections: { reserved: 0, busy: 0 }, inFlight: 0, waiting: 0 };

/** Lines `i\tlabel i\n` for i in [from, to), in chunks of `per` lines. */
function* lines(from: number, to: number, per = 1000): Generator<string> {
  for (let i = from; i < to; i += per) {
    let s = '';
    for (let j = i; j < Math.min(to, i + per); j++) s += `${j}\tlabel ${j}\n`;
    yield s;
  }
}

describe('copyIn', () => {
  it('copies 1,000,000 rows from a Readable', async () => {
    const pool = newPool({ max: 1 });
    const t = tableName('copy_in');
    await pool.query(`create table ${t} (id int, label text)`).execute();
    const n = await pool.copyIn(`copy ${t} from stdin`, Readable.from(lines(0, 1_000_000)));
    expect(n).toBe(1_000_000);
    const got = await pool.query<{ n: number; s: string; l: string }>(`select count(*)::int as n, sum(id)::text as s, max(label) as l from ${t}`).one();
    expect(got).toEqual({ n: 1_000_000, s: String((999_999 * 1_000_000) / 2), l: 'label 999999' });
    expect(pool.stats()).toMatchObject(settled);
  }, 60_000);

  it('a source that fails half-way aborts the COPY: the table stays empty, the error is the source’s', async () => {
    const pool = newPool({ max: 1 });
    const t = tableName('copy_fail');
    await pool.query(`create table ${t} (id int, label text)`).execute();
    const boom = new Error('disk on fire');
    async function* failing() {
      yield* lines(0, 500_000);
      throw boom;
    }
    await expect(pool.copyIn(`copy ${t} from stdin`, Readable.from(failing()))).rejects.toBe(boom);
    expect(await pool.query<number>(`select count(*)::int from ${t}`).scalar()).toBe(0);
    // The one connection is usable, and another COPY on it works.
    expect(await pool.copyIn(`copy ${t} from stdin`, ['1\tone\n', Buffer.from('2\ttwo\n')])).toBe(2);
    expect(pool.stats()).toMatchObject(settled);
  });

  it('a malformed row is reported with the server’s message and nothing is copied', async () => {
    const pool = newPool({ max: 1 });
    const t = tableName('copy_bad');
    await pool.query(`create table ${t} (id int, label text)`).execute();
    const source = [...lines(0, 3000), 'abc\tnot a number\n', ...lines(3000, 6000)];
    const err = await pool.copyIn(`copy ${t} from stdin`, source).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PostgresError);
    expect((err as PostgresError).code).toBe('22P02');
    expect((err as PostgresError).message).toContain('invalid input syntax for type integer: "abc"');
    expect((err as PostgresError).where).toContain('line 3001');
    expect(await pool.query<number>(`select count(*)::int from ${t}`).scalar()).toBe(0);
    expect(pool.stats()).toMatchObject(settled);
  });

  it('CSV with a header, a source of Buffers, and bad input named', async () => {
    const pool = newPool();
    const t = tableName('copy_csv');
    await pool.query(`create table ${t} (id int, note text)`).execute();
    const csv = Buffer.from('id,note\n1,"a, quoted ""note"""\n2,\n');
    expect(await pool.copyIn(`copy ${t} from stdin (format csv, header true)`, [csv])).toBe(2);
    expect(await pool.query(`select * from ${t} order by id`)).toEqual([
      { id: 1, note: 'a, quoted "note"' },
      { id: 2, note: null },
    ]);
    await expect(pool.copyIn(`copy ${t} from stdin`, [1 as unknown as string])).rejects.toThrow(/chunks must be Buffers/);
    await expect(pool.copyIn(`copy ${t} from stdin`, 'not iterable as chunks' as unknown as string[])).rejects.toThrow(ParameterError);
    await expect(pool.copyIn(`copy nope_${t} from stdin`, [])).rejects.toThrow(/does not exist/);
    expect(await pool.query<number>(`select count(*)::int from ${t}`).scalar()).toBe(2);
  });

  it('inside a transaction, a rollback takes the copied rows back', async () => {
    const pool = newPool();
    const t = tableName('copy_tx');
    await pool.query(`create table ${t} (id int, label text)`).execute();
    const err = new Error('changed my mind');
    await expect(
      pool.transaction(async (tx) => {
        expect(await tx.copyIn(`copy ${t} from stdin`, lines(0, 100))).toBe(100);
        expect(await tx.query<number>(`select count(*)::int from ${t}`).scalar()).toBe(100);
        throw err;
      }),
    ).rejects.toBe(err);
    expect(await pool.query<number>(`select count(*)::int from ${t}`).scalar()).toBe(0);
  });
});

/** Every row of the README's type table, as values a user would pass. */
const TYPES: [string, unknown[]][] = [
  ['bool', [true, false]],
  ['int2', [-32768, 32767]],
  ['int4', [-2147483648, 2147483647]],
  ['oid', [0, 4294967295]],
  ['int8', [9007199254740991, '-9223372036854775808']],
  ['float4', [1.5, -0.25]],
  ['float8', [Number.MAX_VALUE, Number.NaN]],
  ['numeric', ['12345678901234567890.123456789', 'NaN']],
  ['text', ['tab\there, newline\nthere, back\\slash', 'emoji 😀 and é']],
  ['varchar(20)', ['short', '']],
  ['char(5)', ['ab', 'abcde']],
  ['name', ['pg_class', 'x']],
  ['bytea', [Buffer.from([0, 1, 2, 255]), Buffer.alloc(0)]],
  ['uuid', ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '00000000-0000-0000-0000-000000000000']],
  ['json', [{ b: 1, a: [true, null] }, '"a JSON string"']],
  ['jsonb', [{ nested: { deep: [1, 2, 3] } }, [1, 'two']]],
  ['timestamptz', [new Date('2024-02-29T12:34:56.789Z'), 'infinity']],
  ['timestamp', [new Date('1999-12-31T23:59:59.999Z'), '-infinity']],
  ['date', ['2024-02-29', new Date('2000-01-01T00:00:00Z')]],
  ['time', ['04:05:06.5', '23:59:59']],
  ['timetz', ['12:00:00+05:30', '00:00:00-08']],
  ['interval', ['1 year 2 mons 3 days 04:05:06', '-1 day']],
  ['inet', ['192.168.0.1/24', '::1']],
  ['cidr', ['10.0.0.0/8', '2001:db8::/32']],
  ['macaddr', ['08:00:2b:01:02:03', '00:00:00:00:00:00']],
  ['money', ['$1,234.56', 7]],
  ['int4[]', [[1, null, 3], []]],
  ['text[]', [['a b', 'c"d', 'e\\f', null], [['x', 'y'], ['z', 'w']]]],
  ['int4range', ['[1,5)', 'empty']],
  ['mood', ['happy', 'sad']],
  ['pair', ['(1,"a b")', '(,)']],
];

describe('copyRows', () => {
  it('round-trips every type of the type table exactly, as a parameterised INSERT would store it', async () => {
    const pool = newPool();
    await pool.query(`do $$ begin create type mood as enum ('sad', 'happy'); exception when duplicate_object then null; end $$`).execute();
    await pool.query(`do $$ begin create type pair as (n int, s text); exception when duplicate_object then null; end $$`).execute();
    const columns = TYPES.map((_, i) => `c${i}`);
    const ddl = TYPES.map(([type], i) => `c${i} ${type}`).join(', ');
    const [copied, inserted] = [tableName('rows_copy'), tableName('rows_insert')];
    for (const t of [copied, inserted]) await pool.query(`create table ${t} (id serial, ${ddl})`).execute();
    const rows = [0, 1].map((k) => TYPES.map(([, values]) => values[k]));
    rows.push(TYPES.map(() => null));
    expect(await pool.copyRows(copied, columns, rows)).toBe(3);
    const placeholders = columns.map((_, i) => `$${i + 1}`).join(', ');
    for (const row of rows) await pool.query(`insert into ${inserted} (${columns.join(', ')}) values (${placeholders})`, row).execute();
    // The server's own text of every value, and what the driver reads back, are the same.
    const text = (t: string) => pool.query(`select ${columns.map((c) => `format('%s', ${c}) as ${c}`).join(', ')} from ${t} order by id`).all();
    const [a, b] = await Promise.all([text(copied), text(inserted)]);
    expect(a).toEqual(b);
    const read = (t: string) => pool.query(`select * from ${t} order by id`, [], { int8: "string" }).all();
    const [va, vb] = await Promise.all([read(copied), read(inserted)]);
    expect(va).toEqual(vb);
    expect(va[2]).toEqual({ id: 3, ...Object.fromEntries(columns.map((c) => [c, null])) });
    expect(va[0].c8).toBe('tab\there, newline\nthere, back\\slash');
  });

  it('tables of binary-encodable types go as binary COPY and round-trip too', async () => {
    const spy = await wireSpy(databaseUrl);
    const pool = new Pool(spy.url);
    try {
      await binaryRoundTrip(pool);
      expect(spy.queries().filter((q) => q.startsWith('COPY'))).toEqual([expect.stringMatching(/^COPY "rows_bin_\d+_\d+" \("a", .*"l"\) FROM STDIN \(FORMAT binary\)$/)]);
    } finally {
      await pool.close();
      await spy.close();
    }
  });

  it('with prepare: false nothing named is prepared, so PgBouncer in transaction mode can route it', async () => {
    const spy = await wireSpy(databaseUrl);
    const pool = new Pool(spy.url, { prepare: false });
    try {
      const t = tableName('rows_unnamed');
      await pool.query(`create table ${t} (a int, b text, c numeric)`).execute();
      expect(await pool.copyRows(t, ['a', 'b'], [[1, 'x'], [2, 'y']])).toBe(2);
      expect(await pool.copyRows(t, ['a', 'c'], [[3, '1.5']])).toBe(1);
      expect(await pool.query<number>(`select sum(a)::int from ${t} where a > $1`, [0]).scalar()).toBe(6);
      expect(spy.parsedNames().length).toBeGreaterThan(0);
      expect(spy.parsedNames().filter((n) => n !== '')).toEqual([]);
    } finally {
      await pool.close();
      await spy.close();
    }
  });

  async function binaryRoundTrip(pool: Pool): Promise<void> {
    const t = tableName('rows_bin');
    await pool.query(`create table ${t} (a int2, b int4, c int8, d float4, e float8, f bool, g bytea, h text, i varchar, j json, k jsonb, l uuid)`).execute();
    const rows = Array.from({ length: 5000 }, (_, i) => [i % 100, i, BigInt(i) * 1000000007n, i / 4, i / 3, i % 2 === 0, Buffer.from([i & 255]), `t${i}`, 'yes', { i }, { i, s: 'x' }, `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`]);
    expect(await pool.copyRows(t, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'], rows)).toBe(5000);
    const back = await pool.query(`select * from ${t} order by b`, [], { int8: 'bigint' }).all();
    expect(back[4999]).toEqual({ a: 99, b: 4999, c: 4999n * 1000000007n, d: 4999 / 4, e: 4999 / 3, f: false, g: Buffer.from([4999 & 255]), h: 't4999', i: 'yes', j: { i: 4999 }, k: { i: 4999, s: 'x' }, l: '00000000-0000-0000-0000-000000004999' });
    expect(back.map((r) => r.b)).toEqual(rows.map((r) => r[1]));
  }

  it('reads async iterables, schema-qualified names and quoted identifiers', async () => {
    const pool = newPool();
    const t = tableName('Rows Mixed');
    await pool.query(`create table public."${t}" ("Id" int, "the label" text)`).execute();
    async function* gen() {
      for (let i = 0; i < 3; i++) {
        await sleep(1);
        yield [i, `row ${i}`];
      }
    }
    expect(await pool.copyRows(['public', t], ['Id', 'the label'], gen())).toBe(3);
    expect(await pool.query(`select * from public."${t}" order by 1`)).toEqual([0, 1, 2].map((i) => ({ Id: i, 'the label': `row ${i}` })));
  });

  it('a bad row or value is named, nothing is copied, and the connection stays usable', async () => {
    const pool = newPool({ max: 1 });
    const t = tableName('rows_bad');
    await pool.query(`create table ${t} (id int4 not null, n numeric, label text)`).execute();
    const good = (i: number) => [i, `${i}.5`, `r${i}`];
    const many = Array.from({ length: 20000 }, (_, i) => good(i));
    await expect(pool.copyRows(t, ['id', 'n', 'label'], [...many, [1, 2]])).rejects.toThrow('copyRows row 20000: expected an array of 3 values (id, n, label), got an array of 2');
    await expect(pool.copyRows(t, ['id', 'n', 'label'], [...many, ['x', 1, 'a']])).rejects.toThrow('copyRows row 20000, column "id" (int4): expected an integer, got string "x"');
    await expect(pool.copyRows(t, ['id', 'n', 'label'], [good(1), [() => 1, 1, 'a']])).rejects.toThrow('copyRows row 1, column "id": a function cannot be sent to PostgreSQL');
    const err = await pool.copyRows(t, ['id', 'n', 'label'], [...many, [null, 1, 'a']]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PostgresError);
    expect((err as PostgresError).code).toBe('23502');
    await expect(pool.copyRows(t, ['id', 'nope'], [])).rejects.toThrow(/column "nope" does not exist/);
    await expect(pool.copyRows(t, [], [])).rejects.toThrow(ParameterError);
    expect(await pool.query<number>(`select count(*)::int from ${t}`).scalar()).toBe(0);
    expect(await pool.copyRows(t, ['id', 'n', 'label'], many)).toBe(20000);
    expect(pool.stats()).toMatchObject(settled);
  });
});

describe('copyOut', () => {
  it('a table copied out and piped into copyIn of another is identical, in text and binary', async () => {
    const pool = newPool({ max: 4 });
    const [a, b, c] = [tableName('out_a'), tableName('out_b'), tableName('out_c')];
    const ddl = '(id int, label text, x float8, at timestamptz, doc jsonb, tags text[])';
    for (const t of [a, b, c]) await pool.query(`create table ${t} ${ddl}`).execute();
    await pool
      .query(`insert into ${a} select g, 'label ' || g || E'\\t\\n', g / 7.0, '2024-01-01'::timestamptz + g * interval '1 minute', jsonb_build_object('g', g), array['x' || g, null] from generate_series(1, 100000) g`)
      .execute();
    expect(await pool.copyIn(`copy ${b} from stdin`, pool.copyOut(`copy ${a} to stdout`))).toBe(100000);
    expect(await pool.copyIn(`copy ${c} from stdin (format binary)`, pool.copyOut(`copy ${a} to stdout (format binary)`))).toBe(100000);
    for (const t of [b, c]) {
      const diff = await pool.query<number>(`select count(*)::int from ((table ${a} except all table ${t}) union all (table ${t} except all table ${a})) d`).scalar();
      expect(diff).toBe(0);
    }
    expect(pool.stats()).toMatchObject(settled);
  });

  it('is a Readable with backpressure, and destroying it early cancels the COPY', async () => {
    const pool = newPool({ max: 1 });
    const out = pool.copyOut('copy (select generate_series(1, 50000000)) to stdout');
    let bytes = 0;
    for await (const chunk of out) {
      bytes += (chunk as Buffer).length;
      if (bytes > 1_000_000) break;
    }
    expect(bytes).toBeGreaterThan(1_000_000);
    const t0 = Date.now();
    while (pool.stats().connections.reserved > 0 && Date.now() - t0 < 1000) await sleep(5);
    expect(pool.stats()).toMatchObject(settled);
    expect(await pool.query<number>('select 3').scalar()).toBe(3);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('an error is emitted on the stream', async () => {
    const pool = newPool();
    await expect(pipeline(pool.copyOut('copy nope_table to stdout'), async function* (src) {
      for await (const _ of src) yield _;
    })).rejects.toThrow(/does not exist/);
    expect(await pool.query<number>('select 4').scalar()).toBe(4);
  });
});
