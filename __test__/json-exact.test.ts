// jsonNumbers: 'exact' gives integers beyond 2^53 - 1 inside json/jsonb values as bigints and
// everything else exactly as JSON.parse does; 'float' (the default) is JSON.parse itself.
import { describe, expect, it, vi } from 'vitest';

import { Pool } from '../src';
import { parseExact, placeExact } from '../src/result/json-exact';
import { newPool, tableName } from './helpers';

// Counts the column pages that came with a trailer.
vi.mock('../src/result/json-exact', async (original) => {
  const m = await original<typeof import('../src/result/json-exact')>();
  return { ...m, placeExact: vi.fn(m.placeExact) };
});
const trailers = vi.mocked(placeExact);

const exact = newPool({ max: 2, jsonNumbers: 'exact' });
const float = newPool({ max: 2 });

const doc = {
  big: 2n ** 53n + 1n,
  min: -(2n ** 63n),
  nested: { list: [2n ** 70n, 1, 'two', null, { deep: [[12345678901234567890n]] }], safe: 9007199254740991 },
  s: '12345678901234567890',
  f: 1.5,
};
/** `doc` as `JSON.parse` reads it back. */
const rounded = JSON.parse(JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))) as unknown;

describe("jsonNumbers: 'exact'", () => {
  it('round-trips big integers in json and jsonb, per pool and per query', async () => {
    const sql = 'select $1::json as j, $1::jsonb as b';
    expect(await exact.query(sql, [doc]).one()).toStrictEqual({ j: doc, b: doc });
    expect(await float.query(sql, [doc], { jsonNumbers: 'exact' }).one()).toStrictEqual({ j: doc, b: doc });
    expect(await float.query(sql, [doc]).one()).toStrictEqual({ j: rounded, b: rounded });
    expect(await exact.query(sql, [doc], { jsonNumbers: 'float' }).one()).toStrictEqual({ j: rounded, b: rounded });
  });

  it('refuses other values', () => {
    expect(() => new Pool({ jsonNumbers: 'bigint' as never })).toThrow(/jsonNumbers must be 'float' or 'exact', not "bigint"/);
    expect(() => float.query('select 1', [], { jsonNumbers: 1 as never })).toThrow(/jsonNumbers must be 'float' or 'exact', not 1/);
  });

  it('applies to every way of reading rows, on reserved connections and in transactions', async () => {
    const sql = `select '{"n": 12345678901234567890}'::jsonb as d`;
    const want = { n: 12345678901234567890n };
    expect(await exact.query(sql).all()).toStrictEqual([{ d: want }]);
    expect(await exact.query(sql).first()).toStrictEqual({ d: want });
    expect(await exact.query(sql).scalar()).toStrictEqual(want);
    expect(await exact.query(sql).model({ parse: (r: { d: unknown }) => r.d })).toStrictEqual([want]);
    const streamed: unknown[] = [];
    for await (const r of exact.query<{ d: unknown }>(sql).stream()) streamed.push(r.d);
    expect(streamed).toStrictEqual([want]);
    await using conn = await float.reserve();
    expect(await conn.query(sql, [], { jsonNumbers: 'exact' }).scalar()).toStrictEqual(want);
    expect(await conn.query(sql).scalar()).toStrictEqual({ n: 12345678901234567000 });
    expect(await exact.transaction((tx) => tx.query(sql).scalar())).toStrictEqual(want);
    expect(await float.transaction((tx) => tx.query(sql, [], { jsonNumbers: 'exact' }).scalar())).toStrictEqual(want);
  });

  it('writes bigints in jsonb parameters exactly in both modes', async () => {
    const text = '{"v": 1180591620717411303424, "w": [-9223372036854775808]}';
    for (const pool of [exact, float]) {
      expect(await pool.query('select $1::jsonb::text as t', [{ v: 2n ** 70n, w: [-(2n ** 63n)] }]).scalar()).toBe(text);
    }
  });

  it('is written by copyRows and read back by all() and stream() across pages', async () => {
    const t = tableName('jexact');
    await exact.exec(`create table ${t} (id int, j json, b jsonb)`);
    // Every 7th row has big integers; 2000 rows of ~250 bytes make several pages of either kind.
    const docOf = (i: number) => (i % 7 === 0 ? { i, doc, pad: 'é'.repeat(40) } : { i, n: i * 1.5, s: `row ${i}`, pad: 'x'.repeat(80) });
    const rows = Array.from({ length: 2000 }, (_, i) => [i, docOf(i), docOf(i)]);
    expect(await exact.copyRows(t, ['id', 'j', 'b'], rows)).toBe(2000);
    const want = rows.map(([id, j, b]) => ({ id, j, b }));
    const sql = `select id, j, b from ${t} order by id`;
    trailers.mockClear();
    expect(await exact.query(sql).all()).toStrictEqual(want);
    // Two columns, on more than one page each.
    expect(trailers.mock.calls.length).toBeGreaterThan(4);
    trailers.mockClear();
    const streamed: unknown[] = [];
    for await (const r of exact.query(sql).stream({ batchSize: 150 })) streamed.push(r);
    expect(streamed).toStrictEqual(want);
    expect(trailers.mock.calls.length).toBeGreaterThanOrEqual(2 * Math.ceil(2000 / 150));
    trailers.mockClear();
    // The same statement in float mode, on pages where the exact mode's had trailers.
    const texts = await float.query<{ j: unknown; b: unknown; jt: string; bt: string }>(`select j, b, j::text as jt, b::text as bt from ${t} order by id`).all();
    for (const r of texts) {
      expect(r.j).toStrictEqual(JSON.parse(r.jt));
      expect(r.b).toStrictEqual(JSON.parse(r.bt));
    }
    expect(await float.query(sql).all()).toStrictEqual(texts.map((r, id) => ({ id, j: r.j, b: r.b })));
    expect(trailers).not.toHaveBeenCalled();
  });

  it('reads a document up to its own end, not into the next value', async () => {
    const sql = `select '12345678901234567890'::jsonb as n, '345'::text as t, '-9007199254740993 '::json as m, '6' as u`;
    expect(await exact.query(sql).one()).toStrictEqual({ n: 12345678901234567890n, t: '345', m: -9007199254740993n, u: '6' });
  });

  it('is written exactly by copyRows in text COPY too', async () => {
    // numeric has no binary form in the engine: the whole table goes as text COPY.
    const t = tableName('jexact_text');
    await exact.exec(`create table ${t} (n numeric, j json, b jsonb)`);
    await exact.copyRows(t, ['n', 'j', 'b'], [[1, doc, [doc, -(2n ** 64n)]]]);
    expect(await exact.query(`select j, b from ${t}`).one()).toStrictEqual({ j: doc, b: [doc, -(2n ** 64n)] });
  });

  it('handles json[] and jsonb[] values', async () => {
    const sql = `select array['{"a": 12345678901234567890}'::jsonb, '[1, "x"]'] as b, array['9007199254740992'::json, null] as j, array[]::jsonb[] as e`;
    expect(await exact.query(sql).one()).toStrictEqual({ b: [{ a: 12345678901234567890n }, [1, 'x']], j: [9007199254740992n, null], e: [] });
    expect(await float.query(sql).one()).toStrictEqual({ b: [{ a: 12345678901234567000 }, [1, 'x']], j: [9007199254740992, null], e: [] });
  });

  it('leaves json inside composites as JSON.parse reads it', async () => {
    const ty = tableName('jexact_t');
    await exact.exec(`create type ${ty} as (j jsonb)`);
    const v = await exact.query(`select row('{"a": 12345678901234567890}'::jsonb)::${ty} as r`).scalar();
    expect(v).toStrictEqual({ j: { a: 12345678901234567000 } });
  });
});

