/**
 * Round trips of every supported type through a real table: the value goes in as a query
 * parameter, comes back with a SELECT, and (where the type has an equality operator) goes back
 * in once more as a parameter in a WHERE clause that must find the row.
 *
 * The expected JavaScript values follow the driver's documented type policy; for types that
 * arrive as PostgreSQL's text, the tests also compare with the server's own `v::text`.
 */
import { beforeAll, describe, expect, it } from 'vitest';

import { Int8RangeError, ParameterError, PostgresError, type Int8Mode, type Pool } from '../src';
import { newPool, tableName } from './helpers';

// A zone far from UTC, so any use of the host's local time zone shows up as a wrong value.
process.env.TZ = 'Pacific/Kiritimati';

const pool = newPool();

interface RoundTripOptions {
  /** Per-query int8 mode for the SELECT and the WHERE lookup. */
  int8?: Int8Mode;
  /** Pool to run on (default: the file's pool, int8 'number'). */
  pool?: Pool;
  /** Also look the row up with `v = $2` and the value that came out (default true). */
  where?: boolean;
  /** PostgreSQL's own text output of the stored value, checked (first) when given. */
  text?: string;
}

const tables = new Map<string, Promise<string>>();

/** A table `(id serial, v <type>)`, one per type for the whole file. */
function tableFor(type: string): Promise<string> {
  let t = tables.get(type);
  if (t === undefined) {
    const name = tableName('types');
    t = pool
      .query(`create table ${name} (id serial primary key, v ${type})`)
      .execute()
      .then(() => name);
    tables.set(type, t);
  }
  return t;
}

/**
 * Inserts `value` as `$1` into a `type` column, reads it back and checks it equals `expected`,
 * then passes what came out back as a parameter in a WHERE clause. Returns what came out.
 */
async function roundTrip(type: string, value: unknown, expected: unknown = value, o: RoundTripOptions = {}): Promise<unknown> {
  const p = o.pool ?? pool;
  const t = await tableFor(type);
  const id = await p.query<{ id: number }>(`insert into ${t} (v) values ($1) returning id`, [value]).scalar();
  if (o.text !== undefined) {
    // format('%s') uses the type's output function (`v::text` is a different function for inet).
    expect(await p.query(`select format('%s', v) from ${t} where id = $1`, [id]).scalar(), 'PostgreSQL text').toBe(o.text);
  }
  const got = await p.query(`select v from ${t} where id = $1`, [id], { int8: o.int8 }).scalar();
  expect(got).toEqual(expected);
  if (o.where !== false) {
    const found =
      got === null
        ? await p.query(`select id from ${t} where id = $1 and v is null`, [id]).scalar()
        : await p.query(`select id from ${t} where id = $1 and v = $2::${type}`, [id, got], { int8: o.int8 }).scalar();
    expect(found, `WHERE v = $2 with ${String(got)}`).toBe(id);
  }
  return got;
}

/** The error a query fails with (thrown synchronously or rejected). */
async function failure(run: () => PromiseLike<unknown>): Promise<Error> {
  const err = await Promise.resolve()
    .then(run)
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(err, 'the query should have failed').toBeInstanceOf(Error);
  return err as Error;
}

/** A single value selected with PostgreSQL text output of the same expression. */
async function selectWithText(expr: string): Promise<{ v: unknown; t: string }> {
  return pool.query<{ v: unknown; t: string }>(`select ${expr} as v, format('%s', ${expr}) as t`).one();
}

const INT8_MIN = -9223372036854775808n;
const INT8_MAX = 9223372036854775807n;
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

let moodType = '';
let compositeType = '';

beforeAll(async () => {
  moodType = tableName('mood');
  compositeType = tableName('comp');
  await pool.query(`create type ${moodType} as enum ('sad', 'ok', 'happy', 'with space', 'Ünïcode 😀')`).execute();
  await pool
    .query(`create type ${compositeType} as (a int4, b text, c numeric, d text[], e date, f timestamptz, g bytea, h bool)`)
    .execute();
});

describe('bool', () => {
  it('round-trips true and false', async () => {
    await roundTrip('bool', true);
    await roundTrip('bool', false);
    await roundTrip('bool', null);
  });
});

describe('int2 / int4', () => {
  it('int2 edge values are numbers', async () => {
    for (const v of [0, 1, -1, -32768, 32767]) await roundTrip('int2', v, v, { text: String(v) });
    await roundTrip('int2', '123', 123);
    await roundTrip('int2', null);
  });

  it('int4 edge values are numbers', async () => {
    for (const v of [0, 42, -2147483648, 2147483647]) await roundTrip('int4', v, v, { text: String(v) });
    await roundTrip('int4', 7n, 7);
    await roundTrip('int4', ' 12 ', 12);
    await roundTrip('int4', null);
  });
});

