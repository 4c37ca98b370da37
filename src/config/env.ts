/**
 * libpq's environment variables, turned into connection keys that sit below the URL and the
 * options (libpq's order: environment, then connection string, then what the caller sets).
 * @module
 */
import * as os from 'node:os';
import * as path from 'node:path';

const VARIABLES: readonly [string, string][] = [
  ['PGHOST', 'host'],
  ['PGPORT', 'port'],
  ['PGUSER', 'user'],
  ['PGPASSWORD', 'password'],
  ['PGDATABASE', 'dbname'],
  ['PGAPPNAME', 'application_name'],
  ['PGCONNECT_TIMEOUT', 'connect_timeout'],
  ['PGOPTIONS', 'options'],
  ['PGSSLMODE', 'sslmode'],
  ['PGSSLROOTCERT', 'sslrootcert'],
  ['PGSSLCERT', 'sslcert'],
  ['PGSSLKEY', 'sslkey'],
  ['PGSSLNEGOTIATION', 'sslnegotiation'],
  ['PGCHANNELBINDING', 'channel_binding'],
  ['PGTARGETSESSIONATTRS', 'target_session_attrs'],
  ['PGLOADBALANCEHOSTS', 'load_balance_hosts'],
  ['PGPASSFILE', 'passfile'],
];

/** libpq's default password file: `~/.pgpass`, or `%APPDATA%\postgresql\pgpass.conf` on Windows. */
function defaultPassfile(env: NodeJS.ProcessEnv): string {
  if (process.platform === 'win32' && env.APPDATA) return path.join(env.APPDATA, 'postgresql', 'pgpass.conf');
  return path.join(env.HOME ?? os.homedir(), '.pgpass');
}

/** The environment's connection keys, with libpq's defaults for the user and the password file. */
export function envDefaults(env: NodeJS.ProcessEnv): string[][] {
  const out: string[][] = [];
  for (const [name, key] of VARIABLES) {
    const value = env[name];
    if (value !== undefined && value !== '') out.push([key, value]);
  }
  if (!env.PGUSER) out.push(['user', os.userInfo().username]);
  if (!env.PGPASSFILE) out.push(['passfile', defaultPassfile(env)]);
  return out;
}
