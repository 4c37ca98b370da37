// The node-postgres API under test: pgwarp's drop-in (`pgwarp/pg`), or node-postgres itself
// with PGWARP_PG_DRIVER=pg, to check that a test asserts what pg really does.
import { createRequire } from 'node:module';

import { afterAll } from 'vitest';

import { databaseUrl } from './helpers';

// (The tests are type-checked as CommonJS, where `import.meta` does not exist; vitest gives them `__filename`.)
const require = createRequire(__filename);
const real = process.env.PGWARP_PG_DRIVER === 'pg';

/** `pg`'s module object. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const pg: typeof import('pg') = real ? require('pg') : require('pgwarp/pg');
/** `pg-cursor`'s class. */
export const Cursor: typeof import('pg-cursor') = real ? require('pg-cursor') : require('pgwarp/pg-cursor');
/** `pg-query-stream`'s class. */
export const QueryStream: typeof import('pg-query-stream') = real ? require('pg-query-stream') : require('pgwarp/pg-query-stream');
/** Which driver runs, for the few places where the two may differ on purpose. */
export const driverName = real ? 'pg' : 'pgwarp/pg';

type PgClient = InstanceType<typeof pg.Client>;
const opened: PgClient[] = [];

/** Ends `client` after the file's tests. */
export function track(client: PgClient): PgClient {
  opened.push(client);
  return client;
}

/** A Client of the API under test, ended after the file's tests; not connected yet. */
export function newClient(config: ConstructorParameters<typeof pg.Client>[0] = databaseUrl): PgClient {
  return track(new pg.Client(config));
}

/** A connected Client of the API under test, ended after the file's tests. */
export async function connect(config: ConstructorParameters<typeof pg.Client>[0] = databaseUrl): Promise<PgClient> {
  const client = newClient(config);
  await client.connect();
  return client;
}

afterAll(async () => {
  await Promise.all(opened.map((c) => c.end().catch(() => {})));
});
