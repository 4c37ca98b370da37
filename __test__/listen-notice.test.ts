// LISTEN/NOTIFY and notices against a real server of this file's own (it is restarted here).
import { spawn } from 'node:child_process';
import * as path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Pool, type Notice } from '../src';
import { startPostgres, type PostgresServer } from '../src/testing';

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(() => server?.stop());

/** Resolves once `check()` holds, polling; rejects after `ms`. */
async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('notices', () => {
  it('RAISE NOTICE and WARNING reach onNotice with their fields', async () => {
    const notices: Notice[] = [];
    const pool = new Pool(server.url, { max: 1, onNotice: (n) => notices.push(n) });
    try {
      await pool.query(`do $$ begin raise notice 'hello %', 42 using detail = 'the detail', hint = 'the hint'; end $$`).execute();
      await pool.query(`do $$ begin raise warning 'careful' using errcode = '01000'; end $$`).execute();
      await until(() => notices.length === 2);
      expect(notices[0]).toMatchObject({ severity: 'NOTICE', code: '00000', message: 'hello 42', detail: 'the detail', hint: 'the hint' });
      expect(notices[0].where).toMatch(/PL\/pgSQL/);
      expect(notices[1]).toMatchObject({ severity: 'WARNING', code: '01000', message: 'careful' });
    } finally {
      await pool.close();
    }
  });

  it('without onNotice they are dropped, and a throwing handler hurts nothing', async () => {
    const quiet = new Pool(server.url, { max: 1 });
    const throwing = new Pool(server.url, {
      max: 1,
      onNotice: () => {
        throw new Error('handler bug');
      },
    });
    try {
      for (const p of [quiet, throwing]) {
        await p.query(`do $$ begin raise notice 'x'; end $$`).execute();
        expect(await p.query('select 1').scalar()).toBe(1);
      }
    } finally {
      await Promise.all([quiet.close(), throwing.close()]);
    }
  });
});

describe('LISTEN/NOTIFY', () => {
  it('receives from pool.notify and from another client; quotes the channel; unlisten stops delivery', async () => {
    const pool = new Pool(server.url, { max: 2 });
    const other = new Pool(server.url, { max: 1 });
    const got: [string, string][] = [];
    const channel = 'Jobs "v2" queue';
    try {
      let listens = 0;
      const sub = await pool.listen(channel, (payload, info) => got.push([info.channel, payload]), { onListen: () => listens++ });
      // A second callback on the same channel, which throws: the first still gets everything.
      const bad = await pool.listen(channel, () => {
        throw new Error('listener bug');
      });
      expect(listens).toBe(1);
      await pool.notify(channel, 'one');
      await other.query('select pg_notify($1, $2)', [channel, 'two']).execute();
      await until(() => got.length === 2);
      expect(got).toEqual([
        [channel, 'one'],
        [channel, 'two'],
      ]);
      await bad.unlisten();
      await sub.unlisten();
      await other.notify(channel, 'three');
      await new Promise((r) => setTimeout(r, 300));
      expect(got.length).toBe(2);
      // The listening connection went back: nothing is reserved any more.
      expect(pool.stats().connections.reserved).toBe(0);
    } finally {
      await Promise.all([pool.close(), other.close()]);
    }
  });

  it('keeps receiving after pg_terminate_backend and after a server restart; onListen runs each time', async () => {
    const pool = new Pool(server.url, { max: 2 });
    const got: string[] = [];
    let listens = 0;
    try {
      await pool.listen('events', (p) => got.push(p), { onListen: () => listens++ });
      const admin = new Pool(server.url, { max: 1 });
      await admin.notify('events', 'before');
      await until(() => got.includes('before'));

      await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where pid <> pg_backend_pid() and query ilike 'listen%'`).execute();
      await until(() => listens === 2);
      await admin.notify('events', 'after terminate');
      await until(() => got.includes('after terminate'));
      await admin.close();

      await server.restart();
      await until(() => listens === 3, 20_000);
      const again = new Pool(server.url, { max: 1 });
      await again.notify('events', 'after restart');
      await until(() => got.includes('after restart'));
      await again.close();
    } finally {
      await pool.close();
    }
  }, 60_000);

  it('an active listener keeps the process alive; unlisten lets it exit', async () => {
    // The child listens, gets one notification (sent below), then unlistens and has nothing
    // left: it must exit on its own (without close()). Before that, only the listener keeps it up.
    const script = `
      const { Pool } = require(${JSON.stringify(path.resolve('dist/index.js'))});
      const pool = new Pool(${JSON.stringify(server.url)}, { max: 1 });
      let sub;
      pool.listen('wake', async (payload) => {
        console.log('got ' + payload);
        await sub.unlisten();
      }).then((s) => { sub = s; console.log('listening'); });
    `;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await until(() => out.includes('listening'));
    // Alive with nothing in flight, only listening.
    await new Promise((r) => setTimeout(r, 700));
    expect(child.exitCode).toBeNull();
    const pool = new Pool(server.url, { max: 1 });
    await pool.notify('wake', 'now');
    await pool.close();
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 5000))]);
    if (code === 'still running') child.kill();
    expect(code).toBe(0);
    expect(out).toContain('got now');
  });

  it('a failing onListen rejects and leaves nothing subscribed; a second caller shares the first one’s LISTEN', async () => {
    const pool = new Pool(server.url, { max: 2 });
    try {
      await expect(pool.listen('c1', () => {}, { onListen: () => Promise.reject(new Error('catch-up failed')) })).rejects.toThrow('catch-up failed');
      await new Promise((r) => setTimeout(r, 100));
      expect(pool.stats().connections.reserved).toBe(0);
      const got: string[] = [];
      const [a, b] = await Promise.all([pool.listen('c2', (p) => got.push(`a:${p}`)), pool.listen('c2', (p) => got.push(`b:${p}`))]);
      await pool.notify('c2', 'x');
      await until(() => got.length === 2);
      expect(got.sort()).toEqual(['a:x', 'b:x']);
      await Promise.all([a.unlisten(), b.unlisten()]);
    } finally {
      await pool.close();
    }
  });

  it('a channel must be a non-empty string', async () => {
    const pool = new Pool(server.url, { max: 1 });
    try {
      await expect(pool.listen('', () => {})).rejects.toThrow(/channel name/);
      await expect(pool.notify('')).rejects.toThrow(/channel name/);
    } finally {
      await pool.close();
    }
  });
});
