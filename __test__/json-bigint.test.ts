// A bigint inside an object given for a json/jsonb parameter is written as an exact JSON integer
// (JSON.stringify alone throws on it), through query parameters and copyRows.
import { describe, expect, it } from 'vitest';

import { newPool, tableName } from './helpers';

const pool = newPool({ max: 2 });

const doc = {
  big: 2n ** 53n + 1n,
  min: -(2n ** 63n),
  huge: 2n ** 70n,
  nested: { list: [12345678901234567890n, 1, 'two', null], deep: [[-5n]] },
  // A string that looks like the marker's shape stays a string.
  text: '\u0000pgwarp-bigint-0123:42',
};
const expected =
  '{"big": 9007199254740993, "min": -9223372036854775808, "huge": 1180591620717411303424, "text": "\\u0000pgwarp-bigint-0123:42", ' +
  '"nested": {"deep": [[-5]], "list": [12345678901234567890, 1, "two", null]}}';

describe('bigint inside json parameters', () => {
  it('is written exactly into json and jsonb parameters', async () => {
    // The NUL cannot be stored in jsonb text; json keeps the document as sent.
    const noNul = { ...doc, text: 'plain' };
    const row = await pool.query<{ j: string; t: string }>('select $1::jsonb::text as j, $2::json::text as t', [noNul, { n: 2n ** 64n, m: [1n] }]).one();
    expect(row.j).toBe(expected.replace('"\\u0000pgwarp-bigint-0123:42"', '"plain"'));
    expect(row.t).toBe('{"n":18446744073709551616,"m":[1]}');
    const sent = await pool.query<{ t: string }>('select $1::json::text as t', [doc]).one();
    expect(sent.t).toContain('"text":"\\u0000pgwarp-bigint-0123:42"');
    expect(sent.t).toContain('"huge":1180591620717411303424');
  });

  it('is written exactly by copyRows', async () => {
    const t = tableName('jbig');
    await pool.exec(`create table ${t} (id int, doc jsonb)`);
    await pool.copyRows(t, ['id', 'doc'], [[1, { v: 2n ** 70n, w: [-(2n ** 63n)] }]]);
    expect(await pool.query(`select doc::text as d from ${t}`).scalar()).toBe('{"v": 1180591620717411303424, "w": [-9223372036854775808]}');
  });

  it('documents without bigints are written as JSON.stringify writes them', async () => {
    const plain = { a: 1.5, b: [true, null], c: 'x"y' };
    expect(await pool.query('select $1::json::text as t', [plain]).scalar()).toBe(JSON.stringify(plain));
  });
});
