/**
 * pg's `defaults`: what a Client or Pool uses where its config is silent (after the `PG*`
 * environment, which pgwarp reads as libpq does).
 * @module
 */
import { registry as types } from './types';

const int8Text = types.getTypeParser(20, 'text');
const int8ArrayText = types.getTypeParser(1016, 'text');

/** pg's defaults object; `parseInt8 = true` makes int8 (and int8[]) parse as numbers, globally. */
export const defaults = {
  host: 'localhost',
  user: process.platform === 'win32' ? process.env.USERNAME : process.env.USER,
  database: undefined as string | undefined,
  password: null as string | null,
  connectionString: undefined as string | undefined,
  port: 5432,
  rows: 0,
  binary: false,
  max: 10,
  idleTimeoutMillis: 30000,
  client_encoding: '',
  ssl: false as unknown,
  application_name: undefined as string | undefined,
  fallback_application_name: undefined as string | undefined,
  options: undefined as string | undefined,
  parseInputDatesAsUTC: false,
  statement_timeout: false as number | false,
  lock_timeout: false as number | false,
  idle_in_transaction_session_timeout: false as number | false,
  query_timeout: false as number | false,
  connect_timeout: 0,
  keepalives: 1,
  keepalives_idle: 0,
  /** Write-only, as in pg. */
  set parseInt8(on: boolean) {
    types.setTypeParser(20, 'text', on ? types.getTypeParser(23, 'text') : int8Text);
    types.setTypeParser(1016, 'text', on ? types.getTypeParser(1007, 'text') : int8ArrayText);
  },
};
