/**
 * The channels node-postgres' pull request #3650 publishes (not merged yet), with its names
 * and context shapes, so that subscribers written for pg work on `pgwarp/pg` unchanged:
 * `pg:query`, `pg:connection` and `pg:pool:connect` (TracingChannels), `pg:pool:release` and
 * `pg:pool:remove`. As there, nothing is built unless somebody subscribes, and statement
 * parameters are not given.
 * @module
 */
import { channel, tracingChannel } from 'node:diagnostics_channel';

/** Who a Client is, as pg's contexts name it. */
export interface PgClientInfo {
  database: string | undefined;
  host: string;
  port: number;
  user: string | undefined;
  processID?: number | null;
  ssl: boolean;
}

export const pgQuery = tracingChannel<unknown, object>('pg:query');
export const pgConnection = tracingChannel<unknown, object>('pg:connection');
export const pgPoolConnect = tracingChannel<unknown, object>('pg:pool:connect');
export const pgPoolRelease = channel('pg:pool:release');
export const pgPoolRemove = channel('pg:pool:remove');

/**
 * Runs a query inside `pg:query`: `{ query: { text, name }, client }`; the result (pg's
 * Result, with `rowCount` and `command`) or the error lands on the context. Callers check
 * `pgQuery.hasSubscribers` first, so an untraced query makes no closures for it.
 */
export function tracePgQuery<R>(query: { text: string; name?: string }, client: () => PgClientInfo, run: () => Promise<R>): Promise<R> {
  return pgQuery.tracePromise(run, { query: { text: query.text, name: query.name }, client: client() });
}
