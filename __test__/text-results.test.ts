// The text-format result mode the node-postgres compatibility layer builds on: every column
// arrives as exactly the text the server sends.
import { describe, expect, it } from 'vitest';

import { newPool } from './helpers';

const pool = newPool({ max: 1 });

describe('textResults', () => {
  it('gives every column as the server’s text, NULL as null, in every result mode', async () => {
    const exprs = [
      `1::int4`,
      `9007199254740993::int8`,
      `1.50::numeric(10,2)`,
      `0.1::float4`,
      `true`,
      `'\\x00ff'::bytea`,
      `'{"a": [1, 2]}'::jsonb`,
      `array[1, null, 3]`,
      `timestamptz '2024-01-02 03:04:05.678+00'`,
      `date '2024-02-29'`,
      `interval '1 day 02:03:04'`,
      `int4range(1, 5)`,
      `row(1, 'a b')`,
      `null::text`,
    ];
    const sql = `select ${exprs.map((e, i) => `${e} as c${i}`).join(', ')}`;
    // format('%s') uses each type's output function, as the wire's text format does (::text differs for bool).
    const texts = `select ${exprs.map((e, i) => `format('%s', ${e}) as c${i}`).join(', ')}`;
    const expected = { ...(await pool.query(texts).one()), c13: null };
    expect(await pool.query(sql, [], { textResults: true }).one()).toEqual(expected);
    const all = await pool.query(sql, [], { textResults: true }).all();
    expect(all).toEqual([expected]);
    expect(all.columns.map((c) => c.type).slice(0, 2)).toEqual([23, 20]);
    expect(await pool.query(`select 9007199254740993::int8`, [], { textResults: true }).scalar()).toBe('9007199254740993');
    // The same statement in binary mode afterwards still converts.
    expect(await pool.query(sql, [], { int8: 'string' }).one()).toMatchObject({ c0: 1, c4: true });
    const streamed: unknown[] = [];
    for await (const row of pool.query(`select g::int8 as g from generate_series(1, 3) g`, [], { textResults: true }).stream()) streamed.push(row);
    expect(streamed).toEqual([{ g: '1' }, { g: '2' }, { g: '3' }]);
  });
});