/** Documents whose every value JSON.parse reads exactly, each as json text. */
const tricky = [
  '{"s": "12345678901234567890", "k": {"12345678901234567890": "-12345678901234567890"}}',
  String.raw`{"q": "a\"12345678901234567890\"", "b": "\\", "c": "\\\"", "u": "\u00e9\ud83d\ude00 é😀", "n": "\n\t\/"}`,
  '{"__proto__": {"polluted": 1}, "a": [1, {"__proto__": null}]}',
  // jsonb writes 1e15 as 1000000000000000: 16 digits, set aside, and still a number.
  '[-0, 0, -0.0, 1.5e-300, -1.5E-300, 1e15, 0.30000000000000004, 0.8444218515250481, 1234567890123456.5]',
  '[9007199254740991, -9007199254740991, 900719925474099, 123456789012345]',
  ' { "a" :\n [ 1 , 2 ,\t{ } , [ ] ] , "t" : true , "f" : false , "z" : null }\n',
  '"12345678901234567890"',
  '{"deep": [[[[[[[[{"x": [[["y"]]]}]]]]]]]]}',
];

describe('exact and float modes agree with JSON.parse', () => {
  it('on documents without big integers', async () => {
    for (const text of tricky) {
      for (const type of ['json', 'jsonb']) {
        const sql = `select $1::${type} as v, $1::${type}::text as t`;
        const e = await exact.query<{ v: unknown; t: string }>(sql, [text]).one();
        const f = await float.query<{ v: unknown; t: string }>(sql, [text]).one();
        const parsed: unknown = JSON.parse(e.t);
        expect(f.v, `${type} ${text}`).toStrictEqual(parsed);
        expect(e.v, `${type} ${text}`).toStrictEqual(parsed);
        if (typeof parsed === 'object' && parsed !== null) expect(Object.keys(e.v as object)).toEqual(Object.keys(parsed));
      }
    }
  });

  it('on documents with big integers, except those integers', async () => {
    // 1.5e300 has an exponent in json; jsonb stores numeric, whose text is the integer.
    const text =
      '{"a": 1, "__proto__": {"p": 12345678901234567890}, "a": -9007199254740992, "max": 9007199254740991, "over": 9007199254740992, ' +
      String.raw`"s": "\"12345678901234567890\" é😀\u0041", "e": 1.5e300, "inf": 1e400, "z": -0, "top": [12345678901234567890.0, 1e16, 10000000000000000]}`;
    const json = await exact.query<{ v: Record<string, unknown> }>(`select $1::json as v, 'é😀' as before`, [text]).one();
    const common = { max: 9007199254740991, over: 9007199254740992n, s: '"12345678901234567890" é😀A' };
    const top = [12345678901234567000, 1e16, 10000000000000000n];
    const proto = { p: 12345678901234567890n };
    // Duplicate keys in json: the last value, in the first key's place, as JSON.parse does.
    expect(json.v).toStrictEqual({ a: -9007199254740992n, ['__proto__']: proto, ...common, e: 1.5e300, inf: Infinity, z: -0, top });
    expect(Object.keys(json.v)).toEqual(Object.keys(JSON.parse(text)));
    expect(Object.getPrototypeOf(json.v)).toBe(Object.prototype);
    expect(Object.hasOwn(json.v, '__proto__')).toBe(true);
    expect(json.v['__proto__']).toStrictEqual(proto);
    const jsonb = await exact.query<{ v: Record<string, unknown> }>('select $1::jsonb as v', [text]).one();
    const exponents = [12345678901234567000, 10000000000000000n, 10000000000000000n];
    expect(jsonb.v).toStrictEqual({ a: -9007199254740992n, ['__proto__']: proto, ...common, e: 15n * 10n ** 299n, inf: 10n ** 400n, z: 0, top: exponents });
  });

  it('parses lone surrogates and escapes as JSON.parse does', () => {
    for (const text of [String.raw`["\ud800", "\udc00x", "\u0000", "a\\b"]`, ...tricky]) expect(parseExact(text)).toStrictEqual(JSON.parse(text));
    expect(parseExact('xx[1, 12345678901234567890]yy', 2, 27)).toStrictEqual([1, 12345678901234567890n]);
    expect(() => parseExact('[1,]')).toThrow(SyntaxError);
    expect(() => parseExact('[1] 2')).toThrow(SyntaxError);
    expect(() => parseExact('{"a" 1}')).toThrow(SyntaxError);
  });
});

