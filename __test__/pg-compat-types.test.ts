// node-postgres compatibility: how result values are parsed (pg-types over the text format),
// how parsers are overridden, and how JavaScript parameter values are sent.
import { describe, expect, it } from 'vitest';

import { databaseUrl, tableName } from './helpers';
import { pg, connect } from './pg-driver';

type Client = InstanceType<typeof pg.Client>;


async function one(client: Client, sql: string, values?: unknown[]) {
  return (await client.query(sql, values)).rows[0];
}

/** What pg sends for a Date: local time with the local UTC offset. */
function localIso(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  return (
    `${p(d.getFullYear(), 4)}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}` +
    `.${p(d.getMilliseconds(), 3)}${sign}${p(Math.floor(abs / 60))}:${p(abs % 60)}`
  );
}

describe('default parsing of results', () => {
  it('numbers: int2/int4/oid/float as numbers; int8 and numeric as strings', async () => {
    const client = await connect();
    const row = await one(
      client,
      `select 1::int2 a, -2::int4 b, 26::oid c, 1.5::float4 d, 1e20::float8 e, 'NaN'::float8 f,
              9223372036854775807::int8 g, -5::int8 h, 1.50::numeric i, 'NaN'::numeric j, 12345678901234567890.123::numeric k`,
    );
    expect(row).toEqual({ a: 1, b: -2, c: 26, d: 1.5, e: 1e20, f: NaN, g: '9223372036854775807', h: '-5', i: '1.50', j: 'NaN', k: '12345678901234567890.123' });
  });

  it('arrays: numeric[] as numbers, int8[] as strings, int4[] nested, text[] with nulls and quotes', async () => {
    const client = await connect();
    const row = await one(
      client,
      `select array[1.50, 2]::numeric[] a, array[1, 2]::int8[] b, '{{1,2},{3,4}}'::int[] c, array[1, null, 3] d,
              array['a', 'b c', null, '"q"', 'x,y'] e, array[true, false] f, '{}'::int[] g, array['\\x01'::bytea] h,
              array['{"a":1}'::json] i, array[1.5]::float8[] j`,
    );
    // pg: numeric[] elements go through parseFloat although numeric itself stays a string.
    expect(row.a).toEqual([1.5, 2]);
    expect(row.b).toEqual(['1', '2']);
    expect(row.c).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(row.d).toEqual([1, null, 3]);
    expect(row.e).toEqual(['a', 'b c', null, '"q"', 'x,y']);
    expect(row.f).toEqual([true, false]);
    expect(row.g).toEqual([]);
    expect(row.h).toEqual([Buffer.from([1])]);
    expect(row.i).toEqual([{ a: 1 }]);
    expect(row.j).toEqual([1.5]);
  });

  it('bool, json, jsonb, bytea, uuid, text types and null', async () => {
    const client = await connect();
    const row = await one(
      client,
      `select true a, false b, '{"a":1,"b":[true,null]}'::json c, '{"z": "ü"}'::jsonb d, '[1,"x"]'::jsonb e, 'null'::jsonb f,
              '\\x0102ff'::bytea g, ''::bytea h, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid i, 'x'::char j, 'xy'::varchar k,
              'multi
line'::text l, null::int m, null::text n, null::jsonb o`,
    );
    expect(row).toEqual({
      a: true,
      b: false,
      c: { a: 1, b: [true, null] },
      d: { z: 'ü' },
      e: [1, 'x'],
      f: null,
      g: Buffer.from([1, 2, 255]),
      h: Buffer.alloc(0),
      i: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      j: 'x',
      k: 'xy',
      l: 'multi\nline',
      m: null,
      n: null,
      o: null,
    });
    expect(Buffer.isBuffer(row.g)).toBe(true);
  });

  it('timestamptz is the instant; timestamp and date are local time; infinity is ±Infinity', async () => {
    const client = await connect();
    await client.query(`set timezone = 'America/New_York'`);
    const row = await one(
      client,
      `select '2024-01-02 03:04:05.678+00'::timestamptz a, '2024-07-01 12:00:00-07:30'::timestamptz b,
              '2024-01-02 03:04:05.678'::timestamp c, '2024-03-04'::date d, '0099-01-01'::date e,
              'infinity'::timestamptz f, '-infinity'::timestamp g, 'infinity'::date h`,
    );
    expect(row.a).toEqual(new Date('2024-01-02T03:04:05.678Z'));
    expect(row.b).toEqual(new Date('2024-07-01T19:30:00Z'));
    // timestamp without time zone: the wall-clock time read as local time of this process.
    expect(row.c).toEqual(new Date(2024, 0, 2, 3, 4, 5, 678));
    // date: local midnight.
    expect(row.d).toEqual(new Date(2024, 2, 4));
    const y99 = new Date(2000, 0, 1);
    y99.setFullYear(99);
    expect(row.e).toEqual(y99);
    // pg: infinite dates are the numbers Infinity and -Infinity, not Dates.
    expect([row.f, row.g, row.h]).toEqual([Infinity, -Infinity, Infinity]);
  });

  it('interval is a postgres-interval object with fields and toPostgres()', async () => {
    const client = await connect();
    const { i, z } = await one(client, `select '1 year 2 mons 3 days 04:05:06.5'::interval i, '0'::interval z`);
    expect([i.years, i.months, i.days, i.hours, i.minutes, i.seconds, i.milliseconds]).toEqual([1, 2, 3, 4, 5, 6, 500]);
    expect(i.toPostgres()).toBe('6.5 seconds 5 minutes 4 hours 3 days 2 months 1 years');
    expect(z.toPostgres()).toBe('0');
    // The object goes back to the server through toPostgres().
    expect(await one(client, `select $1::interval = '1 year 2 mons 3 days 04:05:06.5'::interval as same`, [i])).toEqual({ same: true });
  });

  it('point and circle are objects; other types are the server text unchanged', async () => {
    const client = await connect();
    const mood = tableName('pgc_mood');
    const comp = tableName('pgc_comp');
    const dom = tableName('pgc_dom');
    await client.query(`create type ${mood} as enum ('happy', 'sad')`);
    await client.query(`create type ${comp} as (a int, b text)`);
    await client.query(`create domain ${dom} as int check (value > 0)`);
    expect(await one(client, `select '(1.5,2)'::point p, '<(1,2),3>'::circle c`)).toEqual({ p: { x: 1.5, y: 2 }, c: { x: 1, y: 2, radius: 3 } });
    const exprs = [
      `'happy'::${mood}`,
      `array['happy', 'sad']::${mood}[]`,
      `row(1, 'x y')::${comp}`,
      `'10.0.0.1/8'::inet`,
      `'192.168.0.0/16'::cidr`,
      `12.5::money`,
      `'a fat cat'::tsvector`,
      `'12:34:56.5'::time`,
      `'12:00+02'::timetz`,
      `B'1010'::bit(4)`,
      `'[1,5)'::int4range`,
      `'08:00:2b:01:02:03'::macaddr`,
      `'<a>1</a>'::xml`,
      `'((0,0),(1,1))'::box`,
      `'pg_class'::regclass`,
    ];
    const res = await client.query(`select ${exprs.map((e, n) => `${e} as v${n}, (${e})::text as t${n}`).join(', ')}`);
    const row = res.rows[0];
    exprs.forEach((e, n) => {
      expect([e, typeof row[`v${n}`], row[`v${n}`]]).toEqual([e, 'string', row[`t${n}`]]);
    });
    expect(row.v1).toBe('{happy,sad}');
    expect(row.v2).toBe('(1,"x y")');
    // pg: the server describes a domain column by its base type, so a domain over int is a number.
    const d = await client.query(`select 5::${dom} as d`);
    expect(d.fields[0].dataTypeID).toBe(23);
    expect(d.rows[0].d).toBe(5);
  });
});