describe('int8', () => {
  const bigPool = newPool({ int8: 'bigint' });
  const stringPool = newPool({ int8: 'string' });

  it('number mode (default) is exact up to +/-(2^53-1)', async () => {
    await roundTrip('int8', 9007199254740991n, 9007199254740991);
    await roundTrip('int8', -9007199254740991n, -9007199254740991);
    await roundTrip('int8', 0, 0);
    await roundTrip('int8', null);
  });

  it('number mode rejects values beyond 2^53-1 with Int8RangeError, never rounds', async () => {
    const t = await tableFor('int8');
    for (const v of [9007199254740992n, -9007199254740992n, INT8_MAX, INT8_MIN]) {
      const id = await pool.query(`insert into ${t} (v) values ($1) returning id`, [v]).scalar();
      const err = await failure(() => pool.query(`select v from ${t} where id = $1`, [id]).all());
      expect(err).toBeInstanceOf(Int8RangeError);
      // The same row reads fine as a bigint or a string.
      expect(await pool.query(`select v from ${t} where id = $1`, [id], { int8: 'bigint' }).scalar()).toBe(v);
      expect(await pool.query(`select v from ${t} where id = $1`, [id], { int8: 'string' }).scalar()).toBe(v.toString());
    }
    expect(await pool.query('select 1 as ok').scalar()).toBe(1);
  });

  it('bigint and string modes per query carry the full range', async () => {
    for (const v of [INT8_MIN, INT8_MAX, 0n, -1n, 9007199254740993n]) {
      await roundTrip('int8', v, v, { int8: 'bigint', text: v.toString() });
      await roundTrip('int8', v, v.toString(), { int8: 'string' });
    }
  });

  it('bigint and string modes as pool options, and a per-query override', async () => {
    await roundTrip('int8', INT8_MAX, INT8_MAX, { pool: bigPool });
    await roundTrip('int8', INT8_MIN, INT8_MIN.toString(), { pool: stringPool });
    await roundTrip('int8', 5n, 5, { pool: bigPool, int8: 'number' });
    await roundTrip('int8', null, null, { pool: bigPool });
    expect(await bigPool.query('select 1::int8 as v', [], { int8: 'number' }).scalar()).toBe(1);
    expect(await bigPool.query('select 1::int8 as v').scalar()).toBe(1n);
    expect(await stringPool.query('select 1::int8 as v').scalar()).toBe('1');
  });

  it('accepts bigint, number and string parameters', async () => {
    await roundTrip('int8', 42n, 42);
    await roundTrip('int8', 42, 42);
    await roundTrip('int8', '42', 42);
    await roundTrip('int8', '-9223372036854775808', INT8_MIN, { int8: 'bigint' });
    await roundTrip('int8', '9223372036854775807', '9223372036854775807', { int8: 'string' });
    await roundTrip('int8', -9007199254740991, -9007199254740991);
  });

  it('refuses a number parameter that may already be rounded (beyond 2^53-1)', async () => {
    const err = await failure(() => pool.query('select $1::int8 as v', [2 ** 53]).all());
    expect(err).toBeInstanceOf(ParameterError);
    expect(err.message).toMatch(/\$1 \(int8\)/);
  });
});

describe('float4 / float8', () => {
  it('float8 special and edge values are numbers', async () => {
    for (const v of [1.5, -2.25, 0, 1e300, -1e300, 5e-324, Number.MAX_VALUE, 0.1 + 0.2]) await roundTrip('float8', v);
    await roundTrip('float8', NaN, NaN, { text: 'NaN' });
    await roundTrip('float8', Infinity, Infinity, { text: 'Infinity' });
    await roundTrip('float8', -Infinity, -Infinity, { text: '-Infinity' });
    await roundTrip('float8', '1.5', 1.5);
    await roundTrip('float8', 'NaN', NaN);
    await roundTrip('float8', null);
  });

  it('float4 exactly representable values are numbers', async () => {
    for (const v of [1.5, -0.25, 0, 1024, 16777216]) await roundTrip('float4', v);
    await roundTrip('float4', NaN);
    await roundTrip('float4', Infinity);
    await roundTrip('float4', -Infinity);
    await roundTrip('float4', null);
  });
});

