// A primary and a streaming standby started by the harness (pg_basebackup where the binaries
// have it, else a cold copy), host choice by target_session_attrs, and a promotion.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Pool } from '../src';
import { startPostgres, startStandby, type PostgresServer, type StandbyServer } from '../src/testing';

let primary: PostgresServer;
let standby: StandbyServer;
const pools: Pool[] = [];

/** A pool over both servers, primary first, wanting `target`. */
function poolFor(target: string, hosts = [primary, standby]): Pool {
  const list = hosts.map((s) => `127.0.0.1:${s.port}`).join(',');
  const pool = new Pool(`postgres://postgres@${list}/postgres?target_session_attrs=${target}&sslmode=disable`, { max: 2, connectTimeout: 5000 });
  pools.push(pool);
  return pool;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 15000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  primary = await startPostgres();
  standby = await startStandby(primary);
}, 120_000);

afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
  await standby?.stop();
  await primary?.stop();
});

describe('a primary and a streaming standby from the test harness', () => {
  it('the standby replays what the primary writes, and target_session_attrs picks each', async () => {
    const writer = poolFor('read-write');
    const reader = poolFor('standby');
    expect(await writer.query('select pg_is_in_recovery() as r').scalar()).toBe(false);
    expect(await reader.query('select pg_is_in_recovery() as r').scalar()).toBe(true);
    expect(await poolFor('prefer-standby').query('select pg_is_in_recovery()').scalar()).toBe(true);
    expect(await poolFor('primary', [standby, primary]).query('select pg_is_in_recovery()').scalar()).toBe(false);
    await writer.query('create table replicated (id int primary key, v text)').execute();
    await writer.query('insert into replicated values (1, $1)', ['from the primary']).execute();
    expect(await until('replay', () => reader.query('select v from replicated where id = 1').scalar<string>().then((v) => v ?? undefined))).toBe('from the primary');
    await expect(reader.query('insert into replicated values (2, $1)', ['x']).execute()).rejects.toMatchObject({ code: '25006' });
  });

  it('a promoted standby takes writes; a pool made afterwards finds it as the primary', async () => {
    await primary.halt();
    try {
      await standby.promote();
      const pool = poolFor('read-write');
      expect(await pool.query('select pg_is_in_recovery()').scalar()).toBe(false);
      await pool.query('insert into replicated values (3, $1)', ['after the promotion']).execute();
      expect(await pool.query('select count(*)::int from replicated').scalar()).toBe(2);
    } finally {
      await primary.start().catch(() => {});
    }
  });

  it('a server demoted to read-only by a reload is left: its connections retire, writes go to the host that fits', async () => {
    const a = await startPostgres();
    const b = await startPostgres();
    try {
      for (const s of [a, b]) {
        const direct = new Pool(s.url, { max: 1 });
        await direct.query('create table demoted (id serial primary key, port int not null)').execute();
        await direct.close();
      }
      const pool = poolFor('read-write', [a, b]);
      const write = () => pool.query('insert into demoted (port) values (inet_server_port()) returning port').scalar<number>();
      expect(await write()).toBe(a.port);
      const admin = new Pool(a.url, { max: 1 });
      try {
        await admin.exec('alter system set default_transaction_read_only = on');
        await admin.query('select pg_reload_conf()').execute();
      } finally {
        await admin.close();
      }
      // The server tells every session with its next answer (ParameterStatus); a write that
      // reached it first fails there (25006), and is not retried behind the caller's back.
      const failures: unknown[] = [];
      const landed = await until('a write on the other host', async () => {
        try {
          const port = await write();
          return port === b.port ? port : undefined;
        } catch (err) {
          failures.push(err);
          return undefined;
        }
      }, 10_000);
      expect(landed).toBe(b.port);
      for (const err of failures) expect(err).toMatchObject({ code: '25006' });
      expect(failures.length).toBeLessThanOrEqual(2);
      // And it stays there.
      for (let i = 0; i < 5; i++) expect(await write()).toBe(b.port);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
