/**
 * node-postgres' `ssl` option, read with node's meanings and turned into libpq's settings.
 * @module
 */
import * as fs from 'node:fs';
import * as tls from 'node:tls';

import { PgwarpError } from '../errors/errors';

/** `ssl: { ... }` as node-postgres (and node's `tls.connect`) take it. */
export interface SslOptions {
  /** Root certificates to trust (PEM), instead of Node's list. */
  ca?: string | Buffer | (string | Buffer)[];
  /** The client certificate (PEM), for certificate authentication. */
  cert?: string | Buffer;
  /** The client certificate's private key (PEM). */
  key?: string | Buffer;
  /** The key's password, when it is encrypted. */
  passphrase?: string;
  /** `false` accepts any server certificate (libpq's `sslmode=require`). Default true. */
  rejectUnauthorized?: boolean;
  /** The name to check the certificate against, instead of the host. */
  servername?: string;
}

/** `ssl`: `true` (verify against Node's CA list), an sslmode, or node's options. */
export type SslOption = boolean | 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full' | SslOptions;

/** What the engine takes from an `ssl` option. */
export interface SslSettings {
  sslMode?: string;
  sslRootCertPem?: string;
  sslCertPem?: string;
  sslKeyPem?: string;
  sslPassword?: string;
  sslServername?: string;
}

/** A PEM given as a string or a Buffer; anything else is refused, naming the option. */
function pem(name: string, v: unknown): string {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  throw new PgwarpError(`ssl.${name} must be a PEM string or a Buffer, not ${v === null ? 'null' : typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`}`);
}

function text(name: string, v: unknown): string {
  if (typeof v === 'string') return v;
  throw new PgwarpError(`ssl.${name} must be a string, not ${typeof v}`);
}

/** Node's trust: its bundled roots plus `NODE_EXTRA_CA_CERTS`, as `tls.connect` would use. */
function nodeRoots(env: NodeJS.ProcessEnv): string {
  const roots = [...tls.rootCertificates];
  if (env.NODE_EXTRA_CA_CERTS) {
    try {
      roots.push(fs.readFileSync(env.NODE_EXTRA_CA_CERTS, 'utf8'));
    } catch (e) {
      throw new PgwarpError(`NODE_EXTRA_CA_CERTS (${env.NODE_EXTRA_CA_CERTS}) cannot be read: ${(e as Error).message}`);
    }
  }
  return roots.join('\n');
}

/** The settings for `ssl`; `{}` when it is not given. */
export function sslSettings(ssl: SslOption | undefined, env: NodeJS.ProcessEnv): SslSettings {
  if (ssl === undefined) return {};
  if (ssl === false) return { sslMode: 'disable' };
  if (ssl === true) return { sslMode: 'verify-full', sslRootCertPem: nodeRoots(env) };
  if (typeof ssl === 'string') return { sslMode: ssl };
  if (typeof ssl !== 'object' || ssl === null) throw new PgwarpError(`ssl must be true, false, an sslmode or an options object, not ${String(ssl)}`);
  const out: SslSettings = {};
  if (ssl.rejectUnauthorized !== undefined && typeof ssl.rejectUnauthorized !== 'boolean') {
    throw new PgwarpError(`ssl.rejectUnauthorized must be true or false, not ${JSON.stringify(ssl.rejectUnauthorized)}`);
  }
  if (ssl.rejectUnauthorized === false) {
    // node: no check at all, even with a CA given.
    out.sslMode = 'require';
  } else {
    out.sslMode = 'verify-full';
    out.sslRootCertPem = ssl.ca === undefined ? nodeRoots(env) : (Array.isArray(ssl.ca) ? ssl.ca : [ssl.ca]).map((c: unknown) => pem('ca', c)).join('\n');
  }
  if (ssl.cert !== undefined) out.sslCertPem = pem('cert', ssl.cert);
  if (ssl.key !== undefined) out.sslKeyPem = pem('key', ssl.key);
  if (ssl.passphrase !== undefined) out.sslPassword = text('passphrase', ssl.passphrase);
  if (ssl.servername !== undefined) out.sslServername = text('servername', ssl.servername);
  return out;
}
