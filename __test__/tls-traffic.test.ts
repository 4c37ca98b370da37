// Traffic over TLS: the cancel a stream's break sends goes over TLS too, and many pipelined
// queries, large and small, come back right.
import * as fs from 'node:fs';
import * as net from 'node:net';

import { afterAll, describe, expect, it } from 'vitest';

import { Pool } from '../src';
import { PASSWORD, useTlsServer } from './tls-server';

const tls = useTlsServer();

/** How a connection through the relay began. */
type Opening = 'SSLRequest' | 'CancelRequest' | 'startup' | 'direct TLS';

/** A TCP relay to the server that records how each connection began (the rest is encrypted). */
async function relay(): Promise<{ port: number; openings: Opening[]; close(): Promise<void> }> {
  const openings: Opening[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(tls.server.port, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.once('data', (first) => {
      const code = first.length >= 8 ? first.readUInt32BE(4) : 0;
      openings.push(first[0] === 0x16 ? 'direct TLS' : code === 80877103 ? 'SSLRequest' : code === 80877102 ? 'CancelRequest' : 'startup');
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    openings,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const relays: { close(): Promise<void> }[] = [];
afterAll(() => Promise.all(relays.map((r) => r.close())));

describe('cancel over TLS', () => {
  for (const negotiation of ['postgres', 'direct'] as const) {
    it(`a stream left with break cancels its query over TLS (sslnegotiation=${negotiation})`, async () => {
      const r = await relay();
      relays.push(r);
      const pool = new Pool(`postgres://pgwarp_tls:${PASSWORD}@127.0.0.1:${r.port}/postgres?sslmode=require&sslnegotiation=${negotiation}`, {
        max: 1,
        applicationName: `cancel-${negotiation}`,
      });
      try {
        let n = 0;
        for await (const _ of pool.query('select generate_series(1, 100000000) as g').stream({ batchSize: 100 })) {
          if (++n === 10) break;
        }
        expect(await pool.query('select 1').scalar()).toBe(1);
        const active = await pool.query<number>(
          `select count(*)::int from pg_stat_activity where application_name = $1 and query like '%generate_series%' and state = 'active' and pid <> pg_backend_pid()`,
          [`cancel-${negotiation}`],
        ).scalar();
        expect(active).toBe(0);
        // The session and the cancel each opened a connection, and each began with TLS.
        const tlsOpening = negotiation === 'direct' ? 'direct TLS' : 'SSLRequest';
        expect(r.openings.length).toBeGreaterThanOrEqual(2);
        expect(r.openings.every((o) => o === tlsOpening)).toBe(true);
      } finally {
        await pool.close();
      }
    });
  }
});

describe('pipelined over TLS', () => {
  it('1,000 queries at once, small and large, each get their own result', async () => {
    const pool = tls.pool({ url: tls.url('pgwarp_tls', 'sslmode=require'), max: 2 });
    const sizes = Array.from({ length: 1000 }, (_, i) => (i % 50 === 0 ? 70_000 + i : i % 7));
    const results = await Promise.all(
      sizes.map((size, i) => pool.query<{ i: number; s: string }>('select $1::int as i, repeat(chr(65 + $1::int % 26), $2::int) as s', [i, size]).one()),
    );
    results.forEach((row, i) => {
      expect(row.i).toBe(i);
      expect(row.s).toBe(String.fromCharCode(65 + (i % 26)).repeat(sizes[i]));
    });
    expect(await pool.query<boolean>('select ssl from pg_stat_ssl where pid = pg_backend_pid()').scalar()).toBe(true);
  });
});

describe('closing', () => {
  it('close() says goodbye: Terminate and a TLS close, so the server logs no lost connection', async () => {
    const before = fs.readFileSync(tls.server.logFile, 'utf8').length;
    for (const mode of ['disable', 'require']) {
      for (let i = 0; i < 5; i++) {
        const pool = new Pool(tls.url('pgwarp_any', `sslmode=${mode}`), { max: 2 });
        await Promise.all([pool.query('select 1').scalar(), pool.query('select 2').scalar()]);
        await pool.close();
      }
    }
    // The server logs a client that vanished as it notices, which is at once here.
    await new Promise((r) => setTimeout(r, 200));
    const log = fs.readFileSync(tls.server.logFile, 'utf8').slice(before);
    expect(log).not.toMatch(/could not receive data from client|unexpected EOF|connection reset/i);
  });
});
