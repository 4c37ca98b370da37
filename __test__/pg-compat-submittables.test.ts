// node-postgres' submittable protocol: pg-cursor and pg-copy-streams as installed from npm
// (not pgwarp's own Cursor), and pg's own Query class, run on a pgwarp/pg Client as on pg's.
// (pg-query-stream from npm is pg-cursor underneath; here its `pg-cursor` resolves to
// pgwarp's, as the test setup aliases the name.)
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { databaseUrl, tableName } from './helpers';
import { driverName, pg } from './pg-driver';

const require = createRequire(__filename);
// By path: the test setup makes the bare names resolve to pgwarp's own.
const npm = (name: string) => require(path.join(__dirname, '..', 'node_modules', name));
const NpmCursor = npm('pg-cursor');
const { from: copyFrom, to: copyTo } = npm('pg-copy-streams');
const PgQuery = npm('pg').Query;

type Client = InstanceType<typeof pg.Client>;
let client: Client;
const t = tableName('submit');

beforeAll(async () => {
  client = new pg.Client(databaseUrl);
  await client.connect();
  await client.query(`create table ${t} (id int, name text)`);
});
afterAll(async () => {
  await client.query(`drop table ${t}`);
  await client.end();
});

describe(`third-party submittables on ${driverName}`, () => {
  it('pg-copy-streams: COPY FROM STDIN through a Writable, then COPY TO STDOUT through a Readable', async () => {
    const stream = client.query(copyFrom(`copy ${t} from stdin`));
    await pipeline(Readable.from(['1\tone\n', '2\ttwo\n', '3\t\\N\n']), stream);
    expect(stream.rowCount).toBe(3);
    expect((await client.query(`select count(*)::int as n from ${t}`)).rows).toEqual([{ n: 3 }]);

    const out = client.query(copyTo(`copy (select id, name from ${t} order by id) to stdout`));
    const chunks: Buffer[] = [];
    for await (const c of out) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('1\tone\n2\ttwo\n3\t\\N\n');
    expect(out.rowCount).toBe(3);
    // The client goes on after both.
    expect((await client.query('select 1 as x')).rows).toEqual([{ x: 1 }]);
  });

  it('pg-copy-streams: a COPY the server refuses, and one destroyed, leave nothing and the client usable', async () => {
    const bad = client.query(copyFrom(`copy ${t} from stdin`));
    await expect(pipeline(Readable.from(['x\ty\n']), bad)).rejects.toMatchObject({ code: '22P02' });
    const stopped = client.query(copyFrom(`copy ${t} from stdin`));
    stopped.on('error', () => {});
    stopped.write('9\tnine\n');
    stopped.destroy(new Error('changed my mind'));
    await new Promise((r) => stopped.on('close', r));
    expect((await client.query(`select count(*)::int as n from ${t}`)).rows).toEqual([{ n: 3 }]);
  });

  it('pg-cursor: reads in batches, values parsed by pg-types, close() frees the client', async () => {
    const cursor = client.query(new NpmCursor(`select g as n, g::text as s, now() as at from generate_series(1, 25) g`));
    const first = await cursor.read(10);
    expect(first).toHaveLength(10);
    expect(first[0]).toMatchObject({ n: 1, s: '1' });
    expect(first[0].at).toBeInstanceOf(Date);
    expect(await cursor.read(10)).toHaveLength(10);
    expect((await cursor.read(10)).map((r: { n: number }) => r.n)).toEqual([21, 22, 23, 24, 25]);
    expect(await cursor.read(10)).toEqual([]);
    await cursor.close();

    const early = client.query(new NpmCursor('select g from generate_series(1, 1000000) g where g > $1', [0]));
    expect(await early.read(3)).toEqual([{ g: 1 }, { g: 2 }, { g: 3 }]);
    await early.close();
    expect((await client.query('select 2 as x')).rows).toEqual([{ x: 2 }]);

    const failing = client.query(new NpmCursor('select 1/0'));
    await expect(failing.read(1)).rejects.toMatchObject({ code: '22012' });
    expect((await client.query('select 3 as x')).rows).toEqual([{ x: 3 }]);
  });

  it("pg's own Query: rows as events, then the result", async () => {
    const q = client.query(new PgQuery(`select id, name from ${t} where id < $1 order by id`, [3]));
    const seen: unknown[] = [];
    q.on('row', (row: unknown) => seen.push(row));
    const result = await new Promise<{ rowCount: number }>((resolve, reject) => {
      q.on('end', resolve);
      q.on('error', reject);
    });
    expect(seen).toEqual([
      { id: 1, name: 'one' },
      { id: 2, name: 'two' },
    ]);
    expect(result.rowCount).toBe(2);
  });
});