describe('numeric', () => {
  it('comes back as the exact decimal string', async () => {
    for (const v of ['12345678901234567890.123456789', '-0.0001', 'NaN', '0.00', '0', '100000000', '0.00001', '1.10', 'Infinity', '-Infinity']) {
      await roundTrip('numeric', v, v, { text: v });
    }
    await roundTrip('numeric', '-99999999999999999999999999999999.000000000000000000000000001');
    await roundTrip('numeric(10,3)', '1.5', '1.500', { text: '1.500' });
    await roundTrip('numeric', null);
  });

  it('accepts string, number and bigint parameters', async () => {
    await roundTrip('numeric', 1.5, '1.5');
    await roundTrip('numeric', 0.1, '0.1');
    await roundTrip('numeric', -42, '-42');
    await roundTrip('numeric', 123456789012345678901234567890n, '123456789012345678901234567890');
  });
});

describe('text types', () => {
  const tricky = ['', 'hello', '😀𝄞 中文 é', 'a"b\\c\nd\te', "it's", 'NULL', '\u0001'];

  it('text round-trips, including characters beyond the BMP', async () => {
    for (const v of tricky) await roundTrip('text', v);
    await roundTrip('text', null);
  });

  it('text over 1 MB, ASCII and non-ASCII', async () => {
    const ascii = 'x'.repeat(1_500_000);
    expect(await roundTrip('text', ascii)).toHaveLength(1_500_000);
    const wide = 'é😀中'.repeat(300_000); // 2.7 MB of UTF-8
    const got = (await roundTrip('text', wide)) as string;
    expect(got.length).toBe(wide.length);
    expect(Buffer.byteLength(got)).toBe(2_700_000);
  });

  it('varchar(n), char(n) (space padded) and name', async () => {
    await roundTrip('varchar(10)', 'abc');
    await roundTrip('varchar(10)', '😀𝄞 中文 é');
    await roundTrip('varchar(10)', null);
    await roundTrip('char(4)', 'ab', 'ab  ');
    await roundTrip('char(4)', 'abcd');
    await roundTrip('char(4)', '', '    ');
    await roundTrip('char(4)', null);
    await roundTrip('name', 'pg_class');
    await roundTrip('name', 'a'.repeat(70), 'a'.repeat(63)); // PostgreSQL truncates names to 63 bytes
    await roundTrip('name', null);
  });
});

describe('bytea', () => {
  it('Buffers in, Buffers out', async () => {
    const got = await roundTrip('bytea', Buffer.from('hello'));
    expect(Buffer.isBuffer(got)).toBe(true);
    expect(await roundTrip('bytea', Buffer.alloc(0))).toHaveLength(0);
    await roundTrip('bytea', ALL_BYTES, ALL_BYTES, { text: `\\x${ALL_BYTES.toString('hex')}` });
    await roundTrip('bytea', null);
  });

  it('accepts a Uint8Array (also a view at an offset)', async () => {
    const got = await roundTrip('bytea', new Uint8Array([1, 2, 3]), Buffer.from([1, 2, 3]));
    expect(Buffer.isBuffer(got)).toBe(true);
    const backing = new Uint8Array([9, 9, 4, 5, 6, 9]);
    await roundTrip('bytea', backing.subarray(2, 5), Buffer.from([4, 5, 6]));
  });
});

