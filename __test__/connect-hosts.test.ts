// Where a connection goes and how it logs in: several hosts, target_session_attrs,
// load_balance_hosts, the password file and a password function, against real servers.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ConnectionError, Pool } from '../src';
import { startPostgres, type PostgresServer } from '../src/testing';
import { closedPort, databaseUrl, socketDir } from './helpers';

const main = new URL(databaseUrl);
const mainPort = Number(main.port);
const ownServer = socketDir !== null;
// A second server that takes no writes, as a hot standby or a read replica would.
let readOnly: PostgresServer;
// Sessions that write to it have to say so.
const writable = { max: 1, options: '-c default_transaction_read_only=off' };
beforeAll(async () => {
  readOnly = await startPostgres({ settings: { default_transaction_read_only: 'on' }, hba: ['host all pw_user 127.0.0.1/32 scram-sha-256'] });
  const admin = new Pool(readOnly.url, writable);
  await admin.query(`create role pw_user login password 'secret-pw'`).execute();
  await admin.close();
});
afterAll(() => readOnly?.stop());

async function serverPort(pool: Pool): Promise<number> {
  return (await pool.query<number>('select inet_server_port()').scalar())!;
}

describe('several hosts', () => {
  it('tries them in order: the first is down, the second answers (URL and options)', async () => {
    const down = await closedPort();
    const fromUrl = new Pool(`postgres://postgres@127.0.0.1:${down},127.0.0.1:${mainPort}/postgres`, { max: 1 });
    const fromOptions = new Pool({ host: ['127.0.0.1', '127.0.0.1'], port: [down, mainPort], user: 'postgres', database: 'postgres', max: 1 });
    try {
      expect(await serverPort(fromUrl)).toBe(mainPort);
      expect(await serverPort(fromOptions)).toBe(mainPort);
    } finally {
      await Promise.all([fromUrl.close(), fromOptions.close()]);
    }
  });

  it('all down: the error names the last failure', async () => {
    const [a, b] = [await closedPort(), await closedPort()];
    const pool = new Pool(`postgres://postgres@127.0.0.1:${a},127.0.0.1:${b}/postgres`, { max: 1, acquireTimeout: 5000 });
    const err = (await pool.query('select 1').scalar().catch((e: unknown) => e)) as ConnectionError;
    await pool.close();
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.code).toBe('ECONNREFUSED');
  });

  it('target_session_attrs=read-write skips a read-only server; read-only picks it', async () => {
    const hosts = `127.0.0.1:${readOnly.port},127.0.0.1:${mainPort}`;
    const rw = new Pool(`postgres://postgres@${hosts}/postgres?target_session_attrs=read-write`, { max: 1 });
    const ro = new Pool(`postgres://postgres@127.0.0.1:${mainPort},127.0.0.1:${readOnly.port}/postgres`, { max: 1, targetSessionAttrs: 'read-only' });
    try {
      expect(await serverPort(rw)).toBe(mainPort);
      expect(await rw.query('show transaction_read_only').scalar()).toBe('off');
      expect(await serverPort(ro)).toBe(readOnly.port);
    } finally {
      await Promise.all([rw.close(), ro.close()]);
    }
  });

  it('no server fits: the error says which were tried', async () => {
    const pool = new Pool(`postgres://postgres@127.0.0.1:${readOnly.port}/postgres?target_session_attrs=read-write`, { max: 1 });
    const err = (await pool.query('select 1').scalar().catch((e: unknown) => e)) as ConnectionError;
    await pool.close();
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.message).toContain('target_session_attrs');
    expect(err.message).toContain(`127.0.0.1:${readOnly.port}`);
    // Neither server is in recovery: standby has nothing, prefer-standby takes the first.
    const standby = new Pool(`postgres://postgres@127.0.0.1:${mainPort}/postgres?target_session_attrs=standby`, { max: 1 });
    expect(await standby.query('select 1').scalar().catch((e) => e.message)).toMatch(/target_session_attrs/);
    await standby.close();
    const prefer = new Pool(`postgres://postgres@127.0.0.1:${readOnly.port},127.0.0.1:${mainPort}/postgres?target_session_attrs=prefer-standby`, { max: 1 });
    expect(await serverPort(prefer)).toBe(readOnly.port);
    await prefer.close();
  });

  it('load_balance_hosts=random spreads new connections over the hosts', async () => {
    const seen = new Set<number>();
    for (let i = 0; i < 24 && seen.size < 2; i++) {
      const pool = new Pool(`postgres://postgres@127.0.0.1:${readOnly.port},127.0.0.1:${mainPort}/postgres?load_balance_hosts=random`, { max: 1 });
      seen.add(await serverPort(pool));
      await pool.close();
    }
    // Both, in 24 tries, unless the order is not random (chance of a false failure: 2^-23).
    expect([...seen].sort()).toEqual([mainPort, readOnly.port].sort());
  });
});

