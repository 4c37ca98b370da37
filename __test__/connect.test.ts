import { execFileSync, spawnSync } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { ConnectionError, Pool, PoolClosedError, PostgresError } from '../src';
import { resolveOptions } from '../src/config/config';
import { closedPort, databaseUrl, newPool, socketDir } from './helpers';

const url = new URL(databaseUrl);
const port = Number(url.port);
const ownServer = socketDir !== null;

describe('settings', () => {
  it('no argument uses DATABASE_URL, then the PG* variables', () => {
    expect(resolveOptions(undefined, undefined, { DATABASE_URL: 'postgres://a@h/db' }).url).toBe('postgres://a@h/db');
    const fromEnv = resolveOptions(undefined, undefined, {
      PGHOST: '/run/pg',
      PGPORT: '6000',
      PGUSER: 'u',
      PGPASSWORD: 'p',
      PGDATABASE: 'd',
    });
    // The environment lies under everything else; the engine merges it as libpq does.
    expect(fromEnv.defaults).toEqual(
      expect.arrayContaining([
        ['host', '/run/pg'],
        ['port', '6000'],
        ['user', 'u'],
        ['password', 'p'],
        ['dbname', 'd'],
      ]),
    );
    expect(fromEnv.url).toBeUndefined();
    expect(fromEnv.host).toBeUndefined();
    const tlsEnv = resolveOptions(undefined, undefined, { PGSSLMODE: 'verify-full', PGSSLROOTCERT: '/ca.pem', PGCHANNELBINDING: 'require', PGTARGETSESSIONATTRS: 'read-write', PGPASSFILE: '/pw' });
    expect(tlsEnv.defaults).toEqual(
      expect.arrayContaining([
        ['sslmode', 'verify-full'],
        ['sslrootcert', '/ca.pem'],
        ['channel_binding', 'require'],
        ['target_session_attrs', 'read-write'],
        ['passfile', '/pw'],
      ]),
    );
  });

  it('options override the URL and fill what it lacks from the environment', () => {
    const r = resolveOptions('postgres://h:5/db', { max: 3, applicationName: 'x' }, { PGUSER: 'envuser', PGPASSWORD: 'envpw' });
    expect(r).toMatchObject({ url: 'postgres://h:5/db', max: 3, applicationName: 'x' });
    expect(r.defaults).toEqual(expect.arrayContaining([['user', 'envuser'], ['password', 'envpw']]));
    expect(resolveOptions({ host: 'h2', user: 'u' }, undefined, { DATABASE_URL: 'postgres://x@y/z' }).url).toBeUndefined();
  });

  it('the PG* variables reach the server when nothing else says', async () => {
    const saved = { ...process.env };
    try {
      process.env.PGHOST = url.hostname;
      process.env.PGPORT = String(port);
      process.env.PGUSER = decodeURIComponent(url.username);
      process.env.PGDATABASE = url.pathname.slice(1);
      process.env.PGAPPNAME = 'from-env';
      process.env.PGOPTIONS = '-c work_mem=3MB';
      delete process.env.DATABASE_URL;
      const p = new Pool();
      try {
        expect(await p.query('select current_setting($1) as a, current_setting($2) as w', ['application_name', 'work_mem']).one()).toEqual({ a: 'from-env', w: '3MB' });
      } finally {
        await p.close();
      }
    } finally {
      process.env = saved;
    }
  });

  it('URL query parameters and percent-encoding reach the server', async () => {
    const u = `postgresql://${url.username}@${url.host}/${url.pathname.slice(1)}?application_name=my%20app&options=-c%20search_path%3Dpg_catalog&connect_timeout=5`;
    const pool = newPool();
    const p = new Pool(u);
    try {
      expect(await p.query('select current_setting($1) as v', ['application_name']).scalar()).toBe('my app');
      expect(await p.query('show search_path').scalar()).toBe('pg_catalog');
    } finally {
      await p.close();
    }
    expect(await pool.query('select 1').scalar()).toBe(1);
  });

  it('applicationName, statementTimeout and options apply to every connection', async () => {
    const pool = newPool({ applicationName: 'pgwarp-test', statementTimeout: 50, lockTimeout: 1234, idleInTransactionSessionTimeout: 60000, options: '-c work_mem=5MB' });
    expect(await pool.query('show application_name').scalar()).toBe('pgwarp-test');
    expect(await pool.query('show lock_timeout').scalar()).toBe('1234ms');
    expect(await pool.query('show idle_in_transaction_session_timeout').scalar()).toBe('1min');
    expect(await pool.query('show work_mem').scalar()).toBe('5MB');
    const err = await pool.query('select pg_sleep(1)').all().catch((e) => e);
    expect(err).toBeInstanceOf(PostgresError);
    expect(err.code).toBe('57014');
    expect(await pool.query('select 1').scalar()).toBe(1);
  });

  it('host and port given as options replace the URL’s', async () => {
    const p = new Pool(`postgres://${url.username}@no-such-host.invalid:1,other.invalid:2/${url.pathname.slice(1)}`, { host: url.hostname, port });
    try {
      expect(await p.query('select 1 as one').scalar()).toBe(1);
    } finally {
      await p.close();
    }
  });

  it('timeouts past 2^32 - 1 ms are kept, not wrapped; fractions and negatives are refused', async () => {
    // 2^32 + 50 ms wrapped to 50 ms before: the second caller would time out almost at once.
    const p = new Pool(databaseUrl, { max: 1, acquireTimeout: 2 ** 32 + 50 });
    try {
      const held = await p.reserve();
      await held.query('select 1').execute();
      // The second reservation's first statement waits for the connection.
      const second = await p.reserve();
      const first = second.query('select 1 as n').scalar();
      const outcome = await Promise.race([first.then(() => 'got one', (e: Error) => e.message), new Promise((r) => setTimeout(() => r('still waiting'), 400))]);
      expect(outcome).toBe('still waiting');
      await held.release();
      expect(await first).toBe(1);
      await second.release();
    } finally {
      await p.close();
    }
    expect(() => new Pool(databaseUrl, { idleTimeout: 1.5 })).toThrow(/idleTimeout must be a non-negative integer/);
    expect(() => new Pool(databaseUrl, { max: 2 ** 32 + 1 })).toThrow(/max must be a non-negative integer up to 4294967295/);
    expect(() => new Pool(databaseUrl, { maxLifetime: 2 ** 53 })).toThrow(/maxLifetime must be/);
  });

  it('refuses bad settings with a clear error', () => {
    expect(() => new Pool('mysql://x@y/z')).toThrow(/postgres:\/\/ or postgresql:\/\//);
    expect(() => new Pool('postgres://x@y/z?sslmode=bogus')).toThrow(/sslmode/);
    expect(() => new Pool('postgres://x@y/z?sslmode=require&sslrootcert=system')).toThrow(/weak sslmode/);
    expect(() => new Pool('postgres://x@y/z?channel_binding=sometimes')).toThrow(/channel_binding/);
    expect(() => new Pool('postgres://x@y/z?target_session_attrs=mostly')).toThrow(/target_session_attrs/);
    expect(() => new Pool({ port: 70000 })).toThrow(/port/);
    expect(() => new Pool({ max: -1 })).toThrow(/max must be a non-negative integer/);
    expect(() => new Pool({ int8: 'float' as never })).toThrow(/int8 must be/);
  });
});

describe.runIf(ownServer)('authentication and sockets', () => {
  const pool = newPool();
  const setup = (async () => {
    // One connection of its own: the password_encryption setting is per session.
    await using admin = await pool.reserve();
    await admin.query(`set password_encryption = 'md5'`).execute();
    for (const role of ['pw_plain', 'pw_md5', 'pw_scram']) {
      await admin.query(`drop role if exists ${role}`).execute();
    }
    await admin.query(`create role pw_md5 login password 'md5 secret'`).execute();
    await admin.query(`set password_encryption = 'scram-sha-256'`).execute();
    await admin.query(`create role pw_plain login password 'plain secret'`).execute();
    await admin.query(`create role pw_scram login password 'scram s€cret'`).execute();
  })();

  for (const [role, password] of [
    ['pw_plain', 'plain secret'],
    ['pw_md5', 'md5 secret'],
    ['pw_scram', 'scram s€cret'],
  ]) {
    it(`logs in with ${role.slice(3)} passwords`, async () => {
      await setup;
      const p = new Pool(`postgres://${role}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`);
      try {
        expect(await p.query('select current_user').scalar()).toBe(role);
      } finally {
        await p.close();
      }
      const bad = new Pool({ host: '127.0.0.1', port, user: role, password: 'wrong', database: 'postgres' });
      const err = await bad.query('select 1').all().catch((e) => e);
      expect(err).toBeInstanceOf(ConnectionError);
      expect(err.code).toBe('EAUTH');
      expect(err.cause).toBeInstanceOf(PostgresError);
      expect(err.cause.code).toBe('28P01');
      await bad.close();
    });
  }

  it('connects over a Unix socket', async () => {
    const p = new Pool({ host: socketDir!, port, user: 'postgres', database: 'postgres' });
    try {
      expect(await p.query('select inet_client_addr()').scalar()).toBeNull();
    } finally {
      await p.close();
    }
    const viaUrl = new Pool(`postgres://postgres@${encodeURIComponent(socketDir!)}:${port}/postgres`);
    expect(await viaUrl.query('select 1').scalar()).toBe(1);
    await viaUrl.close();
  });
});

describe('ConnectionError', () => {
  it('refused', async () => {
    const p = new Pool({ host: '127.0.0.1', port: await closedPort(), user: 'x', database: 'x' });
    const err = await p.query('select 1').all().catch((e) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.cause).toBeInstanceOf(Error);
    await p.close();
  });

  it('unknown host', async () => {
    const p = new Pool({ host: 'no-such-host.invalid', user: 'x', database: 'x', connectTimeout: 5000 });
    const err = await p.query('select 1').all().catch((e) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.message).toMatch(/could not connect/);
    await p.close();
  });

  it('a server that never answers times out with connectTimeout', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s)).listen(0, '127.0.0.1');
    await new Promise((r) => silent.once('listening', r));
    const p = new Pool({ host: '127.0.0.1', port: (silent.address() as net.AddressInfo).port, user: 'x', connectTimeout: 300 });
    const err = await p.query('select 1').all().catch((e) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.code).toBe('ETIMEDOUT');
    await p.close();
    sockets.forEach((s) => s.destroy());
    silent.close();
  });

  it('unknown database', async () => {
    const p = new Pool(`postgres://postgres@127.0.0.1:${port}/no_such_db`);
    const err = await p.query('select 1').all().catch((e) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.cause.code).toBe('3D000');
    await p.close();
  });
});

