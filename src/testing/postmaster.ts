/**
 * One throwaway server process: started until it says it is ready, stopped, restarted, and
 * killed with its folder when the test process goes, so none outlives a failed run.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { findBinaries, serverUser } from './binaries';

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

/** How to run one server. */
export interface PostmasterOptions {
  /** The folder of the `postgres` binary. */
  bin: string;
  /** `postgres`' arguments (`-D`, `-p`, `-c` settings). */
  args: string[];
  /** The OS user to run as (when the caller is root). */
  asOwner: { uid?: number; gid?: number };
  env: NodeJS.ProcessEnv;
  /** Removed with everything in it by `remove()`. */
  root: string;
  logFile: string;
  /** Milliseconds to wait for the server to accept connections. Default 60000. */
  startTimeout?: number;
}

/** A server process. */
export interface Postmaster {
  /** Starts it; resolves once it accepts connections. */
  launch(): Promise<void>;
  /** Fast shutdown (disconnects clients, rolls back); keeps the data. */
  halt(): Promise<void>;
  /** Kills it at once and removes its folder. */
  remove(): void;
  /** Process id; changes on restart. */
  readonly pid: number | undefined;
  /** The log written since `from` bytes (at most 64 KB). */
  readLog(from?: number): string;
}

/** A server process, not started yet; it is killed and removed when the process exits. */
export function postmaster(o: PostmasterOptions): Postmaster {
  let child: ChildProcess | undefined;
  let removed = false;
  const killNow = () => {
    if (child && child.exitCode === null) child.kill('SIGQUIT');
  };
  const remove = () => {
    killNow();
    if (!removed) fs.rmSync(o.root, { recursive: true, force: true });
    removed = true;
    live.delete(remove);
  };
  live.add(remove);
  hookExit();

  const readLog = (from = 0) => {
    try {
      const size = fs.statSync(o.logFile).size;
      const len = Math.min(size - from, 64 * 1024);
      const buf = Buffer.alloc(Math.max(0, len));
      const h = fs.openSync(o.logFile, 'r');
      fs.readSync(h, buf, 0, buf.length, from);
      fs.closeSync(h);
      return buf.toString('utf8');
    } catch {
      return '';
    }
  };

  // The server logs to a file, not a pipe: a pipe nobody drains (a caller blocked in
  // spawnSync, say) fills at 64 KB and then every backend that logs blocks, holding its slot.
  const launch = () =>
    new Promise<void>((resolve, reject) => {
      const from = fs.existsSync(o.logFile) ? fs.statSync(o.logFile).size : 0;
      const fd = fs.openSync(o.logFile, 'a');
      const proc = spawn(path.join(o.bin, 'postgres'), o.args, { ...o.asOwner, env: o.env, stdio: ['ignore', 'ignore', fd] });
      fs.closeSync(fd);
      child = proc;
      const timeout = o.startTimeout ?? 60000;
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
        finish(new Error(`PostgreSQL did not start within ${timeout} ms:\n${readLog(from)}`));
      }, timeout);
      const poll = setInterval(() => {
        if (readLog(from).includes('ready to accept')) finish();
      }, 20);
      const onExit = (code: number | null) => finish(new Error(`PostgreSQL exited with code ${code} before it was ready:\n${readLog(from)}`));
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

  return {
    launch,
    halt,
    remove,
    readLog,
    get pid() {
      return child?.pid;
    },
  };
}

/** A TCP port nothing listens on now. */
export function freePort(): Promise<number> {
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

/** A test server's settings: loopback only, its own socket folder, durability off for speed. */
export function testSettings(socketDir: string): Record<string, string | number> {
  return {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: socketDir,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: 200,
  };
}

/** `postgres`' arguments for a data folder, a port and settings. */
export function serverArgs(data: string, port: number, settings: Record<string, string | number>): string[] {
  const args = ['-D', data, '-p', String(port)];
  for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
  return args;
}

/** What every running server offers, over its process. */
export interface Controls {
  readonly pid: number | undefined;
  halt(): Promise<void>;
  start(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** `fields` with `server`'s controls: `pid` (live), `halt`, `start`, `restart`, `stop` (which removes its files). */
export function withControls<T extends object>(server: Postmaster, fields: T): T & Controls {
  const controls = {
    halt: server.halt,
    start: server.launch,
    async restart() {
      await server.halt();
      await server.launch();
    },
    async stop() {
      await server.halt();
      server.remove();
    },
  };
  return Object.defineProperty({ ...fields, ...controls }, 'pid', { get: () => server.pid, enumerable: true }) as T & Controls;
}

/** A server process started; on failure its folder is removed and the error thrown. */
export async function startPostmaster(o: PostmasterOptions): Promise<Postmaster> {
  const server = postmaster(o);
  try {
    await server.launch();
  } catch (err) {
    server.remove();
    throw err;
  }
  return server;
}

/** Where a new server lives: binaries, OS user, and a temp folder with a socket folder, owned by that user. */
export function serverHome(prefix: string) {
  const { bin, source } = findBinaries();
  const owner = serverUser();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const socketDir = path.join(root, 'socket');
  fs.mkdirSync(socketDir);
  if (owner) {
    fs.chownSync(root, owner.uid, owner.gid);
    fs.chownSync(socketDir, owner.uid, owner.gid);
  }
  const asOwner = owner ? { uid: owner.uid, gid: owner.gid } : {};
  const env = { ...process.env, LC_ALL: 'C', LANG: 'C' };
  return { bin, source, owner, asOwner, env, root, data: path.join(root, 'data'), socketDir };
}
