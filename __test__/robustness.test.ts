// What an adversarial probe found (issue 11), each reproduced as it was found: leaks, memory
// kept per SQL text, values changed silently, bystanders hurt, unclear errors, a close() that
// a frozen server outlasts, and stats() that disagree with the server.
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

import { describe, expect, it } from 'vitest';

import { ParameterError, Pool, PostgresError } from '../src';
import { startPostgres } from '../src/testing';
import { databaseUrl, newPool, tableName } from './helpers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let apps = 0;
/** A pool whose connections the server can tell apart (by application_name). */
function tagged(options: ConstructorParameters<typeof Pool>[1] = {}): { pool: Pool; app: string } {
  const app = `robust_${process.pid}_${++apps}`;
  return { pool: newPool({ ...options, applicationName: app }), app };
}

/** Backends the server holds for `app`, once it has settled (closing takes a moment). */
async function backends(app: string, expected?: number): Promise<number> {
  const admin = new Pool(databaseUrl);
  try {
    let n = -1;
    for (let i = 0; i < 40; i++) {
      n = await admin.query<number>('select count(*)::int from pg_stat_activity where application_name = $1', [app]).scalar() as number;
      if (expected === undefined || n === expected) break;
      await sleep(50);
    }
    return n;
  } finally {
    await admin.close();
  }
}

describe('1. a stream() left early leaks nothing', () => {
  it('break on a result the server had already finished sending closes nothing it should not, and leaks no backend', async () => {
    const { pool, app } = tagged({ max: 1 });
    for (let i = 0; i < 10; i++) {
      for await (const _ of pool.query('select generate_series(1, 100)').stream({ batchSize: 10 })) break;
    }
    expect(await pool.query<number>('select 1').scalar()).toBe(1);
    const total = pool.stats().connections.total;
    expect(total).toBeLessThanOrEqual(1);
    expect(await backends(app, total)).toBe(total);
  });

  it('inside a transaction and on a reserved connection the same break leaves them usable', async () => {
    const { pool, app } = tagged({ max: 1 });
    const t = tableName('brk');
    await pool.query(`create table ${t} (a int)`).execute();
    await pool.transaction(async (tx) => {
      for await (const _ of tx.query('select generate_series(1, 100)').stream({ batchSize: 10 })) break;
      await tx.query(`insert into ${t} values (1)`).execute();
    });
    const c = await pool.reserve();
    for await (const _ of c.query('select generate_series(1, 100)').stream({ batchSize: 10 })) break;
    expect(await c.query<number>('select 2').scalar()).toBe(2);
    await c.release();
    expect(await pool.query<number>(`select count(*)::int from ${t}`).scalar()).toBe(1);
    expect(await backends(app, 1)).toBe(1);
  });
});

describe('2. memory is not kept for every distinct SQL text', () => {
  it('100 MB of distinct texts leave the heap and RSS near where they were', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const pool = newPool({ max: 1 });
    const big = (i: number) => `select ${i} as n -- ${'x'.repeat(5 * 1024 * 1024)}`;
    await pool.query(big(-1)).scalar();
    gc();
    const before = process.memoryUsage();
    for (let i = 0; i < 20; i++) expect(await pool.query<number>(big(i)).scalar()).toBe(i);
    await sleep(100);
    gc();
    const after = process.memoryUsage();
    const mb = (n: number) => n / 1024 / 1024;
    expect(mb(after.heapUsed - before.heapUsed)).toBeLessThan(20);
    expect(mb(after.rss - before.rss)).toBeLessThan(80);
  });
});

describe('2b. the text registry forgets its oldest texts without losing a query', () => {
  it('6,000 distinct texts, 200 per tick, each query gets its own result', async () => {
    const pool = newPool({ max: 2 });
    for (let tick = 0; tick < 30; tick++) {
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => pool.query<number>(`select ${tick * 200 + i}::int as n`).scalar()));
      expect(results).toEqual(Array.from({ length: 200 }, (_, i) => tick * 200 + i));
    }
    // Texts registered long ago still work (sent again, registered again).
    expect(await pool.query<number>('select 0::int as n').scalar()).toBe(0);
  });
});