describe('close', () => {
  it('waits for in-flight queries and refuses new ones', async () => {
    const p = new Pool(databaseUrl);
    const running = p.query('select pg_sleep(0.2), 1 as done').one();
    await new Promise((r) => setTimeout(r, 20));
    await p.close();
    expect(await running).toMatchObject({ done: 1 });
    await expect(p.query('select 1').all()).rejects.toBeInstanceOf(PoolClosedError);
  });

  it('lets the process exit on its own', () => {
    const script = `
      const { Pool } = require(${JSON.stringify(path.resolve('dist/index.js'))});
      const pool = new Pool(${JSON.stringify(databaseUrl)});
      pool.query('select 1 as a').one().then(async (r) => { console.log(JSON.stringify(r)); await pool.close(); });`;
    const r = spawnSync(process.execPath, ['-e', script], { timeout: 20_000, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('{"a":1}');
    expect(r.status).toBe(0);
  });
});

describe('package', () => {
  it('loads with require and import, with types', () => {
    const root = path.resolve('.');
    const cjs = execFileSync(process.execPath, ['-e', "console.log(typeof require('pgwarp').Pool)"], { cwd: root }).toString();
    expect(cjs.trim()).toBe('function');
    const esm = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', "import { Pool, PostgresError } from 'pgwarp'; import { startPostgres } from 'pgwarp/testing'; console.log(typeof Pool, typeof PostgresError, typeof startPostgres)"],
      { cwd: root },
    ).toString();
    expect(esm.trim()).toBe('function function function');
  });
});
