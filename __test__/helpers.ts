import * as net from 'node:net';

import { afterAll, inject } from 'vitest';

import { Pool, type PoolOptions } from '../src';

export const databaseUrl = inject('databaseUrl');
export const socketDir = inject('socketDir');

const pools: Pool[] = [];

/** A pool on the test server, closed after the file's tests. */
export function newPool(options: PoolOptions = {}): Pool {
  const pool = new Pool(databaseUrl, options);
  pools.push(pool);
  return pool;
}

afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

let seq = 0;
/** A table name unique to this process, so test files can run in parallel. */
export function tableName(prefix = 't'): string {
  return `${prefix}_${process.pid}_${++seq}`;
}

/** A local port nothing listens on (it was free a moment ago): connecting to it is refused. */
export function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
}