describe('3. no value is changed silently', () => {
  it('floats out of their type’s range are refused, naming $n and the type', async () => {
    const pool = newPool();
    await expect(pool.query('select $1::float4', [1e300]).scalar()).rejects.toThrow(/\$1 \(float4\): 1e\+300 is out of range/);
    await expect(pool.query('select $1::float4', [1e-50]).scalar()).rejects.toThrow(/\$1 \(float4\).*out of range/);
    await expect(pool.query('select $1::float8', ['1e400']).scalar()).rejects.toThrow(/\$1 \(float8\).*out of range/);
    expect(await pool.query('select $1::float4', ['Infinity']).scalar()).toBe(Infinity);
    expect(await pool.query('select $1::float8', [-0]).scalar()).toBe(-0);
    expect(await pool.query('select $1::float4', [3.4e38]).scalar()).toBeCloseTo(3.4e38, -33);
  });

  it('an array whose iterator disagrees with its length cannot shift the next parameter', async () => {
    const pool = newPool();
    const odd = [1, 2];
    (odd as unknown as { [Symbol.iterator]: () => Iterator<number> })[Symbol.iterator] = function* () {
      yield 1;
      yield 2;
      yield 3;
    };
    expect(await pool.query('select $1::int[] as a, $2::text as b', [odd, 'two']).one()).toEqual({ a: [1, 2], b: 'two' });
  });
});

describe('4. COPY through query() is refused before anything is sent', () => {
  it('on the pool and on a reserved connection, naming copyIn and copyOut', async () => {
    const pool = newPool({ max: 1 });
    const t = tableName('cq');
    await pool.query(`create table ${t} (a int)`).execute();
    const c = await pool.reserve();
    const behind = c.query('select 1 as one').all();
    await expect(c.query(`copy ${t} from stdin`).execute()).rejects.toThrow(/use copyIn\(\)/);
    await expect(c.query(`copy ${t} to stdout`).execute()).rejects.toThrow(/use copyOut\(\)/);
    await expect(behind).resolves.toEqual([{ one: 1 }]);
    await c.release();
    await expect(pool.query(`COPY ${t} FROM STDIN`).execute()).rejects.toThrow(ParameterError);
  });
});

describe('5. limits and odd input get clear errors, and leave the connection up', () => {
  it('65,536 parameters are refused before sending; 65,535 work', async () => {
    const pool = newPool({ max: 1 });
    const sql = (n: number) => `select cardinality(array[${Array.from({ length: n }, (_, i) => `$${i + 1}::int`).join(', ')}])`;
    const values = (n: number) => Array.from({ length: n }, () => 1);
    await expect(pool.query(sql(65536), values(65536)).scalar()).rejects.toThrow(/65,?536 parameters.*65,?535/);
    expect(await pool.query<number>(sql(65535), values(65535)).scalar()).toBe(65535);
    expect(await pool.query<number>(`select 1 as ok`).scalar()).toBe(1);
  });

  it("the empty query gives an empty result, as pg's does", async () => {
    const pool = newPool();
    expect(await pool.query('').all()).toEqual([]);
    expect(await pool.query('').execute()).toEqual({ command: '', rowCount: 0, tag: '' });
    expect(await pool.query('  ').all()).toEqual([]);
  });

  it('a NUL in the text says where it is; toJSON returning undefined is refused; a revoked Proxy is named', async () => {
    const pool = newPool({ max: 1 });
    await expect(pool.query('select 1\0 as x').all()).rejects.toThrow(/NUL character at position 9/);
    // No value at all is not NULL: sending NULL for it would change the parameter silently.
    await expect(pool.query('select $1::jsonb is null as isnull', [{ toJSON: () => undefined }]).scalar()).rejects.toThrow(/\$1: its toJSON\(\) gave undefined/);
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    await expect(pool.query('select $1::jsonb', [proxy]).all()).rejects.toThrow(ParameterError);
    await expect(pool.query('select $1::jsonb', [proxy]).all()).rejects.toThrow(/\$1/);
    expect(await pool.query<number>('select 5').scalar()).toBe(5);
  });
});

