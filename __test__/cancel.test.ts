// Per-call cancellation: signal and timeout on queries, streams, reservations and transactions.
import { describe, expect, it } from 'vitest';

import { QueryTimeoutError } from '../src';
import { newPool, tableName } from './helpers';

const pool = newPool({ max: 4 });
const watcher = newPool({ max: 1 });

/** Statements of `marker` the server still runs. */
async function running(marker: string): Promise<number> {
  return (await watcher.query<number>(`select count(*)::int from pg_stat_activity where query like $1 and pid <> pg_backend_pid() and state = 'active'`, [`%${marker}%`]).scalar())!;
}

describe('signal and timeout', () => {
  it('aborted before the call: rejects with the reason and never reaches the server', async () => {
    const t = tableName('never');
    await pool.query(`create table ${t} (id int)`).execute();
    const ac = new AbortController();
    ac.abort(new Error('gave up early'));
    await expect(pool.query(`insert into ${t} values (1)`, [], { signal: ac.signal }).execute()).rejects.toThrow('gave up early');
    const plain = new AbortController();
    plain.abort();
    const err = await pool.query(`insert into ${t} values (2)`, [], { signal: plain.signal }).execute().catch((e: Error) => e);
    expect((err as Error).name).toBe('AbortError');
    await new Promise((r) => setTimeout(r, 100));
    expect(await pool.query<number>(`select count(*)::int from ${t}`).scalar()).toBe(0);
  });

  it('an abort after 300 ms of pg_sleep(30) settles at once and leaves nothing running', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 300);
    const err = await pool.query('select pg_sleep(30) /* abort-marker */', [], { signal: ac.signal }).execute().catch((e: Error) => e);
    expect((err as Error).name).toBe('AbortError');
    expect(Date.now() - t0).toBeLessThan(1000);
    await new Promise((r) => setTimeout(r, 200));
    expect(await running('abort-marker')).toBe(0);
    expect(await pool.query('select 1').scalar()).toBe(1);
  });

  it('a timeout rejects with QueryTimeoutError and cancels the same way', async () => {
    const t0 = Date.now();
    const err = await pool.query('select pg_sleep(30) /* timeout-marker */', [], { timeout: 300 }).all().catch((e: Error) => e);
    expect(err).toBeInstanceOf(QueryTimeoutError);
    expect(Date.now() - t0).toBeLessThan(1000);
    await new Promise((r) => setTimeout(r, 200));
    expect(await running('timeout-marker')).toBe(0);
    // A query that finishes in time is untouched.
    expect(await pool.query<number>('select 7', [], { timeout: 5000 }).scalar()).toBe(7);
  });

  it('a stream with a timeout stops on the server', async () => {
    const stream = pool.query('select pg_sleep(0.001), g /* stream-marker */ from generate_series(1, 100000000) g').stream({ batchSize: 10 });
    // (The stream has its options on the query.)
    const timed = pool.query('select pg_sleep(30) /* stream-timeout-marker */', [], { timeout: 300 }).stream();
    const t0 = Date.now();
    const err = await (async () => {
      for await (const _ of timed) {
        /* no rows come */
      }
    })().catch((e: Error) => e);
    expect(err).toBeInstanceOf(QueryTimeoutError);
    expect(Date.now() - t0).toBeLessThan(1000);
    await new Promise((r) => setTimeout(r, 300));
    expect(await running('stream-timeout-marker')).toBe(0);
    await stream.return();
  });

  it('an aborted transaction leaves none of its writes, and a timed-out one neither', async () => {
    const t = tableName('abort_tx');
    await pool.query(`create table ${t} (id int)`).execute();
    const ac = new AbortController();
    const outcome = pool
      .transaction(
        async (tx) => {
          await tx.query(`insert into ${t} values (1)`).execute();
          await tx.query('select pg_sleep(30)').execute();
          await tx.query(`insert into ${t} values (2)`).execute();
        },
        { signal: ac.signal },
      )
      .catch((e: Error) => e);
    setTimeout(() => ac.abort(new Error('user left')), 300);
    const t0 = Date.now();
    expect(((await outcome) as Error).message).toBe('user left');
    expect(Date.now() - t0).toBeLessThan(1000);
    // Aborted between statements: it rolls back instead of committing.
    const between = await pool
      .transaction(
        async (tx) => {
          await tx.query(`insert into ${t} values (3)`).execute();
          await new Promise((r) => setTimeout(r, 500));
          await tx.query(`insert into ${t} values (4)`).execute();
        },
        { timeout: 200 },
      )
      .catch((e: Error) => e);
    expect(between).toBeInstanceOf(QueryTimeoutError);
    await new Promise((r) => setTimeout(r, 600));
    expect(await pool.query<number>(`select count(*)::int from ${t}`).scalar()).toBe(0);
    expect(pool.stats().connections.reserved).toBe(0);
  });

  it('a pool query with a signal keeps the shared path’s rules, and its connection comes back without a reset', async () => {
    const p = newPool({ max: 1 });
    const err = await p.query('begin', [], { timeout: 1000 }).execute().catch((e: Error) => e);
    expect((err as Error).name).toBe('ParameterError');
    expect((err as Error).message).toMatch(/cannot run BEGIN.*pool\.transaction\(/);
    const resetsBefore = p.stats().counters.resets;
    for (let i = 0; i < 5; i++) expect(await p.query<number>('select $1::int', [i], { timeout: 1000 }).scalar()).toBe(i);
    // As on the shared path: no session reset after them.
    expect(p.stats().counters.resets).toBe(resetsBefore);
    // The connection goes back just after each call settles.
    await new Promise((r) => setTimeout(r, 50));
    expect(p.stats().connections.reserved).toBe(0);
  });

  it('a query given up inside a transaction fails the transaction: nothing of it is committed', async () => {
    const t = tableName('tx_query_timeout');
    await pool.query(`create table ${t} (id int)`).execute();
    const err = await pool
      .transaction(async (tx) => {
        await tx.query(`insert into ${t} values (1)`).execute();
        await tx.query('select pg_sleep(5)', [], { timeout: 100 }).execute().catch(() => {});
        await tx.query(`insert into ${t} values (2)`).execute();
      })
      .catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(await pool.query<number>(`select count(*)::int from ${t}`).scalar()).toBe(0);
  });

  it('reserve() gives up waiting, and the connection that comes later goes back', async () => {
    const single = newPool({ max: 1 });
    const held = await single.reserve();
    const err = await single.reserve({ timeout: 100 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(QueryTimeoutError);
    await held.release();
    await new Promise((r) => setTimeout(r, 100));
    expect(single.stats().connections.reserved).toBe(0);
    expect(await single.query('select 1').scalar()).toBe(1);
  });

  it('1,000 queries on 4 connections with random aborts and timeouts: every other result is right', async () => {
    const p = newPool({ max: 4 });
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const calls = Array.from({ length: 1000 }, (_, i) => {
      const r = rand();
      if (r < 0.15) {
        const ac = new AbortController();
        setTimeout(() => ac.abort(), Math.floor(rand() * 20));
        return p.query<number>('select $1::int as v from pg_sleep(0.01)', [i], { signal: ac.signal }).scalar().then((v) => ['done', v, i] as const, (e: Error) => ['aborted', e.name, i] as const);
      }
      if (r < 0.3) {
        return p.query<number>('select $1::int as v from pg_sleep($2)', [i, rand() < 0.5 ? 0.05 : 0], { timeout: 20 }).scalar().then((v) => ['done', v, i] as const, (e: Error) => ['aborted', e.name, i] as const);
      }
      return p.query<number>('select $1::int as v', [i]).scalar().then((v) => ['plain', v, i] as const);
    });
    const results = await Promise.all(calls);
    for (const [kind, v, i] of results) {
      if (kind === 'plain' || kind === 'done') expect(v).toBe(i);
      else expect(['AbortError', 'QueryTimeoutError', 'QueryCanceledError']).toContain(v);
    }
    expect(results.filter(([k]) => k === 'plain').length).toBeGreaterThan(600);
    await new Promise((r) => setTimeout(r, 500));
    expect(p.stats().connections.reserved).toBe(0);
    expect(await p.query('select 1').scalar()).toBe(1);
  }, 60_000);
});
