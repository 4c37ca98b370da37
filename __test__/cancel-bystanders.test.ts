// A cancel stops only its own statement: randomized aborts (0-10 ms) on queries, transactions,
// queries inside transactions, streams and reserved connections, beside callers that never
// abort. No bystander may see 57014, every answer must be its caller's own, and an aborted
// transaction must leave none of its writes.
import { describe, expect, it } from 'vitest';

import { newPool, tableName } from './helpers';

const pool = newPool({ max: 8 });

const CANCELED = '57014';
const OPERATIONS = 5000;

/** An AbortController that aborts after a random 0-10 ms. */
function randomAbort(): AbortController {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), Math.random() * 10);
  return ac;
}

const codeOf = (e: unknown) => (e as { code?: string }).code;

describe('a cancel stops only its own statement', () => {
  it(`${OPERATIONS} operations with random aborts beside plain callers: no bystander is cancelled`, async () => {
    const t = tableName('cancel_bystanders');
    await pool.query(`create table ${t} (id int primary key, by text not null)`).execute();
    let ops = 0;
    let aborts = 0;
    let nextId = 0;
    const bystander = { runs: 0, cancelled: 0, wrong: 0, failures: [] as string[] };
    const committed: number[] = [];
    const rejected: number[] = [];
    const seen = (err: unknown) => {
      bystander.cancelled += codeOf(err) === CANCELED ? 1 : 0;
      bystander.failures.push(String((err as Error).message));
    };

    const aborters: Array<() => Promise<void>> = [
      // A pool query with a signal.
      async () => {
        await pool.query('select pg_sleep(0.003)', [], { signal: randomAbort().signal }).execute().catch(() => aborts++);
      },
      // A transaction with a signal: if it rejects, none of its writes stay.
      async () => {
        const id = ++nextId;
        try {
          await pool.transaction(
            async (tx) => {
              await tx.query(`insert into ${t} values ($1, 'tx')`, [id]).execute();
              await tx.query('select pg_sleep(0.003)').execute();
            },
            { signal: randomAbort().signal },
          );
          committed.push(id);
        } catch {
          aborts++;
          rejected.push(id);
        }
      },
      // A query with a signal inside a transaction without one.
      async () => {
        await pool.transaction(async (tx) => {
          await tx.query('select pg_sleep(0.003)', [], { signal: randomAbort().signal }).execute().catch(() => aborts++);
        }).catch(() => {});
      },
      // A stream with a signal.
      async () => {
        try {
          for await (const _ of pool.query('select pg_sleep(0.0005), g from generate_series(1, 20) g', [], { signal: randomAbort().signal }).stream()) {
            /* read on */
          }
        } catch {
          aborts++;
        }
      },
      // A reserved connection: an aborted query, then the holder's next statement, which
      // must not be hit by that cancel.
      async () => {
        const conn = await pool.reserve();
        try {
          await conn.query('select pg_sleep(0.005)', [], { signal: randomAbort().signal }).execute().catch(() => aborts++);
          const v = Math.floor(Math.random() * 1e9);
          try {
            const got = await conn.query<number>('select $1::int, pg_sleep(0.001)', [v]).scalar();
            bystander.runs++;
            if (got !== v) bystander.wrong++;
          } catch (err) {
            seen(err);
          }
        } finally {
          await conn.release();
        }
      },
    ];

    const aborter = async () => {
      while (ops < OPERATIONS) {
        ops++;
        await aborters[Math.floor(Math.random() * aborters.length)]();
      }
    };
    const plain = async () => {
      while (ops < OPERATIONS) {
        ops++;
        const v = Math.floor(Math.random() * 1e9);
        try {
          const got =
            Math.random() < 0.5
              ? await pool.query<number>('select $1::int, pg_sleep(0.001)', [v]).scalar()
              : await pool.transaction((tx) => tx.query<number>('select $1::int, pg_sleep(0.001)', [v]).scalar());
          bystander.runs++;
          if (got !== v) bystander.wrong++;
        } catch (err) {
          seen(err);
        }
      }
    };
    await Promise.all([...Array.from({ length: 8 }, aborter), ...Array.from({ length: 8 }, plain)]);

    console.log(`cancel bystanders: ${ops} operations, ${aborts} aborted, ${bystander.runs} bystander statements, ${bystander.cancelled} of them cancelled, ${bystander.wrong} wrong answers`);
    expect(bystander.failures).toEqual([]);
    expect(bystander.cancelled).toBe(0);
    expect(bystander.wrong).toBe(0);
    expect(ops).toBeGreaterThanOrEqual(OPERATIONS);
    expect(aborts).toBeGreaterThan(100);
    // Nothing of a rejected transaction stays; everything of a resolved one does.
    const stored = new Set((await pool.query(`select coalesce(array_agg(id), '{}') from ${t}`).scalar()) as number[]);
    expect(rejected.filter((id) => stored.has(id))).toEqual([]);
    expect(committed.filter((id) => !stored.has(id))).toEqual([]);
    expect(pool.stats()).toMatchObject({ inFlight: 0, waiting: 0, connections: { reserved: 0 } });
  });
});
