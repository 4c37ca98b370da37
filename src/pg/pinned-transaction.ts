// A connection that a `pool.query('BEGIN')` left inside a transaction. pg runs each
// `pool.query()` on an idle client, the one released last first, so the queries that come
// after such a BEGIN, one at a time, run inside its transaction, and its ROLLBACK undoes
// them. The same here: while the server says this connection is in a transaction, every
// `pool.query()` that finds it idle runs on it; once it is idle, it goes back.
import type { ReservedConnection } from '../pool/reserved';
import type { normalizeQuery } from './query';
import type { Result } from './result';
import { runPgQuery, runTimed, type Target } from './run';

type PgQuery = ReturnType<typeof normalizeQuery>['query'];

/** The pool's one pinned transaction, if any. */
export class PinnedTransaction {
  private pinned: { conn: ReservedConnection; target: Target; busy: boolean } | undefined;

  /** Whether a query may run on the pinned transaction now (one is pinned and idle). */
  get ready(): boolean {
    return this.pinned !== undefined && !this.pinned.busy;
  }

  /** Pins `conn` if the server says it is in a transaction and none is pinned; false otherwise. */
  keep(conn: ReservedConnection, target: Target): boolean {
    if (this.pinned !== undefined || conn.status === 'I' || conn.status === undefined) return false;
    this.pinned = { conn, target, busy: false };
    return true;
  }

  /**
   * Runs a query inside the pinned transaction (check `ready` first). As in pg, whose pool
   * destroys a client whose query failed, a failure ends that transaction: it is rolled back
   * and the connection goes back.
   */
  async run(query: PgQuery, defaultTimeout: unknown): Promise<Result | Result[]> {
    const open = this.pinned;
    if (open === undefined) throw new Error('no transaction is pinned');
    open.busy = true;
    let failed = true;
    try {
      const ms = query.query_timeout ?? defaultTimeout;
      const res = typeof ms !== 'number' || ms <= 0 ? await runPgQuery(open.target, query) : await runTimed(open.target, query, ms, () => open.conn.cancelTarget());
      failed = false;
      return res;
    } finally {
      open.busy = false;
      if (failed || (open.conn.status !== 'T' && open.conn.status !== 'E')) {
        this.pinned = undefined;
        await open.conn.release().catch(() => {});
      }
    }
  }

  /** Gives the pinned connection back (the engine rolls its transaction back). */
  async end(): Promise<void> {
    const open = this.pinned;
    this.pinned = undefined;
    await open?.conn.release().catch(() => {});
  }
}