describe('6. close({ timeout }) resolves by its deadline whatever the server does', () => {
  it('with every backend frozen by SIGSTOP', async () => {
    const server = await startPostgres();
    const pool = new Pool(server.url, { max: 2 });
    const pids = await Promise.all([0, 1].map(() => pool.query<number>('select pg_backend_pid(), pg_sleep(0.05)', [], { rowMode: 'array' }).all()));
    const backendPids = [...new Set(pids.map((r) => (r[0] as unknown as number[])[0]))];
    try {
      const running = pool.query('select pg_sleep(0.5)').all().catch((e: unknown) => e);
      await sleep(50);
      for (const p of [server.pid!, ...backendPids]) process.kill(p, 'SIGSTOP');
      const t0 = Date.now();
      await pool.close({ timeout: 1000 });
      const took = Date.now() - t0;
      expect(took).toBeLessThan(2500);
      expect(await running).toBeInstanceOf(Error);
    } finally {
      for (const p of [server.pid!, ...backendPids]) {
        try {
          process.kill(p, 'SIGCONT');
        } catch {}
      }
      await server.stop();
    }
  });
});

describe('7. stats() agrees with the server after accidents', () => {
  it('after backends are killed and streams broken, total matches pg_stat_activity and destroyed is exact', async () => {
    const { pool, app } = tagged({ max: 3 });
    await Promise.all([0, 1, 2].map(() => pool.query('select pg_sleep(0.05)').all()));
    const admin = new Pool(databaseUrl);
    await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [app]).all();
    await admin.close();
    await sleep(100);
    for (let i = 0; i < 5; i++) {
      for await (const _ of pool.query('select generate_series(1, 100)').stream({ batchSize: 10 })) break;
    }
    const err = await Promise.all([0, 1, 2].map(() => pool.query<number>('select 1').scalar())).catch((e: unknown) => e);
    expect(err).toEqual([1, 1, 1]);
    const s = pool.stats();
    expect(await backends(app, s.connections.total)).toBe(s.connections.total);
    expect(s.counters.destroyed).toBe(s.counters.created - s.connections.total);
  });
});

describe('a panic inside the engine', () => {
  it('reaches JavaScript as an error, and the pool and the process live on', async () => {
    process.env.PGWARP_TEST_PANIC = '1';
    const pool = new Pool(databaseUrl, { max: 1 });
    delete process.env.PGWARP_TEST_PANIC;
    try {
      const [panicked, fine] = await Promise.allSettled([pool.query('pgwarp:test:panic').all(), pool.query<number>('select 11').scalar()]);
      expect(String((panicked as PromiseRejectedResult).reason)).toMatch(/pgwarp engine bug \(panic\): the test hook asked for a panic/);
      expect(fine).toEqual({ status: 'fulfilled', value: 11 });
      expect(await pool.query<number>('select 12').scalar()).toBe(12);
    } finally {
      await pool.close();
    }
  });
});

describe('a good query in the same tick as bad ones gets its own result', () => {
  it('with a hostile parameter beside it', async () => {
    const pool = newPool({ max: 1 });
    const [bad, good] = await Promise.allSettled([pool.query('select $1::float4', [1e300]).scalar(), pool.query<number>('select $1::int + 1', [41]).scalar()]);
    expect(bad.status).toBe('rejected');
    expect(good).toEqual({ status: 'fulfilled', value: 42 });
    expect((bad as PromiseRejectedResult).reason).not.toBeInstanceOf(PostgresError);
  });
});
