// The engine's parts of the node-postgres compatibility layer, through pgwarp's own internals:
// scripts that keep their rows (EXEC_ROWS) and the PG_VALUES result format.
import { describe, expect, it } from 'vitest';

import type { Bridge } from '../src/engine/bridge';
import { decodeResult, readColumnMeta } from '../src/result/decode';
import { PG_VALUES } from '../src/engine/requests';
import { errorFromResult } from '../src/errors/errors';
import { forEachStatement } from '../src/query/script';
import { newPool, tableName } from './helpers';

const pool = newPool({ max: 2 });
const unnamed = newPool({ max: 1, prepare: false });
/** One connection, so a text's second run finds its first (see the first test of PG_VALUES). */
const named = newPool({ max: 1 });

interface Statement {
  rowCount: number;
  tag: string;
  page: Buffer | undefined;
}

/** Reads an EXEC_ROWS answer (layout: `crates/pgwarp-core/src/pool/script.rs`). */
function readAnswer(buf: Buffer): { statements: Statement[]; failure: Error | undefined } {
  expect(buf[0]).toBe(0);
  const statements: Statement[] = [];
  const at = forEachStatement(buf, true, (tag, rowCount, page) => statements.push({ rowCount, tag, page }));
  const failure = buf[at] === 1 ? errorFromResult(buf.subarray(at + 1), '') : undefined;
  return { statements, failure };
}

const TEXT = { rowMode: 'object', int8: 'string', text: true } as const;

/** The kind byte of each column descriptor of a result (`result/layout.rs`). */
function kinds(buf: Buffer): number[] {
  const out: number[] = [];
  let at = 48 + buf.readUInt32LE(40);
  for (let c = 0; c < buf.readUInt16LE(2); c++) {
    out.push(buf[at + 4]);
    at += 28 + buf.readUInt16LE(at + 6);
  }
  return out;
}

const KIND_NUMBER = 2;
const KIND_INT8 = 3;
const KIND_STRING = 4;

async function withConnection<T>(fn: (bridge: Bridge, conn: number) => Promise<T>): Promise<T> {
  const conn = await pool.reserve();
  try {
    return await fn(conn.bridge, conn.id);
  } finally {
    await conn.release();
  }
}

describe('EXEC_ROWS', () => {
  it('answers each statement with its tag and its rows as a text page', async () => {
    const t = tableName('exec_rows');
    await pool.query(`create table ${t} (id int4, name text)`).execute();
    const sql = `select 1 as a, 'x'::text as b; insert into ${t} values (1, 'one'), (2, null); select id, name from ${t} where false; select name, id::int8 from ${t} order by id`;
    const { statements, failure } = readAnswer(await withConnection((b, c) => b.execRows(c, sql)));
    expect(failure).toBeUndefined();
    expect(statements.map((s) => [s.tag, s.rowCount])).toEqual([
      ['SELECT 1', 1],
      ['INSERT 0 2', 2],
      ['SELECT 0', 0],
      ['SELECT 2', 2],
    ]);
    const first = decodeResult(statements[0].page!, 'exec-rows-first', TEXT, true);
    expect(first.rows).toEqual([{ a: '1', b: 'x' }]);
    expect(first.tag).toBe('SELECT 1');
    expect(readColumnMeta(first.meta).map((c) => [c.name, c.type, c.size])).toEqual([
      ['a', 23, 4],
      ['b', 25, -1],
    ]);
    expect(statements[1].page).toBeUndefined();
    // Columns, no rows: still a page.
    const none = decodeResult(statements[2].page!, 'exec-rows-none', TEXT, true);
    expect(none.rows).toEqual([]);
    expect(readColumnMeta(none.meta).map((c) => [c.name, c.type, c.number > 0])).toEqual([
      ['id', 23, true],
      ['name', 25, true],
    ]);
    const last = decodeResult(statements[3].page!, 'exec-rows-last', TEXT);
    expect(last.rows).toEqual([
      { name: 'one', id: '1' },
      { name: null, id: '2' },
    ]);
  });

  it('stops at the first error with what completed before it; an empty text completes nothing', async () => {
    const { statements, failure } = readAnswer(
      await withConnection((b, c) => b.execRows(c, `select 'a'::text as v; select 1/0 as boom; select 2`)),
    );
    expect(statements.map((s) => s.tag)).toEqual(['SELECT 1']);
    expect(failure?.message).toMatch(/division by zero/);
    const empty = readAnswer(await withConnection((b, c) => b.execRows(c, '')));
    expect(empty).toEqual({ statements: [], failure: undefined });
  });
});