describe('passwords', () => {
  const url0 = (): string => `postgres://pw_user@127.0.0.1:${readOnly.port}/postgres`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgwarp-pass-'));
  const passfile = (name: string, lines: string[], mode = 0o600) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, lines.join('\n') + '\n', { mode });
    fs.chmodSync(file, mode);
    return file;
  };

  it('the password file is read as libpq reads it: first matching line, * and escapes', async () => {
    const file = passfile('pgpass', [
      '# comment',
      `127.0.0.1:${readOnly.port}:otherdb:pw_user:wrong`,
      `127.0.0.1:${readOnly.port}:*:pw_user:secret-pw`,
      '*:*:*:*:also-wrong',
    ]);
    const pool = new Pool(url0(), { passfile: file, max: 1 });
    try {
      expect(await pool.query('select current_user').scalar()).toBe('pw_user');
    } finally {
      await pool.close();
    }
    const escaped = passfile('escaped', ['*:*:*:pw_user:secret\\:with\\\\colon']);
    const setPw = new Pool(readOnly.url, writable);
    await setPw.query(`alter role pw_user password 'secret:with\\colon'`).execute();
    try {
      const p2 = new Pool(`${url0()}?passfile=${encodeURIComponent(escaped)}`, { max: 1 });
      expect(await p2.query('select 1').scalar()).toBe(1);
      await p2.close();
    } finally {
      await setPw.query(`alter role pw_user password 'secret-pw'`).execute();
      await setPw.close();
    }
  });

  it('PGPASSFILE is the default file; one readable by others is refused with its mode', async () => {
    const saved = process.env.PGPASSFILE;
    try {
      process.env.PGPASSFILE = passfile('env-pgpass', ['*:*:*:pw_user:secret-pw']);
      const pool = new Pool(url0(), { max: 1 });
      expect(await pool.query('select 1').scalar()).toBe(1);
      await pool.close();
      process.env.PGPASSFILE = passfile('loose', ['*:*:*:pw_user:secret-pw'], 0o644);
      const loose = new Pool(url0(), { max: 1 });
      const err = (await loose.query('select 1').scalar().catch((e: unknown) => e)) as ConnectionError;
      await loose.close();
      expect(err).toBeInstanceOf(ConnectionError);
      expect(err.message).toMatch(/group or world access .*0600/);
    } finally {
      if (saved === undefined) delete process.env.PGPASSFILE;
      else process.env.PGPASSFILE = saved;
    }
  });

  it('a password function is called for each new connection, sync or async', async () => {
    let calls = 0;
    const pool = new Pool(url0(), {
      max: 2,
      password: async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 5));
        return 'secret-pw';
      },
    });
    try {
      // Two at once need two connections.
      const held = await Promise.all([pool.reserve(), pool.reserve()]);
      await Promise.all(held.map((c) => c.query('select 1').execute()));
      await Promise.all(held.map((c) => c.release()));
      expect(calls).toBe(2);
      expect(await pool.query('select 1').scalar()).toBe(1);
      expect(calls).toBe(2);
    } finally {
      await pool.close();
    }
    const sync = new Pool(url0(), { max: 1, password: () => 'secret-pw' });
    expect(await sync.query('select current_user').scalar()).toBe('pw_user');
    await sync.close();
  });

  it('a password function that fails is the connect error, and the pool goes on', async () => {
    let fail = true;
    const pool = new Pool(url0(), {
      max: 1,
      password: () => {
        if (fail) throw new Error('token service down');
        return 'secret-pw';
      },
    });
    try {
      const err = (await pool.query('select 1').scalar().catch((e: unknown) => e)) as ConnectionError;
      expect(err).toBeInstanceOf(ConnectionError);
      expect(err.message).toContain('token service down');
      fail = false;
      expect(await pool.query('select 1').scalar()).toBe(1);
      const wrong = new Pool(url0(), { max: 1, password: async () => 'not-it' });
      const e2 = (await wrong.query('select 1').scalar().catch((e: unknown) => e)) as ConnectionError;
      await wrong.close();
      expect(e2.message).toMatch(/password authentication failed/);
    } finally {
      await pool.close();
    }
  });
});

describe.runIf(ownServer)('keepalive settings', () => {
  it('keepalives_idle is taken as a URL key and as an option', async () => {
    const a = new Pool(`${databaseUrl}?keepalives_idle=30&keepalives_interval=5&keepalives_count=3`, { max: 1 });
    const b = new Pool(databaseUrl, { max: 1, keepAliveIdle: 30_000 });
    try {
      expect(await a.query('select 1').scalar()).toBe(1);
      expect(await b.query('select 1').scalar()).toBe(1);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    expect(() => new Pool(`${databaseUrl}?keepalives_idle=soon`)).toThrow(/keepalives_idle/);
  });
});
