// TLS against a real server that has it: every sslmode against roles that take TLS only,
// plaintext only or both, certificate checks, client certificates, channel binding, direct
// negotiation and node-postgres' `ssl` forms.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { ConnectionError, Pool } from '../src';
import { useTlsServer, usesTls } from './tls-server';

const tls = useTlsServer();
const certs = () => tls.certs;
const enc = encodeURIComponent;

/** The outcome of one connection: whether it used TLS, or the error's message. */
async function outcome(url: string, options = {}): Promise<boolean | string> {
  const pool = new Pool(url, { max: 1, ...options });
  try {
    return await usesTls(pool);
  } catch (e) {
    return `error: ${(e as Error).message}`;
  } finally {
    await pool.close();
  }
}

describe('sslmode, as libpq', () => {
  // true: connected over TLS; false: connected in plaintext; 'fail': refused.
  const expected: Record<string, Record<string, boolean | 'fail'>> = {
    pgwarp_tls: { disable: 'fail', allow: true, prefer: true, require: true, 'verify-ca': true, 'verify-full': true },
    pgwarp_plain: { disable: false, allow: false, prefer: false, require: 'fail', 'verify-ca': 'fail', 'verify-full': 'fail' },
    pgwarp_any: { disable: false, allow: false, prefer: true, require: true, 'verify-ca': true, 'verify-full': true },
  };
  for (const [role, modes] of Object.entries(expected)) {
    for (const [mode, want] of Object.entries(modes)) {
      it(`${mode} for a role that takes ${role.slice(7)}: ${want === 'fail' ? 'refused' : want ? 'TLS' : 'plaintext'}`, async () => {
        const root = mode.startsWith('verify') ? `&sslrootcert=${enc(certs().ca)}` : '';
        const got = await outcome(tls.url(role, `sslmode=${mode}${root}`));
        if (want === 'fail') expect(got).toMatch(/^error: /);
        else expect(got).toBe(want);
      });
    }
  }

  it('the refusals say why', async () => {
    expect(await outcome(tls.url('pgwarp_tls', 'sslmode=disable'))).toMatch(/no encryption/);
    expect(await outcome(tls.url('pgwarp_plain', 'sslmode=require'))).toMatch(/SSL encryption|pg_hba/);
  });

  it('the default is prefer: TLS when the server has it', async () => {
    expect(await outcome(tls.url('pgwarp_any'))).toBe(true);
  });

  it('Unix sockets are always plaintext, whatever sslmode says', async () => {
    const sock = encodeURIComponent(tls.server.socketDir);
    expect(await outcome(`postgres://postgres@${sock}:${tls.server.port}/postgres?sslmode=require`)).toBe(false);
  });

  it('require with a root certificate file verifies the chain, as libpq does', async () => {
    expect(await outcome(tls.url('pgwarp_any', `sslmode=require&sslrootcert=${enc(certs().ca)}`))).toBe(true);
    const wrong = await outcome(tls.url('pgwarp_any', `sslmode=require&sslrootcert=${enc(certs().otherCa)}`));
    expect(wrong).toMatch(/unknown issuer/);
    expect(wrong).toMatch(/sslmode=require/);
  });
});

