// A TLS test server of the file's own (the shared one has no TLS), with the roles tlsHba names.
import { afterAll, beforeAll } from 'vitest';

import { Pool, type PoolOptions } from '../src';
import { startPostgres, type PostgresServer, type TestCertificates } from '../src/testing';

export const PASSWORD = 'pw-for-tests';

export interface TlsServer {
  server: PostgresServer;
  certs: TestCertificates;
  /** A pool to `localhost` (the name the certificate has), closed after the file's tests. */
  pool(options?: PoolOptions & { url?: string }): Pool;
  /** `postgres://user:pw@host:port/postgres?query` */
  url(user: string, query?: string, host?: string): string;
}

/**
 * Starts the server before the file's tests (and stops it after them), creating
 * `pgwarp_tls`, `pgwarp_plain`, `pgwarp_any` and the certificate's user. The fields are
 * there once the tests run.
 */
export function useTlsServer(settings: Record<string, string | number> = {}): TlsServer {
  let server: PostgresServer | undefined;
  const pools: Pool[] = [];
  beforeAll(async () => {
    server = await startPostgres({ tls: true, settings });
    const admin = new Pool(`${server.url}?sslmode=disable`);
    for (const role of ['pgwarp_tls', 'pgwarp_plain', 'pgwarp_any']) {
      await admin.query(`create role ${role} login password '${PASSWORD}'`).execute();
    }
    await admin.query(`create role ${server.tls!.clientUser} login`).execute();
    await admin.close();
  });
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.close()));
    await server?.stop();
  });
  const url = (user: string, query = '', host = 'localhost') =>
    `postgres://${user}:${PASSWORD}@${host}:${server!.port}/postgres${query ? `?${query}` : ''}`;
  return {
    get server() {
      return server!;
    },
    get certs() {
      return server!.tls!;
    },
    url,
    pool(options = {}) {
      const { url: u, ...rest } = options;
      const p = new Pool(u ?? url('pgwarp_any'), { max: 2, ...rest });
      pools.push(p);
      return p;
    },
  };
}

/** Whether this session's connection is encrypted, as the server sees it. */
export async function usesTls(pool: Pool): Promise<boolean> {
  return (await pool.query<boolean>('select ssl from pg_stat_ssl where pid = pg_backend_pid()').scalar())!;
}
