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
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { findBinaries, serverUser } from './binaries';
import { makeCertificates, type TestCertificates } from './certs';

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

const live = new Set<() => void>();
let hooked = false;

/** Kills every server still running when the process goes, so none outlives a failed run. */
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  const cleanAll = () => {
    for (const clean of [...live]) clean();
  };
  process.on('exit', cleanAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      cleanAll();
      process.kill(process.pid, signal);
    });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts a PostgreSQL server in a temp folder on a free port, as the `postgres` OS user when
 * running as root. It is removed by `stop()`, and also when the process exits or is
 * interrupted.
 */
export async function startPostgres(options: StartOptions = {}): Promise<PostgresServer> {
  const { bin, source } = findBinaries();
  const owner = serverUser();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pgwarp-server-'));
  const data = path.join(root, 'data');
  const socketDir = path.join(root, 'socket');
  fs.mkdirSync(socketDir);
  if (owner) {
    fs.chownSync(root, owner.uid, owner.gid);
    fs.chownSync(socketDir, owner.uid, owner.gid);
  }
  const asOwner = owner ? { uid: owner.uid, gid: owner.gid } : {};
  const env = { ...process.env, LC_ALL: 'C', LANG: 'C' };

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
  const settings: Record<string, string | number> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: socketDir,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: 200,
    ...(tls ? { ssl: 'on', ssl_cert_file: tls.serverCert, ssl_key_file: tls.serverKey, ssl_ca_file: tls.ca } : {}),
    ...options.settings,
  };
  const args = ['-D', data, '-p', String(port)];
  for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);

  let child: ChildProcess | undefined;
  let removed = false;
  const killNow = () => {
    if (child && child.exitCode === null) child.kill('SIGQUIT');
  };
  const removeNow = () => {
    killNow();
    if (!removed) fs.rmSync(root, { recursive: true, force: true });
    removed = true;
    live.delete(removeNow);
  };
  live.add(removeNow);
  hookExit();

  // The server logs to a file, not a pipe: a pipe nobody drains (a caller blocked in
  // spawnSync, say) fills at 64 KB and then every backend that logs blocks, holding its slot.
  const logFile = path.join(root, 'server.log');
  const launch = () =>
    new Promise<void>((resolve, reject) => {
      const from = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
      const fd = fs.openSync(logFile, 'a');
      const proc = spawn(path.join(bin, 'postgres'), args, { ...asOwner, env, stdio: ['ignore', 'ignore', fd] });
      fs.closeSync(fd);
      child = proc;
      const readLog = () => {
        try {
          const size = fs.statSync(logFile).size;
          const len = Math.min(size - from, 64 * 1024);
          const buf = Buffer.alloc(Math.max(0, len));
          const h = fs.openSync(logFile, 'r');
          fs.readSync(h, buf, 0, buf.length, from);
          fs.closeSync(h);
          return buf.toString('utf8');
        } catch {
          return '';
        }
      };
      const finish = (err?: Error) => {
        clearTimeout(timer);
        clearInterval(poll);
        proc.removeListener('exit', onExit);
        if (err) return reject(err);
        // A running server must not keep the caller's event loop alive.
        proc.unref();
        resolve();
      };
      const timer = setTimeout(() => {
        proc.kill('SIGQUIT');
        finish(new Error(`PostgreSQL did not start within ${options.startTimeout ?? 60000} ms:\n${readLog()}`));
      }, options.startTimeout ?? 60000);
      const poll = setInterval(() => {
        if (readLog().includes('ready to accept connections')) finish();
      }, 20);
      const onExit = (code: number | null) => finish(new Error(`PostgreSQL exited with code ${code} before it was ready:\n${readLog()}`));
      proc.on('error', (err) => finish(err));
      proc.on('exit', onExit);
    });

  const halt = () =>
    new Promise<void>((resolve) => {
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.ref(); // keep the process alive until the server has gone
      proc.kill('SIGINT'); // fast shutdown: disconnects clients, rolls back
    });

  try {
    await launch();
  } catch (err) {
    removeNow();
    throw err;
  }

  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    host: '127.0.0.1',
    port,
    socketDir,
    logFile,
    user: 'postgres',
    database: 'postgres',
    binaries: source,
    tls,
    get pid() {
      return child?.pid;
    },
    halt,
    start: launch,
    async restart() {
      await halt();
      await launch();
    },
    async stop() {
      await halt();
      removeNow();
    },
  };
}
