/**
 * pg-boss (v10) through the node-postgres API under test (`pg-driver.ts`).
 *
 * pg-boss `require('pg')`s itself in its own `Db` class (`new pg.Pool(config)`, then
 * `pool.query(text, values)`): through the tests' alias (`pg-alias.ts`) that is pgwarp/pg, as
 * an npm alias makes it for users. Its per-call `db` option (`executeSql(text, values)`) runs
 * on a PoolClient of the module under test. What it sends: schema creation and
 * migrations as one multi-statement text with no values (`BEGIN; SET LOCAL …; SELECT
 * pg_advisory_xact_lock(…); CREATE …; COMMIT;`, so the simple protocol), `values` undefined
 * for parameterless statements, and parameterized CTEs (`FOR UPDATE SKIP LOCKED`,
 * `$2::uuid[]` from a JS array, `$3::jsonb` from JSON text, job data as a JS object that pg
 * serializes to JSON). It reads `rows` only (`count` as an int8 string, uuids, Dates).
 * The per-call `{ db }` option also enqueues through a `PoolClient` inside a transaction.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import PgBoss from 'pg-boss';

import { databaseUrl, tableName } from './helpers';
import { pg } from './pg-driver';

const schema = tableName('orm_pgboss');
const pool = new pg.Pool({ connectionString: databaseUrl, max: 4, application_name: 'pgboss' });
// Like pg-boss's own Db: forward pool errors instead of crashing on an idle client's error.
const poolErrors: Error[] = [];
pool.on('error', (e) => poolErrors.push(e));

// pg-boss makes its own pg.Pool (`require('pg')`, pgwarp/pg through the tests' alias).
const boss = new PgBoss({ connectionString: databaseUrl, max: 4, schema, supervise: false, schedule: false, migrate: true });
const bossErrors: unknown[] = [];
boss.on('error', (e) => bossErrors.push(e));

/** What complete/fail/cancel resolve to (typed `void` in pg-boss's d.ts). */
type Affected = { jobs: string[]; requested: number; affected: number };

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForState(queue: string, id: string, state: string, ms = 10_000) {
  const t0 = Date.now();
  for (;;) {
    const job = await boss.getJobById(queue, id);
    if (job?.state === state || Date.now() - t0 > ms) return job;
    await sleep(50);
  }
}

beforeAll(async () => {
  await boss.start();
});

afterAll(async () => {
  await boss.stop({ graceful: false, wait: true, close: false });
  await pool.query(`drop schema if exists ${schema} cascade`).catch(() => {});
  await pool.end();
});