describe('certificate checks', () => {
  it('verify-full refuses a certificate without the host name, and says which names it has', async () => {
    const got = await outcome(tls.url('pgwarp_any', `sslmode=verify-full&sslrootcert=${enc(certs().ca)}`, '127.0.0.1'));
    expect(got).toContain('does not name "127.0.0.1"; it names DNS:localhost');
    expect(got).toMatch(/sslmode=verify-full/);
    const pool = new Pool(tls.url('pgwarp_any', `sslmode=verify-full&sslrootcert=${enc(certs().ca)}`, '127.0.0.1'), { max: 1 });
    const err = await pool.query('select 1').scalar().catch((e) => e);
    await pool.close();
    expect(err).toBeInstanceOf(ConnectionError);
  });

  it('verify-ca accepts the same certificate: the chain is right, the name is not checked', async () => {
    expect(await outcome(tls.url('pgwarp_any', `sslmode=verify-ca&sslrootcert=${enc(certs().ca)}`, '127.0.0.1'))).toBe(true);
  });

  it('a certificate from an unrelated CA is refused as an unknown issuer', async () => {
    for (const mode of ['verify-ca', 'verify-full']) {
      const got = await outcome(tls.url('pgwarp_any', `sslmode=${mode}&sslrootcert=${enc(certs().otherCa)}`));
      expect(got).toMatch(/unknown issuer/);
      expect(got).toContain(`sslmode=${mode}`);
    }
  });

  it('sslrootcert=system reads SSL_CERT_FILE, implies verify-full and refuses weaker modes', async () => {
    const saved = process.env.SSL_CERT_FILE;
    process.env.SSL_CERT_FILE = certs().ca;
    try {
      expect(await outcome(tls.url('pgwarp_any', 'sslrootcert=system'))).toBe(true);
      expect(await outcome(tls.url('pgwarp_any', 'sslrootcert=system', '127.0.0.1'))).toMatch(/does not name/);
      expect(() => new Pool(tls.url('pgwarp_any', 'sslmode=require&sslrootcert=system'))).toThrow(/weak sslmode/);
      process.env.SSL_CERT_FILE = certs().otherCa;
      expect(await outcome(tls.url('pgwarp_any', 'sslrootcert=system'))).toMatch(/unknown issuer/);
    } finally {
      if (saved === undefined) delete process.env.SSL_CERT_FILE;
      else process.env.SSL_CERT_FILE = saved;
    }
  });
});

describe('client certificates', () => {
  // The client certificate's CN (TestCertificates.clientUser).
  const user = 'certuser';
  const certQuery = (key: string) => `sslmode=verify-full&sslrootcert=${enc(certs().ca)}&sslcert=${enc(certs().clientCert)}&sslkey=${enc(key)}`;

  it('log in by certificate, and are refused without one', async () => {
    const pool = new Pool(tls.url(user, certQuery(certs().clientKey)), { max: 1 });
    try {
      expect(await pool.query('select current_user').scalar()).toBe(user);
      expect(await pool.query<boolean>('select client_dn is not null from pg_stat_ssl where pid = pg_backend_pid()').scalar()).toBe(true);
    } finally {
      await pool.close();
    }
    expect(await outcome(tls.url(user, `sslmode=verify-full&sslrootcert=${enc(certs().ca)}`))).toMatch(/certificate/);
  });

  it('an encrypted key opens with sslpassword, and a wrong one says so', async () => {
    const q = certQuery(certs().clientKeyEncrypted);
    expect(await outcome(tls.url(user, `${q}&sslpassword=${certs().clientKeyPassword}`))).toBe(true);
    // The key is read when the pool is made, so a wrong password fails at once.
    expect(() => new Pool(tls.url(user, `${q}&sslpassword=wrong`))).toThrow(/cannot be decrypted \(wrong password\?\)/);
    expect(() => new Pool(tls.url(user, q))).toThrow(/encrypted.*sslpassword|sslpassword/);
  });

  it('a key readable by others is refused, as libpq refuses it', () => {
    const loose = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pgwarp-key-')), 'client.key');
    fs.copyFileSync(certs().clientKey, loose);
    fs.chmodSync(loose, 0o644);
    expect(() => new Pool(tls.url(user, certQuery(loose)))).toThrow(/permissions/);
  });
});