describe('overriding parsers', () => {
  it('parsers see the exact server text: session time zone, trailing zeros, float format', async () => {
    const client = await connect();
    await client.query(`set timezone = 'Asia/Kolkata'`);
    const seen: [number, string, string][] = [];
    const res = await client.query({
      text: `select '2024-01-02 03:04:05.678+00'::timestamptz a, 1.50::numeric b, 1e20::float8 c, 1e-7::float8 d, '2024-01-02'::date e, true f, null::int g`,
      types: {
        getTypeParser: (oid: number, format?: string) => (text: string) => {
          seen.push([oid, format ?? '', text]);
          return `parsed:${text}`;
        },
      },
    } as import('pg').QueryConfig);
    expect(seen).toEqual([
      [1184, 'text', '2024-01-02 08:34:05.678+05:30'],
      [1700, 'text', '1.50'],
      [701, 'text', '1e+20'],
      [701, 'text', '1e-07'],
      [1082, 'text', '2024-01-02'],
      [16, 'text', 't'],
    ]);
    // Parsers are not called for nulls.
    expect(res.rows[0]).toEqual({
      a: 'parsed:2024-01-02 08:34:05.678+05:30',
      b: 'parsed:1.50',
      c: 'parsed:1e+20',
      d: 'parsed:1e-07',
      e: 'parsed:2024-01-02',
      f: 'parsed:t',
      g: null,
    });
    // The default timestamptz parser reads the offset: the same instant whatever the session zone.
    expect((await one(client, `select '2024-01-02 03:04:05.678+00'::timestamptz a`)).a).toEqual(new Date('2024-01-02T03:04:05.678Z'));
  });

  it('a TypeOverrides given as `types` applies to that client only; client.setTypeParser too', async () => {
    const overrides = new pg.TypeOverrides();
    overrides.setTypeParser(1700, parseFloat);
    const custom = await connect({ connectionString: databaseUrl, types: overrides });
    const plain = await connect();
    expect(await one(custom, 'select 1.50::numeric n, 2::int4 i')).toEqual({ n: 1.5, i: 2 });
    expect(await one(plain, 'select 1.50::numeric n, 2::int4 i')).toEqual({ n: '1.50', i: 2 });
    plain.setTypeParser(20, (v: string) => BigInt(v));
    expect(await one(plain, 'select 9007199254740993::int8 n')).toEqual({ n: 9007199254740993n });
    expect(plain.getTypeParser(20)('1')).toBe(1n);
    expect(await one(custom, 'select 9007199254740993::int8 n')).toEqual({ n: '9007199254740993' });
    // Per-query types win over the client's.
    const q = await custom.query({ text: 'select 1.50::numeric n', types: { getTypeParser: () => (v: string) => `q:${v}` } } as import('pg').QueryConfig);
    expect(q.rows).toEqual([{ n: 'q:1.50' }]);
  });

  it('a Pool passes `types` to its clients', async () => {
    const overrides = new pg.TypeOverrides();
    overrides.setTypeParser(1082, (v: string) => `date:${v}`);
    const pool = new pg.Pool({ connectionString: databaseUrl, types: overrides, max: 1 });
    try {
      expect((await pool.query(`select '2024-05-06'::date d`)).rows).toEqual([{ d: 'date:2024-05-06' }]);
    } finally {
      await pool.end();
    }
  });
});

