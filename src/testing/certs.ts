/**
 * Certificates for a throwaway TLS server, made at start with the `openssl` command line tool
 * (nothing is fetched, nothing outlives the server's folder).
 * @module
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Files of a test server's TLS setup, all PEM. */
export interface TestCertificates {
  /** Folder holding them. */
  dir: string;
  /** The CA that signed the server's and the clients' certificates. */
  ca: string;
  /** The server's certificate: its only name is `DNS:localhost` (so `127.0.0.1` mismatches). */
  serverCert: string;
  /** The server's key, owned by the server's OS user, mode 0600. */
  serverKey: string;
  /** A client certificate whose CN is {@link TestCertificates.clientUser}. */
  clientCert: string;
  /** Its key, unencrypted, mode 0600. */
  clientKey: string;
  /** The same key encrypted (PKCS#8, AES-256) with {@link TestCertificates.clientKeyPassword}. */
  clientKeyEncrypted: string;
  /** Passphrase of {@link TestCertificates.clientKeyEncrypted}. */
  clientKeyPassword: string;
  /** The role name the client certificate carries. */
  clientUser: string;
  /** A CA that signed nothing here, to prove an unknown issuer is refused. */
  otherCa: string;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`openssl ${args[0]} failed while making test certificates: ${stderr || String(err)}`);
  }
}

/** A P-256 key and a certificate signed by `signer` (self-signed when absent). */
function issue(dir: string, name: string, subject: string, ext: string[], signer?: string): void {
  // genpkey writes PKCS#8, which every consumer reads.
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`], dir);
  fs.writeFileSync(path.join(dir, `${name}.ext`), ext.join('\n') + '\n');
  openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`], dir);
  const sign = signer
    ? ['-CA', `${signer}.crt`, '-CAkey', `${signer}.key`, '-CAcreateserial']
    : ['-signkey', `${name}.key`];
  openssl(
    ['x509', '-req', '-in', `${name}.csr`, ...sign, '-days', '30', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`],
    dir,
  );
}

const CA_EXT = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign', 'subjectKeyIdentifier=hash'];
const LEAF_EXT = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'authorityKeyIdentifier=keyid'];

/**
 * Makes a CA, a server certificate for `localhost`, a client certificate for `clientUser`
 * and an unrelated CA in `dir`. The server's key is handed to `owner` with mode 0600, which
 * PostgreSQL requires.
 */
export function makeCertificates(dir: string, owner?: { uid: number; gid: number }, clientUser = 'certuser'): TestCertificates {
  fs.mkdirSync(dir, { recursive: true });
  issue(dir, 'ca', '/CN=pgwarp test CA', CA_EXT);
  issue(dir, 'other-ca', '/CN=pgwarp unrelated CA', CA_EXT);
  issue(dir, 'server', '/CN=pgwarp test server', [...LEAF_EXT, 'extendedKeyUsage=serverAuth', 'subjectAltName=DNS:localhost'], 'ca');
  issue(dir, 'client', `/CN=${clientUser}`, [...LEAF_EXT, 'extendedKeyUsage=clientAuth'], 'ca');
  const password = 'pgwarp-key-secret';
  openssl(
    ['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', 'client.key', '-out', 'client-encrypted.key', '-passout', `pass:${password}`],
    dir,
  );
  const file = (name: string) => path.join(dir, name);
  for (const key of ['server.key', 'client.key', 'client-encrypted.key', 'ca.key', 'other-ca.key']) fs.chmodSync(file(key), 0o600);
  fs.chmodSync(dir, 0o755);
  for (const name of fs.readdirSync(dir)) if (!name.endsWith('.key')) fs.chmodSync(file(name), 0o644);
  if (owner) fs.chownSync(file('server.key'), owner.uid, owner.gid);
  return {
    dir,
    ca: file('ca.crt'),
    serverCert: file('server.crt'),
    serverKey: file('server.key'),
    clientCert: file('client.crt'),
    clientKey: file('client.key'),
    clientKeyEncrypted: file('client-encrypted.key'),
    clientKeyPassword: password,
    clientUser,
    otherCa: file('other-ca.crt'),
  };
}