describe('channel binding', () => {
  it('channel_binding=require succeeds over TLS with SCRAM', async () => {
    expect(await outcome(tls.url('pgwarp_tls', `sslmode=verify-full&sslrootcert=${enc(certs().ca)}&channel_binding=require`))).toBe(true);
    expect(await outcome(tls.url('pgwarp_any', 'sslmode=require&channel_binding=require'))).toBe(true);
  });

  it('channel_binding=require fails without TLS, and without SCRAM', async () => {
    // prefer: the TLS attempt is refused by pg_hba, the plaintext one cannot bind.
    expect(await outcome(tls.url('pgwarp_plain', 'channel_binding=require'))).toMatch(/channel.binding/);
    // trust needs no password at all: nothing was bound.
    expect(await outcome(`postgres://postgres@localhost:${tls.server.port}/postgres?sslmode=require&channel_binding=require`)).toMatch(/channel.binding/);
    expect(() => new Pool(tls.url('pgwarp_any', 'sslmode=disable&channel_binding=require'))).toThrow(/channel_binding=require needs TLS/);
  });
});

describe('sslnegotiation=direct', () => {
  it('starts TLS without asking first (PostgreSQL 17+)', async () => {
    expect(await outcome(tls.url('pgwarp_tls', `sslmode=verify-full&sslrootcert=${enc(certs().ca)}&sslnegotiation=direct&channel_binding=require`))).toBe(true);
  });

  it('needs sslmode require or stricter', () => {
    expect(() => new Pool(tls.url('pgwarp_tls', 'sslnegotiation=direct'))).toThrow(/weak sslmode "prefer"/);
  });
});

describe('the ssl option, as node-postgres takes it', () => {
  const pem = () => fs.readFileSync(certs().ca, 'utf8');
  const base = (host = 'localhost') => `postgres://pgwarp_tls:pw-for-tests@${host}:${tls.server.port}/postgres`;

  it('ssl: true verifies against Node’s CA list (which lacks the test CA), and NODE_EXTRA_CA_CERTS adds to it', async () => {
    expect(await outcome(base(), { ssl: true })).toMatch(/unknown issuer/);
    const saved = process.env.NODE_EXTRA_CA_CERTS;
    process.env.NODE_EXTRA_CA_CERTS = certs().ca;
    try {
      expect(await outcome(base(), { ssl: true })).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
      else process.env.NODE_EXTRA_CA_CERTS = saved;
    }
  });

  it('ssl: { ca } checks chain and name; servername changes the name checked', async () => {
    expect(await outcome(base(), { ssl: { ca: pem() } })).toBe(true);
    expect(await outcome(base('127.0.0.1'), { ssl: { ca: pem() } })).toMatch(/does not name/);
    expect(await outcome(base('127.0.0.1'), { ssl: { ca: pem(), servername: 'localhost' } })).toBe(true);
    expect(await outcome(base(), { ssl: { ca: fs.readFileSync(certs().otherCa) } })).toMatch(/unknown issuer/);
  });

  it('ssl: { rejectUnauthorized: false } checks nothing, even with a CA given', async () => {
    expect(await outcome(base('127.0.0.1'), { ssl: { rejectUnauthorized: false, ca: fs.readFileSync(certs().otherCa) } })).toBe(true);
  });

  it('ssl: { cert, key, passphrase } logs in by certificate', async () => {
    const ssl = { ca: pem(), cert: fs.readFileSync(certs().clientCert), key: fs.readFileSync(certs().clientKeyEncrypted), passphrase: certs().clientKeyPassword };
    const pool = new Pool(`postgres://${certs().clientUser}@localhost:${tls.server.port}/postgres`, { max: 1, ssl });
    try {
      expect(await pool.query('select current_user').scalar()).toBe(certs().clientUser);
    } finally {
      await pool.close();
    }
  });

  it('ssl as an sslmode string, and ssl: false', async () => {
    expect(await outcome(base('127.0.0.1'), { ssl: 'require' })).toBe(true);
    expect(await outcome(base(), { ssl: false })).toMatch(/no encryption/);
    expect(await outcome(tls.url('pgwarp_any'), { ssl: false })).toBe(false);
  });

  it('sslmode given beside ssl decides the mode', async () => {
    expect(await outcome(base('127.0.0.1'), { ssl: { ca: pem() }, sslmode: 'verify-ca' })).toBe(true);
  });
});
