import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { Pool } from '../src';
import { startPostgres } from '../src/testing';
import { findBinaries } from '../src/testing/binaries';

describe('pgwarp/testing', () => {
  it('starts a server from world-readable binaries and removes everything on stop()', async () => {
    const { bin } = findBinaries();
    // Binaries from the npm package are copied under the temp dir, so a server running as
    // another OS user can read them whatever the checkout's permissions are.
    if (!process.env.PGWARP_PG_BIN && !bin.startsWith('/usr/')) expect(bin.startsWith(os.tmpdir())).toBe(true);
    const server = await startPostgres();
    const root = path.dirname(server.socketDir);
    const pool = new Pool(server.url);
    expect(await pool.query('select 1 + 1').scalar()).toBe(2);
    await pool.close();
    await server.stop();
    expect(fs.existsSync(root)).toBe(false);
  });

  it('cleans up when the process running it is interrupted', async () => {
    const script = `
      const { startPostgres } = require(${JSON.stringify(path.resolve('dist/testing/index.js'))});
      startPostgres().then((s) => { console.log(s.socketDir); setInterval(() => {}, 1000); });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const socketDir: string = await new Promise((resolve) => child.stdout.once('data', (d) => resolve(String(d).trim())));
    const root = path.dirname(socketDir);
    expect(fs.existsSync(root)).toBe(true);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    expect(fs.existsSync(root)).toBe(false);
  });
});

describe('statement cache', () => {
  it('keeps at most statementCacheSize statements per connection', async () => {
    const { databaseUrl } = await import('./helpers');
    const pool = new Pool(databaseUrl, { max: 1, statementCacheSize: 2 });
    try {
      for (let i = 0; i < 6; i++) expect(await pool.query(`select ${i} as n`).scalar()).toBe(i);
      // The statement running this query is cached too, so at most 2 remain.
      const prepared = await pool.query<number>('select count(*)::int from pg_prepared_statements').scalar();
      expect(prepared).toBeLessThanOrEqual(2);
      expect(prepared).toBeGreaterThan(0);
    } finally {
      await pool.close();
    }
  });
});
