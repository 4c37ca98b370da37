/**
 * A throwaway PostgreSQL server for tests, demos and benchmarks.
 *
 * @example
 * ```ts
 * import { startPostgres } from 'pgwarp/testing';
 * import { Pool } from 'pgwarp';
 *
 * const server = await startPostgres();
 * const pool = new Pool(server.url);
 * console.log(await pool.query('select version()').scalar());
 * await pool.close();
 * await server.stop();
 * ```
 * @module
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { makeCertificates, type TestCertificates } from './certs';
import { freePort, serverArgs, serverHome, startPostmaster, testSettings, withControls } from './postmaster';

export { startStandby, type StandbyServer } from './standby';
export { findPgBouncer, startPgBouncer, type PgBouncer, type PgBouncerOptions } from './pgbouncer';

export type { TestCertificates } from './certs';

/**
 * The pg_hba lines `tls: true` puts first, for roles the tests create: `pgwarp_tls` only over
 * TLS, `pgwarp_plain` only without it, `pgwarp_any` either way (all three with SCRAM
 * passwords), and the client certificate's user by certificate only.
 */
export function tlsHba(clientUser = 'certuser'): string[] {
  const lines: string[] = [];
  for (const net of ['127.0.0.1/32', '::1/128']) {
    lines.push(
      `hostssl all pgwarp_tls ${net} scram-sha-256`,
      `hostnossl all pgwarp_tls ${net} reject`,
      `hostssl all pgwarp_plain ${net} reject`,
      `hostnossl all pgwarp_plain ${net} scram-sha-256`,
      `host all pgwarp_any ${net} scram-sha-256`,
      `hostssl all ${clientUser} ${net} cert`,
      `hostnossl all ${clientUser} ${net} reject`,
    );
  }
  return lines;
}

/** Options of {@link startPostgres}. */
export interface StartOptions {
  /** TCP port; a free one by default. */
  port?: number;
  /** Lines put first in `pg_hba.conf` (first match wins; everything else is `trust`). */
  hba?: string[];
  /** Extra server settings (`postgresql.conf` names). */
  settings?: Record<string, string | number>;
  /** Milliseconds to wait for the server to accept connections. Default 60000. */
  startTimeout?: number;
  /**
   * Serve TLS too: makes a CA, a server certificate for `localhost` and a client
   * certificate at start (see {@link TestCertificates}), sets `ssl = on`, trusts the CA for
   * client certificates, and puts {@link tlsHba}'s lines after `hba`'s.
   */
  tls?: boolean;
}

/** A running throwaway server. */
export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  url: string;
  host: string;
  port: number;
  /** Directory of the server's Unix socket. */
  socketDir: string;
  /** The server's log (its stderr), kept until `stop()`. */
  logFile: string;
  /** The data directory (owned by the server's OS user). */
  dataDir: string;
  user: string;
  database: string;
  /** Where the binaries came from. */
  binaries: string;
  /** The certificate files, when started with `tls: true`. */
  tls?: TestCertificates;
  /** Process id of the postmaster (e.g. to pin it to a CPU); changes on restart. */
  readonly pid: number | undefined;
  /** Stops the server, keeping its data, and starts it again on the same port. */
  restart(): Promise<void>;
  /** Stops the server without removing its data; {@link PostgresServer.start} brings it back. */
  halt(): Promise<void>;
  /** Starts a halted server again. */
  start(): Promise<void>;
  /** Stops the server and removes its files. */
  stop(): Promise<void>;
}

/**
 * Starts a PostgreSQL server in a temp folder on a free port, as the `postgres` OS user when
 * running as root. It is removed by `stop()`, and also when the process exits or is
 * interrupted.
 */
export async function startPostgres(options: StartOptions = {}): Promise<PostgresServer> {
  const { bin, source, owner, asOwner, env, root, data, socketDir } = serverHome('pgwarp-server-');

  const init = spawnSync(
    path.join(bin, 'initdb'),
    ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync'],
    { ...asOwner, env, encoding: 'utf8' },
  );
  if (init.status !== 0) {
    fs.rmSync(root, { recursive: true, force: true });
    throw new Error(`initdb failed (${source}): ${init.error?.message ?? ''}${init.stderr ?? ''}`);
  }
  const tls = options.tls ? makeCertificates(path.join(root, 'tls'), owner) : undefined;
  const hba = [...(options.hba ?? []), ...(tls ? tlsHba(tls.clientUser) : [])];
  if (hba.length) {
    const hbaFile = path.join(data, 'pg_hba.conf');
    fs.writeFileSync(hbaFile, hba.join('\n') + '\n' + fs.readFileSync(hbaFile, 'utf8'));
  }

  const port = options.port ?? (await freePort());
  const args = serverArgs(data, port, {
    ...testSettings(socketDir),
    ...(tls ? { ssl: 'on', ssl_cert_file: tls.serverCert, ssl_key_file: tls.serverKey, ssl_ca_file: tls.ca } : {}),
    ...options.settings,
  });

  const logFile = path.join(root, 'server.log');
  const server = await startPostmaster({ bin, args, asOwner, env, root, logFile, startTimeout: options.startTimeout });

  const running = withControls(server, {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    host: '127.0.0.1',
    port,
    socketDir,
    logFile,
    user: 'postgres',
    database: 'postgres',
    binaries: source,
    tls,
    dataDir: data,
  });
  return running;
}
