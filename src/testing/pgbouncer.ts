/**
 * A throwaway PgBouncer in front of a throwaway server, for tests of pooler mode: the
 * `pgbouncer` binary from the system (Debian's package: `apt-get install -y pgbouncer`), or
 * `PGWARP_PGBOUNCER`, run as the server's OS user, on a free port.
 *
 * @example
 * ```ts
 * import { startPostgres, startPgBouncer } from 'pgwarp/testing';
 *
 * const server = await startPostgres();
 * const bouncer = await startPgBouncer(server, { poolMode: 'transaction', poolSize: 2 });
 * const pool = new Pool(bouncer.url, { prepare: false });
 * ```
 * @module
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { serverUser } from './binaries';
import type { PostgresServer } from './index';
import { freePort } from './postmaster';

/** Options of {@link startPgBouncer}. */
export interface PgBouncerOptions {
  /** PgBouncer's `pool_mode`. Default `'transaction'`. */
  poolMode?: 'session' | 'transaction' | 'statement';
  /** Server connections per database and user (`default_pool_size`). Default 2. */
  poolSize?: number;
  /** Extra `[pgbouncer]` settings. */
  settings?: Record<string, string | number>;
}

/** A running PgBouncer. */
export interface PgBouncer {
  /** `postgres://<user>@127.0.0.1:<port>/<database>` through PgBouncer. */
  url: string;
  port: number;
  /** PgBouncer's version line (`PgBouncer 1.18.0`). */
  version: string;
  /** The admin console's URL (database `pgbouncer`), for `SHOW POOLS` and the like. */
  adminUrl: string;
  /** Stops it and removes its files. */
  stop(): Promise<void>;
}

/** The `pgbouncer` binary: `PGWARP_PGBOUNCER`, else the system's; `undefined` when there is none. */
export function findPgBouncer(): string | undefined {
  const override = process.env.PGWARP_PGBOUNCER;
  if (override) return override;
  for (const dir of ['/usr/sbin', '/usr/local/sbin', '/usr/bin', '/usr/local/bin', ...(process.env.PATH ?? '').split(':')]) {
    const file = path.join(dir, 'pgbouncer');
    if (dir && fs.existsSync(file)) return file;
  }
  return undefined;
}

/** Starts PgBouncer in front of `server` (trust authentication, its user and database). */
export async function startPgBouncer(server: PostgresServer, options: PgBouncerOptions = {}): Promise<PgBouncer> {
  const bin = findPgBouncer();
  if (bin === undefined) throw new Error('no pgbouncer binary: install it (Debian: apt-get install -y pgbouncer) or set PGWARP_PGBOUNCER');
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '';
  const owner = serverUser();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pgwarp-bouncer-'));
  const port = await freePort();
  const settings: Record<string, string | number> = {
    listen_addr: '127.0.0.1',
    listen_port: port,
    unix_socket_dir: root,
    auth_type: 'trust',
    auth_file: path.join(root, 'userlist.txt'),
    pool_mode: options.poolMode ?? 'transaction',
    default_pool_size: options.poolSize ?? 2,
    max_client_conn: 500,
    admin_users: server.user,
    logfile: path.join(root, 'pgbouncer.log'),
    pidfile: path.join(root, 'pgbouncer.pid'),
    ...options.settings,
  };
  const ini = [
    '[databases]',
    `${server.database} = host=${server.host} port=${server.port} dbname=${server.database}`,
    '[pgbouncer]',
    ...Object.entries(settings).map(([k, v]) => `${k} = ${v}`),
    '',
  ].join('\n');
  fs.writeFileSync(path.join(root, 'pgbouncer.ini'), ini);
  fs.writeFileSync(path.join(root, 'userlist.txt'), `"${server.user}" ""\n`);
  if (owner) for (const f of ['', 'pgbouncer.ini', 'userlist.txt']) fs.chownSync(path.join(root, f), owner.uid, owner.gid);

  const child: ChildProcess = spawn(bin, [path.join(root, 'pgbouncer.ini')], {
    ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
    stdio: 'ignore',
  });
  const remove = () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    fs.rmSync(root, { recursive: true, force: true });
  };
  process.once('exit', remove);
  const log = () => {
    try {
      return fs.readFileSync(path.join(root, 'pgbouncer.log'), 'utf8').slice(-4000);
    } catch {
      return '';
    }
  };
  // Ready once it accepts a TCP connection.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) {
      const why = log();
      remove();
      throw new Error(`pgbouncer exited with code ${child.exitCode}:\n${why}`);
    }
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) {
      const why = log();
      remove();
      throw new Error(`pgbouncer did not listen within 10 s:\n${why}`);
    }
    await new Promise((r) => setTimeout(r, 30));
  }
  child.unref();

  return {
    url: `postgres://${server.user}@127.0.0.1:${port}/${server.database}`,
    port,
    version,
    adminUrl: `postgres://${server.user}@127.0.0.1:${port}/pgbouncer`,
    async stop() {
      if (child.exitCode === null) {
        await new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.ref();
          child.kill('SIGINT');
        });
      }
      process.removeListener('exit', remove);
      remove();
    },
  };
}
