// Enums, domains, composites, ranges (and arrays of them), and user codecs, against the real server.
import { beforeAll, describe, expect, it } from 'vitest';

import { ParameterError } from '../src';
import { newPool, tableName } from './helpers';

const pool = newPool({ max: 2 });
const s = tableName('types');

beforeAll(async () => {
  await pool.exec(`
    create schema ${s};
    create type ${s}.mood as enum ('sad', 'ok', 'happy');
    create domain ${s}.positive as int4 check (value > 0);
    create domain ${s}.email as text check (value like '%@%');
    create type ${s}.address as (street text, zip int4, tags text[], seen timestamptz);
    create type ${s}.person as (name text, home ${s}.address, age ${s}.positive, big int8);
    create type ${s}.floatrange as range (subtype = float8);
  `);
});

describe('enums and domains behave as their base type', () => {
  it('round-trips domain and enum values, and the domain’s check still applies', async () => {
    const row = await pool.query(`select $1::${s}.positive as n, $2::${s}.email as e, $3::${s}.mood as m, array['ok', 'happy']::${s}.mood[] as ms`, [5, 'a@b', 'happy']).one();
    expect(row).toEqual({ n: 5, e: 'a@b', m: 'happy', ms: ['ok', 'happy'] });
    await expect(pool.query(`select $1::${s}.positive`, [0]).scalar()).rejects.toMatchObject({ code: '23514' });
  });
});

describe('composites and ranges come back parsed', () => {
  it('a composite is an object, nested composites and arrays inside too, with int8 and timestamps fixed', async () => {
    const person = await pool
      .query(`select row('Ann', row('1 Main St', 12345, array['a', 'b'], timestamptz '2024-01-02 03:04:05+00')::${s}.address, 33, 9007199254740993)::${s}.person as p`, [], { int8: 'bigint' })
      .scalar();
    expect(person).toEqual({
      name: 'Ann',
      home: { street: '1 Main St', zip: 12345, tags: ['a', 'b'], seen: new Date('2024-01-02T03:04:05Z') },
      age: 33,
      big: 9007199254740993n,
    });
    const nulls = await pool.query(`select row(null, null, null, null)::${s}.person as p, null::${s}.person as q`).one();
    expect(nulls).toEqual({ p: { name: null, home: null, age: null, big: null }, q: null });
  });

  it('ranges are { lower, upper, lowerInclusive, upperInclusive, empty }, also unbounded, empty and in arrays', async () => {
    const row = await pool
      .query(`select int4range(1, 10) as a, tstzrange('2024-01-01', null) as b, 'empty'::int8range as c, ${s}.floatrange(1.5, 2.5, '[]') as d, array[int4range(1, 2), int4range(5, 9)] as e`)
      .one();
    expect(row).toEqual({
      a: { lower: 1, upper: 10, lowerInclusive: true, upperInclusive: false, empty: false },
      b: { lower: new Date('2024-01-01T00:00:00Z'), upper: null, lowerInclusive: true, upperInclusive: false, empty: false },
      c: { lower: null, upper: null, lowerInclusive: false, upperInclusive: false, empty: true },
      d: { lower: 1.5, upper: 2.5, lowerInclusive: true, upperInclusive: true, empty: false },
      e: [
        { lower: 1, upper: 2, lowerInclusive: true, upperInclusive: false, empty: false },
        { lower: 5, upper: 9, lowerInclusive: true, upperInclusive: false, empty: false },
      ],
    });
  });

  it('the same objects round-trip as parameters, through a table too', async () => {
    const t = `${s}.people`;
    await pool.query(`create table ${t} (id int, p ${s}.person, during tstzrange, spans int4range[])`).execute();
    const person = { name: 'Bo "the" \\ one', home: { street: 'x, (y)', zip: 1, tags: ['q"r', null, ''], seen: new Date('2024-05-06T07:08:09Z') }, age: 4, big: 12 };
    const during = { lower: new Date('2024-01-01T00:00:00Z'), upper: new Date('2024-02-01T00:00:00Z'), lowerInclusive: true, upperInclusive: false, empty: false };
    const spans = [{ lower: 1, upper: 3 }, { empty: true }];
    await pool.query(`insert into ${t} values (1, $1, $2, $3)`, [person, during, spans]).execute();
    const back = await pool.query(`select p, during, spans from ${t} where id = 1`).one();
    expect(back).toEqual({
      p: { ...person, home: { ...person.home } },
      during,
      spans: [
        { lower: 1, upper: 3, lowerInclusive: true, upperInclusive: false, empty: false },
        { lower: null, upper: null, lowerInclusive: false, upperInclusive: false, empty: true },
      ],
    });
    // A json field inside takes any JSON value, booleans and strings too.
    await pool.query(`create type ${s}.tagged as (label text, meta jsonb)`).execute();
    for (const meta of [true, 'x', { a: [1] }, 3]) {
      expect(await pool.query(`select $1::${s}.tagged as v`, [{ label: 'l', meta }]).scalar()).toEqual({ label: 'l', meta });
    }
    const err = await pool.query(`insert into ${t} (p) values ($1)`, [{ nmae: 'typo' }]).execute().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ParameterError);
    expect((err as Error).message).toMatch(/no field "nmae"; its fields are name, home, age, big/);
  });
});

