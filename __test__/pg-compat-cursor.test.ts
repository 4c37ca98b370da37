// node-postgres compatibility: pg-cursor (read in batches through client.query(cursor)) and
// pg-query-stream (an object-mode Readable over a cursor).
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { afterAll, describe, expect, it } from 'vitest';

import { databaseUrl } from './helpers';
import { Cursor, QueryStream, pg, driverName, connect } from './pg-driver';


const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
afterAll(() => pool.end());

const series = (n: number) => Array.from({ length: n }, (_, i) => ({ n: i + 1 }));

describe('pg-cursor', () => {
  it('client.query(cursor) returns the cursor; read(n) gives batches, then [] past the end', async () => {
    const client = await connect();
    const cursor = client.query(new Cursor('select n, n::text as t from generate_series(1, $1::int) n', [5]));
    expect(cursor).toBeInstanceOf(Cursor);
    expect(await cursor.read(2)).toEqual([
      { n: 1, t: '1' },
      { n: 2, t: '2' },
    ]);
    expect(await cursor.read(2)).toEqual([
      { n: 3, t: '3' },
      { n: 4, t: '4' },
    ]);
    expect(await cursor.read(10)).toEqual([{ n: 5, t: '5' }]);
    expect(await cursor.read(10)).toEqual([]);
    expect(await cursor.read(10)).toEqual([]);
    await cursor.close();
    expect((await client.query('select 1 as after')).rows).toEqual([{ after: 1 }]);
  });

  it('read(n, callback) gets (err, rows, result)', async () => {
    const client = await connect();
    const cursor = client.query(new Cursor('select n from generate_series(1, 3) n'));
    const [err, rows, result] = await new Promise<[Error | undefined, unknown[], { fields: { name: string }[] }]>((resolve) =>
      cursor.read(2, (e, r, res) => resolve([e, r, res as unknown as { fields: { name: string }[] }])),
    );
    expect(err).toBeFalsy();
    expect(rows).toEqual(series(2));
    expect(result.fields.map((f) => f.name)).toEqual(['n']);
    await cursor.close();
  });

  it("emits 'end' with the Result once the rows run out", async () => {
    const client = await connect();
    const cursor = client.query(new Cursor('select n from generate_series(1, 3) n'));
    const ended = new Promise<{ command: string; rowCount: number | null }>((resolve) => cursor.on('end', resolve));
    expect(await cursor.read(10)).toEqual(series(3));
    const result = await ended;
    expect([result.command, result.rowCount]).toEqual(['SELECT', 3]);
  });

  it('close() before the end frees the client, also inside a transaction', async () => {
    const client = await connect();
    await client.query('begin');
    const cursor = client.query(new Cursor('select n from generate_series(1, 1000) n'));
    expect(await cursor.read(3)).toEqual(series(3));
    await cursor.close();
    // Still inside the transaction (pgwarp/pg has no getTransactionStatus(): ask the server).
    if (driverName === 'pg') expect(client.getTransactionStatus()).toBe('T');
    expect((await client.query('select now() = statement_timestamp() as fresh')).rows).toEqual([{ fresh: false }]);
    expect((await client.query('select 2 as after')).rows).toEqual([{ after: 2 }]);
    await client.query('commit');
    // close() with a callback, and on a cursor already at its end.
    const done = client.query(new Cursor('select 1 as x'));
    expect(await done.read(5)).toEqual([{ x: 1 }]);
    await new Promise<void>((resolve, reject) => done.close((err) => (err ? reject(err) : resolve())));
    expect((await client.query('select 3 as after')).rows).toEqual([{ after: 3 }]);
  });

  it('rowMode array and types from the cursor config', async () => {
    const client = await connect();
    const arrays = client.query(new Cursor('select n, -n as m from generate_series(1, 10) n', undefined, { rowMode: 'array' }));
    expect(await arrays.read(2)).toEqual([
      [1, -1],
      [2, -2],
    ]);
    await arrays.close();
    const typed = client.query(
      new Cursor('select $1::int4 as x', [7], { types: { getTypeParser: () => (v: string) => `parsed:${v}` } } as ConstructorParameters<typeof Cursor>[2]),
    );
    expect(await typed.read(1)).toEqual([{ x: 'parsed:7' }]);
    await typed.close();
  });

  it('values go through pg value preparation (Dates, arrays, objects)', async () => {
    const client = await connect();
    const d = new Date(2024, 0, 2, 3, 4, 5, 6);
    const cursor = client.query(new Cursor('select $1::timestamptz as d, $2::int[] as a, $3::jsonb as j', [d, [1, 2], { k: 'v' }]));
    expect(await cursor.read(1)).toEqual([{ d, a: [1, 2], j: { k: 'v' } }]);
    await cursor.close();
  });

  it('a failing query: read() rejects with the server error, again on the next read; the client recovers', async () => {
    const client = await connect();
    const cursor = client.query(new Cursor('select 1/0'));
    const err = (await cursor.read(1).catch((e: unknown) => e)) as InstanceType<typeof pg.DatabaseError>;
    expect(err).toBeInstanceOf(pg.DatabaseError);
    expect([err.code, err.message]).toEqual(['22012', 'division by zero']);
    await expect(cursor.read(1)).rejects.toThrow('division by zero');
    expect((await client.query('select 4 as after')).rows).toEqual([{ after: 4 }]);
  });

  it('a statement without rows reads as []', async () => {
    const client = await connect();
    const cursor = client.query(new Cursor(`set application_name = 'pgc-cursor'`));
    expect(await cursor.read(5)).toEqual([]);
    await cursor.close();
    expect((await client.query('show application_name')).rows).toEqual([{ application_name: 'pgc-cursor' }]);
  });

  it('works on a pool client', async () => {
    const client = await pool.connect();
    try {
      const cursor = client.query(new Cursor('select n from generate_series(1, 4) n'));
      expect(await cursor.read(3)).toEqual(series(3));
      expect(await cursor.read(3)).toEqual([{ n: 4 }]);
      await cursor.close();
    } finally {
      client.release();
    }
    expect((await pool.query('select 5 as after')).rows).toEqual([{ after: 5 }]);
  });
});