describe('uuid', () => {
  it('comes back as a lowercase hyphenated string', async () => {
    await roundTrip('uuid', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
    await roundTrip('uuid', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
    await roundTrip('uuid', '{a0eebc999c0b4ef8bb6d6bb9bd380a11}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
    await roundTrip('uuid', '00000000-0000-0000-0000-000000000000');
    await roundTrip('uuid', 'ffffffff-ffff-ffff-ffff-ffffffffffff');
    await roundTrip('uuid', null);
  });
});

describe('json / jsonb', () => {
  const docs: unknown[] = [
    { a: 1, b: 'x', c: true, d: null },
    [1, 'two', null, { three: 3 }],
    { nested: { deep: [1, [2, [3, { e: 'é😀 "q" \\ \n' }]]] } },
    {},
    [],
    1.5,
    -42,
    true,
  ];

  it('jsonb: a JS object or array is sent as JSON and comes out parsed', async () => {
    for (const d of docs) await roundTrip('jsonb', d);
    await roundTrip('jsonb', null);
  });

  it('json: a JS object or array is sent as JSON and comes out parsed', async () => {
    // json has no equality operator: no WHERE lookup.
    for (const d of docs) await roundTrip('json', d, d, { where: false });
    await roundTrip('json', null, null);
  });

  it('a JS string parameter is taken as JSON text', async () => {
    await roundTrip('jsonb', '{"a":1}', { a: 1 });
    await roundTrip('jsonb', '[1, 2, {"b": null}]', [1, 2, { b: null }]);
    // A JSON string document: the value out is a JS string, which as a parameter is JSON text
    // again, so it cannot be sent back as-is.
    await roundTrip('jsonb', '"hello"', 'hello', { where: false });
    await roundTrip('json', '{"a":1}', { a: 1 }, { where: false });
    // JSON null comes out as null, like SQL NULL (but the row holds a json value).
    await roundTrip('jsonb', 'null', null, { where: false, text: 'null' });
    const err = await failure(() => pool.query('select $1::jsonb as v', ['not json']).all());
    expect(err).toBeInstanceOf(PostgresError);
  });

  it('json keeps the text (key order, duplicates), jsonb normalises it; both come out parsed', async () => {
    const text = '{"b": 1, "a": 2, "a": 3}';
    const j = (await roundTrip('json', text, { b: 1, a: 3 }, { where: false, text })) as object;
    expect(Object.keys(j)).toEqual(['b', 'a']);
    const jb = (await roundTrip('jsonb', text, { a: 3, b: 1 }, { text: '{"a": 3, "b": 1}' })) as object;
    expect(Object.keys(jb)).toEqual(['a', 'b']);
  });
});

describe('date', () => {
  it("is a 'YYYY-MM-DD' string, with infinities and BC dates", async () => {
    for (const v of ['2024-02-29', '1970-01-01', '1999-12-31', '0001-01-01', '9999-12-31', 'infinity', '-infinity', '0044-03-15 BC']) {
      await roundTrip('date', v, v, { text: v });
    }
    await roundTrip('date', '10000-01-01', '10000-01-01', { text: '10000-01-01' });
    await roundTrip('date', null);
  });

  it('a Date parameter is read as its UTC date', async () => {
    await roundTrip('date', new Date('2024-02-29T23:30:00Z'), '2024-02-29');
    await roundTrip('date', new Date('2024-02-29T00:00:00Z'), '2024-02-29');
    await roundTrip('date', new Date('2024-02-29T20:00:00-05:00'), '2024-03-01');
    await roundTrip('date', new Date('1969-12-31T23:59:59.999Z'), '1969-12-31');
    await roundTrip('date', new Date('-000043-03-15T12:00:00Z'), '0044-03-15 BC');
  });
});

describe('time / timetz', () => {
  it("time is 'HH:MM:SS[.ffffff]'", async () => {
    for (const v of ['12:34:56', '00:00:00', '12:34:56.789', '23:59:59.999999', '24:00:00', '01:02:03.1']) {
      await roundTrip('time', v, v, { text: v });
    }
    await roundTrip('time', '1:2:3.500', '01:02:03.5');
    await roundTrip('time', null);
  });

  it('timetz keeps its offset', async () => {
    for (const v of ['12:34:56+05:30', '12:34:56-08', '00:00:00+00', '23:59:59.123456-12', '06:00:00+05:45']) {
      await roundTrip('timetz', v, v, { text: v });
    }
    await roundTrip('timetz', null);
  });
});

describe('timestamp / timestamptz', () => {
  it('timestamp (without time zone) is a Date read as UTC', async () => {
    await roundTrip('timestamp', '2024-02-29 12:00:00', new Date('2024-02-29T12:00:00Z'));
    await roundTrip('timestamp', '1970-01-01 00:00:00', new Date(0));
    await roundTrip('timestamp', '1969-12-31 23:59:59.999', new Date('1969-12-31T23:59:59.999Z'));
    await roundTrip('timestamp', '0044-03-15 12:00:00 BC', new Date('-000043-03-15T12:00:00Z'));
    await roundTrip('timestamp', '275760-09-13 00:00:00', new Date(8.64e15));
    await roundTrip('timestamp', null);
  });

  it('timestamptz is a Date', async () => {
    await roundTrip('timestamptz', '2024-02-29 12:00:00+05:30', new Date('2024-02-29T06:30:00Z'));
    await roundTrip('timestamptz', '2024-02-29T12:00:00Z', new Date('2024-02-29T12:00:00Z'));
    await roundTrip('timestamptz', '0044-03-15 12:00:00+00 BC', new Date('-000043-03-15T12:00:00Z'));
    await roundTrip('timestamptz', null);
  });

  it('a Date parameter round-trips exactly (ms precision)', async () => {
    for (const d of [new Date('2024-02-29T12:34:56.789Z'), new Date(0), new Date(-1), new Date('1900-01-01T00:00:00.001Z')]) {
      await roundTrip('timestamptz', d);
      await roundTrip('timestamp', d);
    }
    await roundTrip('timestamp', new Date('2024-02-29T12:34:56.789Z'), new Date('2024-02-29T12:34:56.789Z'), {
      text: '2024-02-29 12:34:56.789',
    });
  });

  it("'infinity' and '-infinity' come back as those strings", async () => {
    for (const type of ['timestamp', 'timestamptz']) {
      await roundTrip(type, 'infinity', 'infinity', { text: 'infinity' });
      await roundTrip(type, '-infinity', '-infinity', { text: '-infinity' });
    }
  });

  it('microseconds are truncated to milliseconds', async () => {
    await roundTrip('timestamp', '2024-01-01 12:34:56.789999', new Date('2024-01-01T12:34:56.789Z'), { where: false });
    await roundTrip('timestamptz', '2024-01-01 12:34:56.000999+00', new Date('2024-01-01T12:34:56.000Z'), { where: false });
    // Before 1970 too: the digits are cut (23:59:59.999), not the millisecond count rounded toward zero.
    await roundTrip('timestamp', '1969-12-31 23:59:59.9995', new Date('1969-12-31T23:59:59.999Z'), { where: false });
  });
});

describe('interval', () => {
  it("is PostgreSQL's text", async () => {
    const cases: [string, string][] = [
      ['1 year 2 mons 3 days 04:05:06.5', '1 year 2 mons 3 days 04:05:06.5'],
      ['-1 days', '-1 days'],
      ['0', '00:00:00'],
      ['1 day -1 hour', '1 day -01:00:00'],
      ['-1 year -2 mons -3 days -04:05:06', '-1 years -2 mons -3 days -04:05:06'],
      ['1 mon -1 day', '1 mon -1 days'],
      ['-2 days 1 second', '-2 days +00:00:01'],
      ['-1.5 seconds', '-00:00:01.5'],
      ['100 hours', '100:00:00'],
      ['0.000001 seconds', '00:00:00.000001'],
      ['-178956970 years -8 mons', '-178956970 years -8 mons'],
    ];
    for (const [input, out] of cases) await roundTrip('interval', input, out, { text: out });
    await roundTrip('interval', null);
  });

  // PostgreSQL writes '+' before a positive field only when the field just before it was negative.
  it.each([
    ['-1 mon 2 days 3 hours', '-1 mons +2 days 03:00:00'],
    ['-1 year 1 day 1 hour', '-1 years +1 day 01:00:00'],
  ])("signs like PostgreSQL when fields of both signs mix: '%s'", async (input, out) => {
    await roundTrip('interval', input, out, { text: out });
  });
});

describe('network types', () => {
  it('inet and cidr are strings', async () => {
    for (const v of ['192.168.0.1', '192.168.0.1/24', '::1', '2001:db8::1/64', '::ffff:1.2.3.4', '0.0.0.0']) {
      await roundTrip('inet', v, v, { text: v });
    }
    for (const v of ['10.0.0.0/8', '2001:db8::/32', '192.168.1.0/24', '1.2.3.4/32']) await roundTrip('cidr', v, v, { text: v });
    await roundTrip('inet', null);
    await roundTrip('cidr', null);
  });

  it('IPv4-compatible IPv6 addresses print like PostgreSQL', async () => {
    await roundTrip('inet', '::1.2.3.4', '::1.2.3.4', { text: '::1.2.3.4' });
  });

  it('macaddr and macaddr8 are lowercase colon-separated strings', async () => {
    await roundTrip('macaddr', '08:00:2b:01:02:03');
    await roundTrip('macaddr', '08-00-2B-01-02-03', '08:00:2b:01:02:03');
    await roundTrip('macaddr8', '08:00:2b:01:02:03:04:05');
    await roundTrip('macaddr', null);
  });
});

describe('money', () => {
  it('is a string like $1,234.56', async () => {
    await roundTrip('money', '1234.56', '$1,234.56', { text: '$1,234.56' });
    await roundTrip('money', '-1234567.89', '-$1,234,567.89', { text: '-$1,234,567.89' });
    await roundTrip('money', '0', '$0.00', { text: '$0.00' });
    await roundTrip('money', 12.5, '$12.50');
    await roundTrip('money', '92233720368547758.07', '$92,233,720,368,547,758.07');
    await roundTrip('money', '-92233720368547758.08', '-$92,233,720,368,547,758.08');
    await roundTrip('money', null);
  });
});

describe('oid', () => {
  it('is a number', async () => {
    await roundTrip('oid', 0);
    await roundTrip('oid', 4294967295, 4294967295, { text: '4294967295' });
    await roundTrip('oid', '1259', 1259);
    await roundTrip('oid', null);
  });
});

describe('enums', () => {
  it('are strings', async () => {
    for (const v of ['sad', 'happy', 'with space', 'Ünïcode 😀']) await roundTrip(moodType, v);
    await roundTrip(moodType, null);
    const err = await failure(() => roundTrip(moodType, 'angry'));
    expect(err).toBeInstanceOf(PostgresError);
  });
});

describe('arrays', () => {
  it('int4[] including NULL elements, 2-D, empty and NULL arrays', async () => {
    await roundTrip('int4[]', [1, -2147483648, 2147483647]);
    await roundTrip('int4[]', [1, null, 3]);
    await roundTrip('int4[]', [[1, 2], [3, 4]], [[1, 2], [3, 4]], { text: '{{1,2},{3,4}}' });
    await roundTrip('int4[]', [[[1]], [[2]]]);
    await roundTrip('int4[]', [], [], { text: '{}' });
    await roundTrip('int4[]', null);
    await roundTrip('int2[]', [-32768, 32767, null]);
  });

  it('int8[] follows the int8 mode', async () => {
    await roundTrip('int8[]', [1, -9007199254740991, 9007199254740991, null]);
    await roundTrip('int8[]', [INT8_MIN, INT8_MAX, null, 0n], [INT8_MIN, INT8_MAX, null, 0n], { int8: 'bigint' });
    await roundTrip('int8[]', [INT8_MIN, 1, '2'], [INT8_MIN.toString(), '1', '2'], { int8: 'string' });
    await roundTrip('int8[]', [[1n, 2n], [3n, 4n]], [[1n, 2n], [3n, 4n]], { int8: 'bigint' });
    const t = await tableFor('int8[]');
    const id = await pool.query(`insert into ${t} (v) values ($1) returning id`, [[1n, INT8_MAX]]).scalar();
    const err = await failure(() => pool.query(`select v from ${t} where id = $1`, [id]).all());
    expect(err).toBeInstanceOf(Int8RangeError);
  });

  it('text[] with quotes, commas, backslashes, braces, NULL, empty strings and unicode', async () => {
    const v = ['a"b', 'c,d', 'back\\slash', '{brace}', '}', 'NULL', 'null', '', ' lead', 'trail ', '😀𝄞 中文 é', null, 'x y'];
    await roundTrip('text[]', v);
    await roundTrip('text[]', [['a', 'b'], ['c', null]]);
    await roundTrip('text[]', []);
    await roundTrip('varchar(5)[]', ['ab', 'cd']);
  });

  it('float8[] and float4[] with NaN and infinities', async () => {
    await roundTrip('float8[]', [NaN, Infinity, -Infinity, 1.5, 1e300, 5e-324, 0, -2, null, 0.1]);
    await roundTrip('float4[]', [1.5, NaN, -Infinity, 0.25, null]);
  });

  it('bool[], numeric[], uuid[]', async () => {
    await roundTrip('bool[]', [true, false, null]);
    await roundTrip('numeric[]', ['1.10', 'NaN', '-0.0001', '12345678901234567890.123456789', null]);
    await roundTrip('numeric[]', [1.5, 10n, '0.00'], ['1.5', '10', '0.00']);
    await roundTrip(
      'uuid[]',
      ['A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', null],
      ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', null],
    );
  });

  it('timestamptz[] and timestamp[] hold Dates (and infinity strings)', async () => {
    const d = new Date('2024-02-29T12:34:56.789Z');
    await roundTrip('timestamptz[]', [d, null, new Date(0), 'infinity', '-infinity']);
    await roundTrip('timestamp[]', [d, '2024-02-29 12:00:00', null], [d, new Date('2024-02-29T12:00:00Z'), null]);
    await roundTrip('timestamptz[]', [new Date('-000043-03-15T12:00:00Z')]);
  });

  it('date[] holds strings; Date elements are read as their UTC date', async () => {
    await roundTrip('date[]', ['2024-02-29', 'infinity', '-infinity', '0044-03-15 BC', null]);
    await roundTrip('date[]', [new Date('2024-02-29T23:30:00Z')], ['2024-02-29']);
  });

  it('date[] with a BC Date element', async () => {
    await roundTrip('date[]', [new Date('-000043-03-15T00:00:00Z')], ['0044-03-15 BC']);
  });

  it('date[] with a Date element in a five-digit year', async () => {
    await roundTrip('date[]', [new Date('+010000-01-01T00:00:00Z')], ['10000-01-01']);
  });

  it('bytea[] holds Buffers', async () => {
    const got = (await roundTrip('bytea[]', [Buffer.from([0, 255]), Buffer.alloc(0), null, ALL_BYTES])) as unknown[];
    expect(Buffer.isBuffer(got[0])).toBe(true);
  });

  it('jsonb[] holds parsed documents', async () => {
    await roundTrip('jsonb[]', [{ a: 1 }, { b: [1, 'x', null] }, null, [1, 2], 3]);
    await roundTrip('json[]', [{ a: 1 }, [true]], [{ a: 1 }, [true]], { where: false });
  });

  it('enum[] holds strings', async () => {
    await roundTrip(`${moodType}[]`, ['sad', 'with space', null]);
  });
});

describe('records and composite types', () => {
  it("an anonymous record is PostgreSQL's text", async () => {
    expect(await pool.query(`select row(1, 'a b', null) as r`).scalar()).toBe('(1,"a b",)');
    const { v, t } = await selectWithText(`row('a"b', E'c\\\\d', '', 'x,y', 'NULL', '(p)', true, 2.50::numeric)`);
    expect(t).toBe('("a""b","c\\\\d","","x,y",NULL,"(p)",t,2.50)');
    expect(v).toBe(t);
    const nulls = await selectWithText('row(null, null)');
    expect(nulls.v).toBe('(,)');
    expect(nulls.v).toBe(nulls.t);
  });

  it('a record with float fields prints the floats like PostgreSQL', async () => {
    const { v, t } = await selectWithText(`row(1e-5::float8, 0.1::float4, 1e15::float8, 1234567::float4, 'NaN'::float8)`);
    expect(t).toBe('(1e-05,0.1,1e+15,1.234567e+06,NaN)');
    expect(v).toBe(t);
  });

  it('a record field with a non-ASCII space is quoted like PostgreSQL (only ASCII whitespace)', async () => {
    const { v, t } = await selectWithText(`row(E'a\\u00a0b')`);
    expect(t).toBe('(a\u00a0b)');
    expect(v).toBe(t);
  });

  it('a composite column is an object of its converted fields, and the object round-trips', async () => {
    const value = `(1,"x y",1.50,"{a,""b c"",NULL}",2024-02-29,"2024-02-29 12:00:00+00","\\\\x00ff",t)`;
    const parsed = { a: 1, b: 'x y', c: '1.50', d: ['a', 'b c', null], e: '2024-02-29', f: new Date('2024-02-29T12:00:00Z'), g: Buffer.from([0, 255]), h: true };
    await roundTrip(compositeType, value, parsed, { text: value });
    await roundTrip(compositeType, parsed, parsed, { text: value });
    const empty = { a: null, b: null, c: null, d: null, e: null, f: null, g: null, h: null };
    await roundTrip(compositeType, '(,,,,,,,)', empty, { text: '(,,,,,,,)' });
    await roundTrip(compositeType, null);
  });
});

describe('ranges arrive parsed', () => {
  const r = (lower: unknown, upper: unknown, lowerInclusive: boolean, upperInclusive: boolean) => ({ lower, upper, lowerInclusive, upperInclusive, empty: false });
  it.each<[string, unknown]>([
    ['int4range(1, 10)', r(1, 10, true, false)],
    ["numrange(1.5, 2.25, '[]')", r('1.5', '2.25', true, true)],
    ["daterange('2024-01-01', 'infinity')", r('2024-01-01', 'infinity', true, false)],
    ["tsrange('2024-01-01 12:00', '2024-01-02 00:00:00.5')", r(new Date('2024-01-01T12:00:00Z'), new Date('2024-01-02T00:00:00.500Z'), true, false)],
    ["tstzrange(null, '2024-01-01 12:00+00')", r(null, new Date('2024-01-01T12:00:00Z'), false, false)],
    ["'empty'::int4range", { lower: null, upper: null, lowerInclusive: false, upperInclusive: false, empty: true }],
  ])('%s', async (expr, expected) => {
    expect(await pool.query(`select ${expr} as v`).scalar()).toEqual(expected);
  });
});

describe('other types arrive as their PostgreSQL text', () => {
  it.each([
    "B'10110'::bit(5)",
    "B'1011000011'::varbit",
    "'<a>x</a>'::xml",
    "'(1.5,2)'::point",
    "'((0,0),(1,1))'::box",
    "'<(1,2),3>'::circle",
    "'a fat cat'::tsvector",
    "'16/B374D848'::pg_lsn",
  ])('%s', async (expr) => {
    const { v, t } = await selectWithText(expr);
    expect(v).toBe(t);
  });

  it.each<[string, unknown]>([
    [`array['1 day', '-1 mons +2 days']::interval[]`, ['1 day', '-1 mons +2 days']],
    [`array['12:00:00+05:30', null]::timetz[]`, ['12:00:00+05:30', null]],
    [`array['12.5']::money[]`, ['$12.50']],
    [`array['1.2.3.4', '::1']::inet[]`, ['1.2.3.4', '::1']],
    [`array[int4range(1, 3)]`, [{ lower: 1, upper: 3, lowerInclusive: true, upperInclusive: false, empty: false }]],
    [`array[row(1, 'a b'), null]`, ['(1,"a b")', null]],
    [`array['(1.5,2)']::point[]`, ['(1.5,2)']],
  ])('%s holds the element text', async (expr, expected) => {
    expect(await pool.query(`select ${expr} as v`).scalar()).toEqual(expected);
  });
});

describe('many rows', () => {
  it('rows of mixed types with NULLs decode in place across result pages', async () => {
    const rows = await pool.query<Record<string, unknown>>(`
      select i,
             case when i % 3 = 0 then null else i::int8 * 1000000 end as big,
             case when i % 4 = 0 then null else repeat('é', i % 7) || i end as txt,
             case when i % 5 = 0 then null else jsonb_build_object('i', i, 's', 'x' || i) end as doc,
             case when i % 6 = 0 then null else array[i, null, -i] end as arr,
             case when i % 7 = 0 then null else decode(lpad(to_hex(i), 8, '0'), 'hex') end as bin,
             timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' as ts,
             i % 2 = 0 as even
        from generate_series(1, 20000) as i`);
    expect(rows).toHaveLength(20000);
    for (const r of rows) {
      const i = r.i as number;
      const bin = Buffer.alloc(4);
      bin.writeUInt32BE(i);
      const want = {
        i,
        big: i % 3 === 0 ? null : i * 1000000,
        txt: i % 4 === 0 ? null : 'é'.repeat(i % 7) + i,
        doc: i % 5 === 0 ? null : { i, s: `x${i}` },
        arr: i % 6 === 0 ? null : [i, null, -i],
        bin: i % 7 === 0 ? null : bin,
        ts: new Date(Date.UTC(2024, 0, 1) + i * 1000),
        even: i % 2 === 0,
      };
      if (JSON.stringify(r) !== JSON.stringify(want)) expect(r).toEqual(want);
    }
  });
});

describe('NULL', () => {
  it('every type stores and returns NULL (null and undefined parameters)', async () => {
    const types = [
      'bool', 'int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'text', 'varchar(3)', 'char(2)', 'name', 'bytea',
      'uuid', 'json', 'jsonb', 'date', 'time', 'timetz', 'timestamp', 'timestamptz', 'interval', 'inet', 'cidr',
      'macaddr', 'macaddr8', 'money', 'oid', moodType, compositeType, 'int4[]', 'int8[]', 'text[]', 'float8[]',
      'bool[]', 'numeric[]', 'uuid[]', 'timestamptz[]', 'date[]', 'bytea[]', 'jsonb[]',
    ];
    for (const type of types) {
      await roundTrip(type, null);
      await roundTrip(type, undefined, null);
    }
  });
});

describe('parameter errors', () => {
  async function parameterError(sql: string, params: unknown[], pattern: RegExp): Promise<void> {
    const err = await failure(() => pool.query(sql, params).all());
    expect(err).toBeInstanceOf(ParameterError);
    expect(err.message).toMatch(pattern);
  }

  it('name $n and the type', async () => {
    await parameterError('select $1::int4 as v', ['abc'], /\$1 \(int4\).*integer.*"abc"/);
    await parameterError('select $1::text as a, $2::int4 as v', ['ok', 1.5], /\$2 \(int4\).*integer.*1\.5/);
    await parameterError('select $1::int4 as v', [Buffer.from([1])], /\$1 \(int4\).*Buffer/);
    await parameterError('select $1::timestamptz as v', [{ a: 1 }], /\$1 \(timestamptz\).*object/);
    await parameterError('select $1::int2 as v', [40000], /\$1 \(int2\).*out of range/);
    await parameterError('select $1::int4 as v', [true], /\$1 \(int4\)/);
    await parameterError('select $1::bool as v', [1], /\$1 \(bool\)/);
    await parameterError('select $1::float8 as v', ['abc'], /\$1 \(float8\)/);
    await parameterError('select $1::int4[] as v', [[1, 'abc']], /\$1 \(int4\)/);
    await parameterError('select $1::int4 as v', [[1, 2]], /\$1 \(int4\)/);
    await parameterError('select $1::int4[] as v', [5], /\$1 \(_int4\)|\$1 \(int4\[\]\)/);
  });

  it('refuses values no type accepts, and a wrong parameter count', async () => {
    await parameterError('select $1::text as v', [() => 1], /\$1/);
    await parameterError('select $1::text as v', [Symbol('s')], /\$1/);
    await parameterError('select $1::timestamptz as v', [new Date(NaN)], /\$1/);
    await parameterError('select $1::int4 as a, $2::int4 as b', [1], /2 parameters/);
  });

  it('leave the pool working', async () => {
    for (let i = 0; i < 3; i++) {
      await failure(() => pool.query('select $1::int4 as v', ['abc']).all());
    }
    expect(await pool.query('select $1::int4 as v', [7]).scalar()).toBe(7);
    await roundTrip('int4', 8);
  });
});