describe('the types option', () => {
  it('a registered codec is applied to results (also in arrays) and to parameters', async () => {
    const t = `${s}.moods`;
    await pool.query(`create table ${t} (id int, m ${s}.mood, ms ${s}.mood[])`).execute();
    class Mood {
      constructor(readonly name: string) {}
    }
    const typed = newPool({
      max: 1,
      types: {
        [`${s}.mood`]: {
          parse: (text) => new Mood(text.toUpperCase()),
          serialize: (v) => (v as Mood).name.toLowerCase(),
        },
      },
    });
    await typed.query(`insert into ${t} values ($1, $2, $3)`, [1, new Mood('HAPPY'), [new Mood('SAD'), null]]).execute();
    expect(await pool.query(`select m::text, ms::text from ${t}`).one()).toEqual({ m: 'happy', ms: '{sad,NULL}' });
    const row = await typed.query(`select id, m, ms from ${t}`).one();
    expect(row).toEqual({ id: 1, m: new Mood('HAPPY'), ms: [new Mood('SAD'), null] });
    expect(row!.m).toBeInstanceOf(Mood);
    // Streams and array rows too.
    for await (const r of typed.query<unknown[]>(`select m from ${t}`, [], { rowMode: 'array' }).stream()) expect(r[0]).toBeInstanceOf(Mood);
    // Inside a transaction on a pool of one connection: the lookups run on the transaction's
    // own connection (another one would never come).
    const one = newPool({ max: 1, types: { [`${s}.mood`]: { parse: (x) => new Mood(x), serialize: (v) => (v as Mood).name } } });
    const inTx = await one.transaction(async (tx) => {
      await tx.query(`create temp table moods_tmp (m ${s}.mood)`).execute();
      await tx.query(`insert into moods_tmp values ($1)`, [new Mood('ok')]).execute();
      return tx.query(`select m from moods_tmp`).scalar();
    });
    expect(inTx).toEqual(new Mood('ok'));
    // A stream whose parameter lookup fails gives its connection back.
    const failing = await (async () => {
      for await (const _ of one.query('selec $1', [1], { timeout: 5000 }).stream()) {
        /* none */
      }
    })().catch((e: Error) => e);
    expect((failing as Error).message).toMatch(/syntax error/);
    await new Promise((r) => setTimeout(r, 100));
    expect(one.stats().connections.reserved).toBe(0);
    const unknown = newPool({ types: { no_such_type: { parse: String } } });
    await expect(unknown.query('select 1').all()).rejects.toThrow(/no type "no_such_type"/);
  });
});
