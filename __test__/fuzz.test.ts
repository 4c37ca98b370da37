// A seeded, bounded fuzz of the parameter path from JavaScript: values of wrong, extreme and
// hostile kinds for each parameter type. Every call must settle, with the right value or an
// error of pgwarp's own classes (never a raw TypeError, never a hang), and a good query sent
// in the same tick must get its own result.
import { describe, expect, it } from 'vitest';

import { PgwarpError } from '../src';
import { newPool } from './helpers';

/** xorshift32: the same values on every run. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)] };
}

const TYPES = ['int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'bool', 'text', 'varchar(5)', 'bytea', 'json', 'jsonb', 'uuid', 'date', 'timestamp', 'timestamptz', 'interval', 'time', 'inet', 'int4[]', 'text[]', 'jsonb[]', 'float8[][]', 'money', 'oid', 'char'] as const;

function hostile(r: ReturnType<typeof rng>, depth = 0): unknown {
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const kinds: (() => unknown)[] = [
    () => r.int(100000) - 50000,
    () => r.pick([NaN, Infinity, -Infinity, -0, 2 ** 53, 2 ** 53 + 2, -(2 ** 63), 1e308, 5e-324, 1e-50, 3.4e38, 0.1, 32768, -32769, 2 ** 31, 4294967296]),
    () => r.next() * 1e6 - 5e5,
    () => BigInt(r.int(1e9)) * BigInt(r.int(1e9)) * (r.next() < 0.5 ? -1n : 1n),
    () => r.pick([2n ** 63n, -(2n ** 63n) - 1n, 2n ** 64n, 0n]),
    () => r.pick(['', ' ', '42', '-7', '1e400', 'NaN', 'Infinity', 'true', 'f', '{}', '[1,2]', '{"a":1}', '2020-02-30', 'abc', '1.5', '00000000-0000-0000-0000-000000000000', '127.0.0.1', '1 day', '12:34', '\\x00ff', 'é€😀', 'x'.repeat(3000)]),
    () => String.fromCharCode(...Array.from({ length: r.int(12) }, () => r.int(0xd7ff) + 1)),
    () => r.next() < 0.5,
    () => r.pick([null, undefined]),
    () => r.pick([new Date(r.int(2 ** 40)), new Date(NaN), new Date(-8.64e15), new Date(8.64e15)]),
    () => Buffer.from(Array.from({ length: r.int(20) }, () => r.int(256))),
    () => new Uint8Array([1, 2, 3]),
    () => (depth < 3 ? Array.from({ length: r.int(4) }, () => hostile(r, depth + 1)) : []),
    () => ({ a: r.int(10), b: [1, 'x', null], c: { d: true } }),
    () => ({ toJSON: () => r.pick([undefined, 1, 'x', { nested: 1 }]) }),
    () => cyclic,
    () => revoked.proxy,
    () => ({
      get boom() {
        throw new Error('getter');
      },
    }),
    () => Symbol('s'),
    () => () => 1,
    () => new Map([[1, 2]]),
  ];
  return r.pick(kinds)();
}

describe('parameters from JavaScript, fuzzed', () => {
  it('every call settles with a value or a pgwarp error, and good queries beside them are right', async () => {
    const pool = newPool({ max: 2 });
    const r = rng(20261201);
    const calls = 3000;
    let rejected = 0;
    let good = 0;
    const failures: string[] = [];
    for (let batch = 0; batch < calls / 50; batch++) {
      const work: Promise<void>[] = [];
      for (let i = 0; i < 50; i++) {
        const type = r.pick(TYPES);
        const value = hostile(r);
        work.push(
          pool
            .query(`select $1::${type} as v`, [value])
            .one()
            .then(
              () => {},
              (e: unknown) => {
                rejected++;
                if (!(e instanceof PgwarpError)) failures.push(`${type} <- ${show(value)}: ${String(e)}`);
              },
            ),
        );
        const n = r.int(1e6);
        work.push(
          pool
            .query<number>('select $1::int4 + 1 as n', [n])
            .scalar()
            .then((v) => {
              if (v !== n + 1) failures.push(`good query got ${v} for ${n}`);
              else good++;
            }),
        );
      }
      await Promise.all(work);
    }
    expect(failures).toEqual([]);
    expect(good).toBe(calls);
    expect(rejected).toBeGreaterThan(calls / 10);
    expect(pool.stats()).toMatchObject({ inFlight: 0, waiting: 0 });
  });

  it('values that are accepted come back as they went in', async () => {
    const pool = newPool({ max: 2 });
    const r = rng(7);
    for (let i = 0; i < 300; i++) {
      const n = r.int(2 ** 31) - 2 ** 30;
      const s = String.fromCharCode(...Array.from({ length: r.int(40) }, () => r.int(0xd7ff) + 1));
      const x = (r.next() - 0.5) * 10 ** r.int(300);
      const doc = { k: s, n, list: [n, s, null, true] };
      const row = await pool.query('select $1::int4 as n, $2::text as s, $3::float8 as x, $4::jsonb as doc, $5::int8 as big', [n, s, x, doc, BigInt(n) * 1000000n], { int8: 'bigint' }).one();
      expect(row).toEqual({ n, s, x, doc, big: BigInt(n) * 1000000n });
    }
  });
});

function show(v: unknown): string {
  try {
    return typeof v === 'object' && v !== null ? Object.prototype.toString.call(v) : `${typeof v} ${String(v).slice(0, 40)}`;
  } catch {
    return 'unprintable';
  }
}
