// node-postgres compatibility: the ways to run a query (text, values, config objects, callbacks,
// promises, named statements, multi-statement text) and the shape of the Result they give.
import { afterAll, describe, expect, it } from 'vitest';

import { databaseUrl, tableName } from './helpers';
import { pg, driverName, connect } from './pg-driver';

type Result = import('pg').QueryResult;

const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
afterAll(() => pool.end());

const meta = (r: Result) => ({ command: r.command, rowCount: r.rowCount, oid: r.oid });

describe('running queries', () => {
  it('query(text) and query(text, values) resolve to a Result, on a Client and on a Pool', async () => {
    const client = await connect();
    for (const target of [client, pool]) {
      expect((await target.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
      const res = await target.query('select $1::int + $2::int as sum, $3::text as t', [2, 3, 'x']);
      expect(res.rows).toEqual([{ sum: 5, t: 'x' }]);
      expect(res.command).toBe('SELECT');
      expect(res.rowCount).toBe(1);
    }
  });

  it('query(config) takes text, values, name, rowMode and types', async () => {
    const client = await connect();
    const res = await client.query({
      text: 'select $1::int as a, $2::text as b',
      values: [7, 'seven'],
      rowMode: 'array',
      types: { getTypeParser: () => (v: string) => `<${v}>` },
    } as import('pg').QueryArrayConfig);
    expect(res.rows).toEqual([['<7>', '<seven>']]);
    expect((res as unknown as { rowAsArray: boolean }).rowAsArray).toBe(true);
    const named = await pool.query({ name: 'pg_compat_cfg', text: 'select $1::int * 2 as d', values: [21] });
    expect(named.rows).toEqual([{ d: 42 }]);
  });

  it('callbacks receive (err, res); the call returns undefined', async () => {
    const client = await connect();
    for (const target of [client, pool]) {
      const ok = await new Promise<[unknown, Result]>((resolve) => {
        const ret = target.query('select $1::int as v', [9], (err: unknown, res: Result) => resolve([err, res]));
        expect(ret).toBeUndefined();
      });
      // pg: a successful callback gets a falsy err (null from a Client, undefined from a Pool).
      expect(ok[0]).toBeFalsy();
      expect(ok[1].rows).toEqual([{ v: 9 }]);
      const noValues = await new Promise<Result>((resolve, reject) =>
        target.query('select 2 as w', (err: Error, res: Result) => (err ? reject(err) : resolve(res))),
      );
      expect(noValues.rows).toEqual([{ w: 2 }]);
      const failed = await new Promise<[Error, Result | undefined]>((resolve) =>
        target.query('select 1/0', (err: Error, res: Result) => resolve([err, res])),
      );
      expect(failed[0]).toBeInstanceOf(pg.DatabaseError);
      expect(failed[0].message).toBe('division by zero');
      expect(failed[1]).toBeUndefined();
    }
  });

  it('a pg.Query object is run by client.query and emits row and end', async () => {
    const client = await connect();
    const query = new pg.Query('select generate_series(1, 3) as n');
    const rows: unknown[] = [];
    query.on('row', (row) => rows.push(row));
    const ended = new Promise<Result>((resolve) => query.on('end', (res) => resolve(res as unknown as Result)));
    expect(client.query(query)).toBe(query);
    const res = await ended;
    expect(rows).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(res.rowCount).toBe(3);
    // pg: with a 'row' listener and no callback, rows are not also collected on the result.
    expect(res.rows).toEqual([]);
  });

  it('multi-statement text without values gives an array of Results', async () => {
    const client = await connect();
    const t = tableName('pgc_multi');
    const results = (await client.query(
      `create temp table ${t} (id int); insert into ${t} values (1), (2); select id from ${t} order by id; select 'x' as s`,
    )) as unknown as Result[];
    expect(Array.isArray(results)).toBe(true);
    expect(results.map(meta)).toEqual([
      { command: 'CREATE', rowCount: null, oid: null },
      { command: 'INSERT', rowCount: 2, oid: 0 },
      { command: 'SELECT', rowCount: 2, oid: null },
      { command: 'SELECT', rowCount: 1, oid: null },
    ]);
    expect(results[2].rows).toEqual([{ id: 1 }, { id: 2 }]);
    expect(results[3].rows).toEqual([{ s: 'x' }]);
    expect(results[3].fields.map((f) => f.name)).toEqual(['s']);
    const arrays = (await client.query({ text: 'select 1 as a; select 2 as b', rowMode: 'array' } as import('pg').QueryArrayConfig)) as unknown as Result[];
    expect(arrays.map((r) => r.rows)).toEqual([[[1]], [[2]]]);
    // A failing statement fails the whole text, and the implicit transaction undoes the others.
    const t2 = tableName('pgc_multi_fail');
    await client.query(`create table ${t2} (id int)`);
    const err = await client.query(`insert into ${t2} values (1); select 1/0; insert into ${t2} values (2)`).catch((e: unknown) => e);
    expect((err as Error).message).toBe('division by zero');
    expect((await client.query(`select count(*)::int as n from ${t2}`)).rows).toEqual([{ n: 0 }]);
  });

  it('multi-statement text with values is refused by the server', async () => {
    const client = await connect();
    const err = (await client.query('select $1::int; select 2', [1]).catch((e: unknown) => e)) as InstanceType<typeof pg.DatabaseError>;
    expect(err).toBeInstanceOf(pg.DatabaseError);
    expect(err.message).toBe('cannot insert multiple commands into a prepared statement');
    expect(err.code).toBe('42601');
    expect((await client.query('select 1 as still_ok')).rows).toEqual([{ still_ok: 1 }]);
  });

  it('named statements are prepared once per connection and reused, by name alone too', async () => {
    const client = await connect();
    const text = 'select $1::int + 1 as x';
    expect((await client.query({ name: 'pgc_inc', text, values: [1] })).rows).toEqual([{ x: 2 }]);
    expect((await client.query({ name: 'pgc_inc', text, values: [2] })).rows).toEqual([{ x: 3 }]);
    // pg: once prepared on this connection, the name alone is enough.
    expect((await client.query({ name: 'pgc_inc', values: [3] } as import('pg').QueryConfig)).rows).toEqual([{ x: 4 }]);
    const prepared = await client.query('select name, statement from pg_prepared_statements where statement = $1', [text]);
    // pg: the server statement has the given name. pgwarp/pg prepares through its statement
    // cache (named and unnamed queries alike), under the cache's own names: still once.
    if (driverName === 'pg') expect(prepared.rows).toEqual([{ name: 'pgc_inc', statement: text }]);
    else expect(prepared.rows).toEqual([{ name: expect.stringMatching(/^pgwarp_\d+$/), statement: text }]);
    // A named statement without values is prepared as well.
    expect((await client.query({ name: 'pgc_const', text: 'select 7 as s' })).rows).toEqual([{ s: 7 }]);
    expect((await client.query({ name: 'pgc_const', text: 'select 7 as s' })).rows).toEqual([{ s: 7 }]);
  });

  it('the same name with a different text is an error; a name whose parse failed can be reused', async () => {
    const client = await connect();
    await client.query({ name: 'pgc_dup', text: 'select 1 as a' });
    const err = (await client.query({ name: 'pgc_dup', text: 'select 2 as a' }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toBe("Prepared statements must be unique - 'pgc_dup' was used for a different statement");
    expect((await client.query({ name: 'pgc_dup', text: 'select 1 as a' })).rows).toEqual([{ a: 1 }]);
    const bad = (await client.query({ name: 'pgc_bad', text: 'selec 1' }).catch((e: unknown) => e)) as Error;
    expect(bad.message).toBe('syntax error at or near "selec"');
    expect((await client.query({ name: 'pgc_bad', text: 'select 1 as fixed' })).rows).toEqual([{ fixed: 1 }]);
  });

  it('argument errors: null query throws, no text rejects, non-array values reject', async () => {
    const client = await connect();
    expect(() => client.query(null as unknown as string)).toThrow(new TypeError('Client was passed a null or undefined query'));
    await expect(client.query({} as import('pg').QueryConfig)).rejects.toThrow(
      'A query must have either text or a name. Supplying neither is unsupported.',
    );
    await expect(client.query('select $1::text', 'x' as unknown as unknown[])).rejects.toThrow('Query values must be an array');
    await expect(client.query({ text: 'select $1::text', values: 'x' } as unknown as import('pg').QueryConfig)).rejects.toThrow(
      'Query values must be an array',
    );
    // pg: an empty values array sends the text unprepared, so the server sees no parameters.
    await expect(client.query('select $1::int', [])).rejects.toThrow('there is no parameter $1');
    await expect(client.query('select $1::int, $2::int', [1])).rejects.toThrow(
      // pg's unnamed statement is ""; pgwarp/pg's statements are the cache's.
      /bind message supplies 1 parameters, but prepared statement "[a-z_0-9]*" requires 2/,
    );
    expect((await client.query('select 1 as ok', [])).rows).toEqual([{ ok: 1 }]);
  });
});

describe('Result', () => {
  it('has command, rowCount, oid, rows, fields and rowAsArray as own properties', async () => {
    const res = await pool.query('select 1 as a');
    const keys = Object.keys(res);
    for (const k of ['command', 'rowCount', 'oid', 'rows', 'fields', 'rowAsArray']) expect(keys).toContain(k);
    expect((res as unknown as { rowAsArray: boolean }).rowAsArray).toBe(false);
  });

  it('command is the first word of the tag; rowCount and oid only when the tag has them', async () => {
    const client = await connect();
    const t = tableName('pgc_tags');
    const cases: [string, { command: string | null; rowCount: number | null; oid: number | null }][] = [
      [`create table ${t} (id serial primary key, v text)`, { command: 'CREATE', rowCount: null, oid: null }],
      [`insert into ${t} (v) values ('a'), ('b')`, { command: 'INSERT', rowCount: 2, oid: 0 }],
      [`update ${t} set v = v || '!'`, { command: 'UPDATE', rowCount: 2, oid: null }],
      [`delete from ${t} where id = -1`, { command: 'DELETE', rowCount: 0, oid: null }],
      [`select * from ${t} where false`, { command: 'SELECT', rowCount: 0, oid: null }],
      [`merge into ${t} using (select 1 as id) s on ${t}.id = s.id when matched then update set v = 'm'`, { command: 'MERGE', rowCount: 1, oid: null }],
      // pg: CREATE TABLE AS is tagged `SELECT n` by the server.
      [`create temp table ${t}_copy as select * from ${t}`, { command: 'SELECT', rowCount: 2, oid: null }],
      [`listen ${t}`, { command: 'LISTEN', rowCount: null, oid: null }],
      [`unlisten ${t}`, { command: 'UNLISTEN', rowCount: null, oid: null }],
      [`set application_name = 'x'`, { command: 'SET', rowCount: null, oid: null }],
      // pg: SHOW and EXPLAIN return rows but their tag has no count, so rowCount is null.
      ['show application_name', { command: 'SHOW', rowCount: null, oid: null }],
      ['explain select 1', { command: 'EXPLAIN', rowCount: null, oid: null }],
      ['do $$ begin end $$', { command: 'DO', rowCount: null, oid: null }],
      [`truncate ${t}`, { command: 'TRUNCATE', rowCount: null, oid: null }],
      ['begin', { command: 'BEGIN', rowCount: null, oid: null }],
      ['commit', { command: 'COMMIT', rowCount: null, oid: null }],
      // pg: an empty query has no tag at all.
      ['', { command: null, rowCount: null, oid: null }],
    ];
    for (const [sql, expected] of cases) expect([sql, meta(await client.query(sql))]).toEqual([sql, expected]);
    expect((await client.query('show application_name')).rows).toEqual([{ application_name: 'x' }]);
    const empty = await client.query('');
    expect([empty.rows, empty.fields]).toEqual([[], []]);
  });

  it('INSERT ... RETURNING gives rows and rowCount; the extended protocol reports the same', async () => {
    const client = await connect();
    const t = tableName('pgc_ret');
    await client.query(`create table ${t} (id serial primary key, v text)`);
    const res = await client.query(`insert into ${t} (v) values ($1), ($2) returning id, v`, ['a', 'b']);
    expect(meta(res)).toEqual({ command: 'INSERT', rowCount: 2, oid: 0 });
    expect(res.rows).toEqual([
      { id: 1, v: 'a' },
      { id: 2, v: 'b' },
    ]);
    expect(meta(await client.query(`update ${t} set v = $1`, ['z']))).toEqual({ command: 'UPDATE', rowCount: 2, oid: null });
  });

  it('fields describe each column: table and column ids, type, size, modifier, text format', async () => {
    const client = await connect();
    const t = tableName('pgc_fields');
    await client.query(`create table ${t} (id int4, name varchar(10), price numeric(10, 2), note text)`);
    const tableOid = (await client.query(`select '${t}'::regclass::oid::int as oid`)).rows[0].oid;
    for (const values of [undefined, [1]]) {
      const sql = values ? `select id, name, price, note, $1::int8 as extra from ${t}` : `select id, name, price, note, 1::int8 as extra from ${t}`;
      const res = await client.query(sql, values);
      expect(res.fields).toEqual([
        { name: 'id', tableID: tableOid, columnID: 1, dataTypeID: 23, dataTypeSize: 4, dataTypeModifier: -1, format: 'text' },
        { name: 'name', tableID: tableOid, columnID: 2, dataTypeID: 1043, dataTypeSize: -1, dataTypeModifier: 14, format: 'text' },
        { name: 'price', tableID: tableOid, columnID: 3, dataTypeID: 1700, dataTypeSize: -1, dataTypeModifier: (10 << 16) + 2 + 4, format: 'text' },
        { name: 'note', tableID: tableOid, columnID: 4, dataTypeID: 25, dataTypeSize: -1, dataTypeModifier: -1, format: 'text' },
        { name: 'extra', tableID: 0, columnID: 0, dataTypeID: 20, dataTypeSize: 8, dataTypeModifier: -1, format: 'text' },
      ]);
    }
    // Statements without rows have no fields; a null literal is typed text by the server.
    expect((await client.query('set application_name = default')).fields).toEqual([]);
    expect((await client.query('select null as n')).fields[0].dataTypeID).toBe(25);
  });

  it('duplicate column names: the last value wins, in the first name position; arrays keep all', async () => {
    const res = await pool.query('select 1 as b, 2 as a, 3 as b');
    // pg: the row object is keyed by name, later columns overwrite earlier ones.
    expect(res.rows).toEqual([{ b: 3, a: 2 }]);
    expect(Object.keys(res.rows[0])).toEqual(['b', 'a']);
    expect(res.fields.map((f) => f.name)).toEqual(['b', 'a', 'b']);
    const arr = await pool.query({ text: 'select 1 as b, 2 as a, 3 as b', rowMode: 'array' } as import('pg').QueryArrayConfig);
    expect(arr.rows).toEqual([[1, 2, 3]]);
  });

  it('COMMIT of a failed transaction reports ROLLBACK; statements in between are refused', async () => {
    const client = await connect();
    await client.query('begin');
    await expect(client.query('select 1/0')).rejects.toThrow('division by zero');
    const refused = (await client.query('select 1').catch((e: unknown) => e)) as InstanceType<typeof pg.DatabaseError>;
    expect(refused.code).toBe('25P02');
    expect(refused.message).toBe('current transaction is aborted, commands ignored until end of transaction block');
    const commit = await client.query('commit');
    expect(meta(commit)).toEqual({ command: 'ROLLBACK', rowCount: null, oid: null });
  });

  // pgwarp/pg has no getTransactionStatus() yet: the engine keeps ReadyForQuery's status (it
  // decides on it) but does not hand it to JavaScript.
  it.runIf(driverName === 'pg')('getTransactionStatus() follows the server: I, T, E', async () => {
    const client = await connect();
    expect(client.getTransactionStatus()).toBe('I');
    await client.query('begin');
    expect(client.getTransactionStatus()).toBe('T');
    await client.query('select 1/0').catch(() => {});
    // pg: a failed query settles on the ErrorResponse, possibly before the ReadyForQuery that
    // carries 'E'; the next query is only sent after it, so once that one settles, 'E' is in.
    await client.query('select 1').catch(() => {});
    expect(client.getTransactionStatus()).toBe('E');
    await client.query('rollback');
    expect(client.getTransactionStatus()).toBe('I');
  });
});
