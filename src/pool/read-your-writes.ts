/**
 * Read-your-writes across a primary and its standbys, for a caller that asks for it: after
 * its writes, its reads go to a standby only once that standby has replayed them.
 * @module
 */
import type { Pool } from './pool';
import type { ReservedConnection } from './reserved';
import type { Transaction, TransactionOptions } from './transaction';

/** The WAL position just past everything written so far, read on the primary after a write. */
const POSITION_SQL = 'select pg_catalog.pg_current_wal_insert_lsn()::text as lsn';
/** On a standby: whether it has replayed `$1` (a primary always has). */
const CAUGHT_UP_SQL = 'select not pg_catalog.pg_is_in_recovery() or pg_catalog.pg_last_wal_replay_lsn() >= $1::pg_lsn as ok';

/**
 * A caller's writes and reads, where each read sees the caller's own writes: writes run on
 * the primary and remember the WAL position after them (one more round trip, on the primary);
 * a read runs on a standby that has replayed that position (checked in one round trip on the
 * connection the read then uses), else on the primary. Reads before any write go to a standby
 * unchecked. Made by {@link Pool.readYourWrites}.
 *
 * @example
 * ```ts
 * const session = pool.readYourWrites(req.cookies.lsn); // the position of an earlier request, if any
 * await session.transaction((tx) => tx.query('update users set name = $1 where id = $2', [name, id]).execute());
 * const user = await session.read((conn) => conn.query('select * from users where id = $1', [id]).one());
 * res.cookie('lsn', session.position);
 * ```
 */
export class ReadYourWrites {
  /**
   * The WAL position (`pg_lsn` text) the caller's reads must see, or undefined before any
   * write; pass it to another session (another request of the same user) to carry it on.
   */
  position: string | undefined;

  constructor(
    private readonly pool: Pool,
    position?: string,
  ) {
    this.position = position;
  }

  /** A transaction on the primary; its position is remembered once it has committed. */
  async transaction<R>(fn: (tx: Transaction) => Promise<R> | R, options: TransactionOptions = {}): Promise<R> {
    const result = await this.pool.primary.transaction(fn, options);
    await this.remember();
    return result;
  }

  /** One autocommit statement on the primary (an insert, an update); its position is remembered. */
  async execute(sql: string, params?: readonly unknown[]): Promise<void> {
    await this.pool.primary.query(sql, params).execute();
    await this.remember();
  }

  /**
   * Runs `fn` on a connection of its own that has seen this session's writes: a standby that
   * has replayed them, else the primary. The connection goes back when `fn` settles.
   */
  async read<R>(fn: (conn: ReservedConnection) => Promise<R> | R): Promise<R> {
    const position = this.position;
    let conn = await this.pool.reserve({ target: 'prefer-standby' });
    try {
      if (position !== undefined && !(await conn.query(CAUGHT_UP_SQL, [position]).scalar<boolean>())) {
        await conn.release();
        conn = await this.pool.reserve({ target: 'primary' });
      }
      return await fn(conn);
    } finally {
      await conn.release();
    }
  }

  private async remember(): Promise<void> {
    const lsn = await this.pool.primary.query(POSITION_SQL).scalar<string>();
    if (lsn !== null && (this.position === undefined || compareLsn(lsn, this.position) > 0)) this.position = lsn;
  }
}

/** Orders two `pg_lsn` texts (`X/Y`, hexadecimal halves). */
export function compareLsn(a: string, b: string): number {
  const [ah, al] = a.split('/').map((h) => parseInt(h, 16));
  const [bh, bl] = b.split('/').map((h) => parseInt(h, 16));
  return ah !== bh ? ah - bh : al - bl;
}