describe('parameters as pg sends them', () => {
  it('a Date is sent as local ISO time with offset, into timestamp, timestamptz and date', async () => {
    const client = await connect();
    // The session zone differs from any usual process zone: timestamp keeps the process's wall clock.
    await client.query(`set timezone = 'Pacific/Chatham'`);
    const d = new Date(2024, 0, 2, 3, 4, 5, 678);
    const row = await one(
      client,
      `select $1::text t, $1::timestamp ts, $1::timestamptz tz, to_char($1::timestamptz at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS') utc, $2::date dd`,
      [d, new Date(2024, 5, 7)],
    );
    expect(row.t).toBe(localIso(d));
    expect(row.ts).toEqual(d);
    expect(row.tz).toEqual(d);
    expect(row.utc + 'Z').toBe(d.toISOString());
    expect(row.dd).toEqual(new Date(2024, 5, 7));
    const t = tableName('pgc_dates');
    await client.query(`create table ${t} (ts timestamp, tz timestamptz)`);
    await client.query(`insert into ${t} values ($1, $2)`, [d, d]);
    expect(await one(client, `select ts, tz from ${t}`)).toEqual({ ts: d, tz: d });
  });

  it('arrays are sent as array literals: nested, with nulls, quotes and backslashes', async () => {
    const client = await connect();
    const t = tableName('pgc_arrays');
    await client.query(`create table ${t} (i int[], s text[], m int[][])`);
    const texts = ['a', 'b"c', 'd\\e', null, '', 'NULL', 'x,y', '{}'];
    await client.query(`insert into ${t} values ($1, $2, $3)`, [[1, null, 3], texts, [[1, 2], [3, 4]]]);
    expect(await one(client, `select i, s, m, s::text st from ${t}`)).toEqual({
      i: [1, null, 3],
      s: texts,
      m: [
        [1, 2],
        [3, 4],
      ],
      st: '{a,"b\\"c","d\\\\e",NULL,"","NULL","x,y","{}"}',
    });
    // pg: every element is quoted, even numbers.
    expect(await one(client, 'select $1::text t', [[1, 2, null]])).toEqual({ t: '{"1","2",NULL}' });
    expect(await one(client, 'select $1::bytea[] b', [[Buffer.from([1]), Buffer.from([2, 3])]])).toEqual({ b: [Buffer.from([1]), Buffer.from([2, 3])] });
  });

  it('objects are sent as JSON; arrays are not, even for json columns', async () => {
    const client = await connect();
    const t = tableName('pgc_json');
    await client.query(`create table ${t} (j jsonb)`);
    const value = { a: 1, b: [1, 'x', null], c: { d: true } };
    await client.query(`insert into ${t} values ($1)`, [value]);
    expect(await one(client, `select j from ${t}`)).toEqual({ j: value });
    // pg: a JS array becomes a Postgres array literal, which is not valid JSON.
    const err = (await client.query(`insert into ${t} values ($1)`, [[{ a: 1 }]]).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe('invalid input syntax for type json');
    await client.query(`insert into ${t} values ($1)`, [JSON.stringify([{ a: 1 }])]);
    expect((await client.query(`select j from ${t} where jsonb_typeof(j) = 'array'`)).rows).toEqual([{ j: [{ a: 1 }] }]);
  });

  it('toPostgres(), Buffer, Uint8Array, booleans, numbers, bigint, null and undefined', async () => {
    const client = await connect();
    const row = await one(
      client,
      `select $1::text a, $2::text b, $3::bytea c, encode($3::bytea, 'hex') ch, $4::text d, $5::bool e, $6::bool f, $5::text et,
              $7::text g, $8::int8 h, $9::text i, $10::int j, $11::text k`,
      [
        { toPostgres: () => 'custom' },
        { toPostgres: (prepare: (v: unknown) => unknown) => prepare([1, 2]) },
        Buffer.from([1, 2, 255]),
        new Uint8Array([65, 66]),
        true,
        false,
        1.5,
        123456789012345678n,
        undefined,
        null,
        'plain',
      ],
    );
    expect(row).toEqual({
      a: 'custom',
      b: '{"1","2"}',
      c: Buffer.from([1, 2, 255]),
      ch: '0102ff',
      d: 'AB',
      e: true,
      f: false,
      et: 'true',
      g: '1.5',
      h: '123456789012345678',
      i: null,
      j: null,
      k: 'plain',
    });
    const circular: { toPostgres(): unknown } = { toPostgres: () => circular };
    await expect(client.query('select $1::text', [circular])).rejects.toThrow(
      'circular reference detected while preparing "[object Object]" for query',
    );
    expect(await one(client, 'select 1 as still_ok')).toEqual({ still_ok: 1 });
  });

  it('integers are their decimal text for any type, as String(n) gives it, through pool and client', async () => {
    const sql = `select $1::text a, $2::int8 b, $3::bool c, $4::numeric d, $5::jsonb e, $6::text f, $7::text g, $8::int2 h`;
    const values = [5, Number.MAX_SAFE_INTEGER, 1, -0, 42, 2 ** 60, -17, 7];
    const expected = { a: '5', b: '9007199254740991', c: true, d: '0', e: 42, f: String(2 ** 60), g: '-17', h: 7 };
    const client = await connect();
    expect(await one(client, sql, values)).toEqual(expected);
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    try {
      expect((await pool.query(sql, values)).rows[0]).toEqual(expected);
      // The server judges the text, as with pg: its error, and the connection stays usable.
      await expect(pool.query('select $1::int2 as v', [40000])).rejects.toMatchObject({ code: '22003' });
      expect((await pool.query('select $1::int2 as v', [-3])).rows[0]).toEqual({ v: -3 });
    } finally {
      await pool.end();
    }
  });
});