describe('pg-query-stream', () => {
  it('is an object-mode Readable; for await gives every row; batchSize sets the high water mark', async () => {
    const client = await connect();
    const stream = client.query(new QueryStream('select n from generate_series(1, $1::int) n', [7], { batchSize: 3 }));
    expect(stream).toBeInstanceOf(Readable);
    expect(stream.readableObjectMode).toBe(true);
    expect(stream.readableHighWaterMark).toBe(3);
    const rows: unknown[] = [];
    for await (const row of stream) rows.push(row);
    expect(rows).toEqual(series(7));
    expect((await client.query('select 1 as after')).rows).toEqual([{ after: 1 }]);
  });

  it('highWaterMark, the default of 100, and rowMode array', async () => {
    expect(new QueryStream('select 1').readableHighWaterMark).toBe(100);
    expect(new QueryStream('select 1', [], { highWaterMark: 10 }).readableHighWaterMark).toBe(10);
    const client = await connect();
    const stream = client.query(new QueryStream('select n, n * 2 as d from generate_series(1, 3) n', [], { rowMode: 'array' }));
    const rows: unknown[] = [];
    for await (const row of stream) rows.push(row);
    expect(rows).toEqual([
      [1, 2],
      [2, 4],
      [3, 6],
    ]);
  });

  it('pipes into a Writable', async () => {
    const client = await connect();
    const seen: number[] = [];
    const sink = new Writable({
      objectMode: true,
      write(row: { n: number }, _enc, cb) {
        seen.push(row.n);
        cb();
      },
    });
    await pipeline(client.query(new QueryStream('select n from generate_series(1, 250) n', [], { batchSize: 50 })), sink);
    expect(seen).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
  });

  it('stopping early destroys the stream and leaves the client usable', async () => {
    const client = await connect();
    const stream = client.query(new QueryStream('select n from generate_series(1, 100000) n', [], { highWaterMark: 10 }));
    const rows: unknown[] = [];
    for await (const row of stream) {
      rows.push(row);
      if (rows.length === 5) break;
    }
    expect(rows).toEqual(series(5));
    expect(stream.destroyed).toBe(true);
    expect((await client.query('select 2 as after')).rows).toEqual([{ after: 2 }]);
    const again = client.query(new QueryStream('select n from generate_series(1, 10) n'));
    const more: unknown[] = [];
    for await (const row of again) more.push(row);
    expect(more).toEqual(series(10));
  });

  it('destroy() mid-stream also frees the client', async () => {
    const client = await connect();
    const stream = client.query(new QueryStream('select n from generate_series(1, 100000) n', [], { batchSize: 5 }));
    const first = await new Promise<unknown>((resolve) => stream.once('data', resolve));
    expect(first).toEqual({ n: 1 });
    const closed = new Promise((resolve) => stream.once('close', resolve));
    stream.destroy();
    await closed;
    expect((await client.query('select 3 as after')).rows).toEqual([{ after: 3 }]);
  });

  it('a server error ends the iteration with that error; the client recovers', async () => {
    const client = await connect();
    const stream = client.query(new QueryStream('select 10 / (3 - n) as q from generate_series(1, 5) n'));
    const rows: unknown[] = [];
    const err = await (async () => {
      for await (const row of stream) rows.push(row);
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(pg.DatabaseError);
    expect((err as Error).message).toBe('division by zero');
    expect((await client.query('select 4 as after')).rows).toEqual([{ after: 4 }]);
  });
});