describe('PG_VALUES', () => {
  const sql = `select 1::int4 a, 2::int8 b, now()::date d, '{1,2}'::int2[] e`;
  const opts = { rowMode: 'object', int8: 'string' } as const;

  for (const [name, p] of [
    ['named statements', named],
    ['the unnamed statement', unnamed],
  ] as const) {
    it(`converts pg's fast types and leaves the others as text, on ${name}`, async () => {
      // A text's first run on a connection goes as pg sends it (unnamed, results in text);
      // the named statement comes from the second on.
      const first = await p.bridge.query(sql, [], PG_VALUES);
      if (p === named) expect(kinds(first)).toEqual([KIND_STRING, KIND_STRING, KIND_STRING, KIND_STRING]);
      const buf = await p.bridge.query(sql, [], PG_VALUES);
      expect(kinds(buf)).toEqual([KIND_NUMBER, KIND_INT8, KIND_STRING, KIND_STRING]);
      const [row] = decodeResult<Record<string, unknown>>(buf, sql, opts).rows;
      expect(row).toMatchObject({ a: 1, b: '2', e: '{1,2}' });
      expect(row.d).toMatch(/^\d{4}-\d\d-\d\d$/);

      // int4 (bit 2) has a user parser: it comes as text, the others as before.
      const masked = await p.bridge.query(sql, [], PG_VALUES | ((1 << 2) << 8));
      expect(kinds(masked)).toEqual([KIND_STRING, KIND_INT8, KIND_STRING, KIND_STRING]);
      expect(decodeResult<Record<string, unknown>>(masked, sql, opts).rows[0]).toMatchObject({ a: '1', b: '2' });
    });
  }

  it('keys the choice by the OID the server describes: a domain over int4 is its base type, as in pg', async () => {
    // PostgreSQL's RowDescription names a domain column by its base type (printtup.c), so
    // pg's parsers see int4 here too.
    const d = tableName('dom');
    await pool.query(`create domain ${d} as int4`).execute();
    const q = `select 7::${d} as v, 'b'::text as t`;
    await named.bridge.query(q, [], PG_VALUES);
    const buf = await named.bridge.query(q, [], PG_VALUES);
    expect(readColumnMeta(decodeResult(buf, q, opts, true).meta)[0].type).toBe(23);
    expect(kinds(buf)).toEqual([KIND_NUMBER, KIND_STRING]);
    expect(decodeResult(buf, q, opts).rows).toEqual([{ v: 7, t: 'b' }]);
    // The whole mask set: every fast type as the server's text.
    const all = await pool.bridge.query(sql, [], PG_VALUES | (0xffffff << 8));
    expect(decodeResult<Record<string, unknown>>(all, sql, opts).rows[0]).toMatchObject({ a: '1', b: '2', e: '{1,2}' });
  });

  it('leaves enums and extension types as the server writes them', async () => {
    const e = tableName('mood');
    await pool.query(`create type ${e} as enum ('happy', 'sad')`).execute();
    await pool.query(`create extension if not exists hstore`).execute();
    await pool.query(`create extension if not exists citext`).execute();
    const q = `select 'sad'::${e} as m, 'a=>1, b=>NULL'::hstore as h, 'AbC'::citext as c`;
    const expected = await pool.query(`select format('%s', 'a=>1, b=>NULL'::hstore) as h`).scalar();
    for (const p of [pool, unnamed]) {
      const buf = await p.bridge.query(q, [], PG_VALUES);
      expect(kinds(buf)).toEqual([KIND_STRING, KIND_STRING, KIND_STRING]);
      expect(decodeResult(buf, q, opts).rows).toEqual([{ m: 'sad', h: expected, c: 'AbC' }]);
    }
  });
});