describe('the exact parser', () => {
  it('reads documents as deep as the server returns, which recursion could not', async () => {
    // json nested 19,000 deep (the server's limit is near 20,000 with the default
    // max_stack_depth) with an integer past 2^53 at the bottom, so the exact parser reads it.
    const depth = 19_000;
    const text = `${'['.repeat(depth)}{"n": 12345678901234567890, "m": [1]}${']'.repeat(depth)}`;
    let v = await exact.query('select $1::text::json as d', [text]).scalar();
    for (let d = 0; d < depth; d++) {
      expect(Array.isArray(v) && v.length === 1, `level ${d}`).toBe(true);
      v = (v as unknown[])[0];
    }
    expect(v).toStrictEqual({ n: 12345678901234567890n, m: [1] });
    const objects = `${'{"a": '.repeat(200_000)}-12345678901234567890${'}'.repeat(200_000)}`;
    let o = parseExact(objects) as Record<string, unknown>;
    for (let d = 1; d < 200_000; d++) o = o.a as Record<string, unknown>;
    expect(o).toStrictEqual({ a: -12345678901234567890n });
    expect(() => parseExact(`${'['.repeat(1000)}1${']'.repeat(999)}`)).toThrow(SyntaxError);
  });

  it('agrees with JSON.parse on generated documents', () => {
    // A seeded generator: the same documents on every run.
    let seed = 42;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
    const chars = ['a', 'Z', '0', '9', ' ', '"', '\\', '/', '\n', '\u0001', 'é', '€', '😀', '\ud800', '__proto__', '12345678901234567'];
    const text = () => Array.from({ length: rand(6) }, () => chars[rand(chars.length)]).join('');
    const numbers = [0, -0, 1, -1, 0.5, 1e-7, 1.5e300, -2.5e-300, 123456789012345, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 0.1 + 0.2];
    const gen = (depth: number): unknown => {
      switch (rand(depth > 4 ? 4 : 6)) {
        case 0: return numbers[rand(numbers.length)] * (rand(2) ? 1 : 1e-3);
        case 1: return text();
        case 2: return [true, false, null][rand(3)];
        case 3: return rand(1000000) - 500000;
        case 4: return Array.from({ length: rand(5) }, () => gen(depth + 1));
        default: return Object.fromEntries(Array.from({ length: rand(5) }, () => [rand(3) ? text() : String(rand(20)), gen(depth + 1)]));
      }
    };
    for (let n = 0; n < 2000; n++) {
      const json = JSON.stringify(gen(0), null, rand(2) ? 1 : undefined);
      const want: unknown = JSON.parse(json);
      const got = parseExact(json);
      expect(got, json).toStrictEqual(want);
      if (typeof want === 'object' && want !== null) expect(JSON.stringify(got)).toBe(JSON.stringify(want));
    }
  });
});