describe('pg-boss on the pg API', () => {
  it('start() created its schema through one multi-statement text', async () => {
    expect(await boss.isInstalled()).toBe(true);
    expect(await boss.schemaVersion()).toBeGreaterThanOrEqual(20);
    const tables = await pool.query<{ table_name: string }>(
      `select table_name from information_schema.tables where table_schema = $1 and table_name in ('job', 'queue', 'version', 'archive') order by 1`,
      [schema],
    );
    expect(tables.rows.map((r) => r.table_name)).toEqual(['archive', 'job', 'queue', 'version']);
  });

  it('a job queued is worked end to end, its output stored', async () => {
    const queue = 'email';
    await boss.createQueue(queue);
    const id = await boss.send(queue, { to: 'ada@example.com', n: 1, tags: ['a', 'b'], nested: { ok: true } }, { retryLimit: 0 });
    expect(id).toMatch(uuid);

    const queued = await boss.getJobById(queue, id!);
    expect(queued?.state).toBe('created');
    expect(queued?.data).toEqual({ to: 'ada@example.com', n: 1, tags: ['a', 'b'], nested: { ok: true } });
    expect(queued?.createdOn).toBeInstanceOf(Date);

    const handled: { id: string; data: unknown }[] = [];
    const workerId = await boss.work<{ to: string }>(queue, { pollingIntervalSeconds: 0.5 }, async ([job]) => {
      handled.push({ id: job.id, data: job.data });
      return { sent: job.data.to, at: 42 };
    });
    expect(workerId).toMatch(uuid);

    const done = await waitForState(queue, id!, 'completed');
    expect(done?.state).toBe('completed');
    expect(done?.output).toEqual({ sent: 'ada@example.com', at: 42 });
    expect(done?.completedOn).toBeInstanceOf(Date);
    expect(done!.completedOn!.getTime()).toBeGreaterThanOrEqual(done!.createdOn.getTime());
    expect(handled).toEqual([{ id, data: { to: 'ada@example.com', n: 1, tags: ['a', 'b'], nested: { ok: true } } }]);
    await boss.offWork(queue);
  });

  it('a failing handler marks the job failed with the error as output', async () => {
    const queue = 'fragile';
    await boss.createQueue(queue);
    const id = await boss.send(queue, { x: 1 }, { retryLimit: 0 });
    await boss.work(queue, { pollingIntervalSeconds: 0.5 }, async () => {
      throw new Error('handler broke');
    });
    const failed = await waitForState(queue, id!, 'failed');
    expect(failed?.state).toBe('failed');
    expect((failed?.output as { message?: string }).message).toBe('handler broke');
    await boss.offWork(queue);
  });

  it('fetch / complete / fail / cancel by hand, and a batch insert', async () => {
    const queue = 'manual';
    await boss.createQueue(queue);
    await boss.insert(Array.from({ length: 5 }, (_, i) => ({ name: queue, data: { i }, retryLimit: 0 })));
    expect(await boss.getQueueSize(queue)).toBe(5);

    const jobs = await boss.fetch<{ i: number }>(queue, { batchSize: 3 });
    expect(jobs).toHaveLength(3);
    expect(jobs.every((j) => typeof j.data.i === 'number')).toBe(true);
    // A numeric column (expire_in as seconds) comes back as pg's numeric text.
    expect((jobs[0] as unknown as { expireInSeconds: unknown }).expireInSeconds).toBe('900.000000');
    expect(jobs.every((j) => uuid.test(j.id))).toBe(true);

    const res = (await boss.complete(queue, jobs.map((j) => j.id))) as unknown as Affected;
    expect(res).toEqual({ jobs: jobs.map((j) => j.id), requested: 3, affected: 3 });
    expect(await boss.getQueueSize(queue)).toBe(2);

    const rest = await boss.fetch<{ i: number }>(queue, { batchSize: 10 });
    expect(rest).toHaveLength(2);
    expect(new Set([...jobs, ...rest].map((j) => j.data.i))).toEqual(new Set([0, 1, 2, 3, 4]));
    expect(((await boss.fail(queue, rest[0].id, { why: 'no' })) as unknown as Affected).affected).toBe(1);
    expect(((await boss.cancel(queue, rest[1].id)) as unknown as Affected).affected).toBe(1);
    expect(await boss.fetch(queue)).toEqual([]);
  });

  it('enqueues inside the caller\'s transaction through a PoolClient', async () => {
    const queue = 'outbox';
    await boss.createQueue(queue);
    const client = await pool.connect();
    let rolledBackId: string | null = null;
    let committedId: string | null = null;
    try {
      const txDb = { executeSql: (text: string, values?: unknown[]) => client.query(text, values) };
      await client.query('begin');
      rolledBackId = await boss.send(queue, { keep: false }, { db: txDb });
      await client.query('rollback');
      await client.query('begin');
      committedId = await boss.send(queue, { keep: true }, { db: txDb });
      // Not visible outside the transaction yet.
      expect(await boss.getJobById(queue, committedId!)).toBeNull();
      await client.query('commit');
    } finally {
      client.release();
    }
    expect(rolledBackId).toMatch(uuid);
    expect(await boss.getJobById(queue, rolledBackId!)).toBeNull();
    expect((await boss.getJobById(queue, committedId!))?.data).toEqual({ keep: true });
  });

  it('nothing went to the error events', () => {
    expect(bossErrors).toEqual([]);
    expect(poolErrors).toEqual([]);
  });
});
