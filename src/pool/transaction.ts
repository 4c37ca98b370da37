/**
 * Transactions on a reserved connection: BEGIN with options, COMMIT or ROLLBACK, savepoints,
 * and opt-in retry of serialization failures and deadlocks.
 * @module
 */
import type { Bridge, Limits } from '../engine/bridge';
import type { QueryDefaults } from '../config/config';
import { errorFromResult, PgwarpError, PostgresError, RolledBackError } from '../errors/errors';
import type { QueryRunner } from '../query/query-result';
import type { ReservedConnection } from './reserved';
import type { Target } from './targets';
import { abortable, cancelOptions, newCancelKey, type CancelOptions, type CancelTarget } from '../query/abort';
import { Runner } from './runner';

/** Options of {@link Pool.transaction}. */
export interface TransactionOptions {
  isolation?: 'read committed' | 'repeatable read' | 'serializable';
  readOnly?: boolean;
  /** Only with `serializable` and `readOnly`: wait for a snapshot that cannot fail. */
  deferrable?: boolean;
  /**
   * Runs the whole callback again, up to this many extra times, when the transaction fails with
   * serialization_failure (40001) or deadlock_detected (40P01), after an exponential backoff with
   * jitter. The callback must be safe to run again. Default 0.
   */
  retries?: number;
  /**
   * Aborting it rejects the transaction at once with `signal.reason`, cancels the statement it
   * runs, and rolls it back: none of its writes stay.
   */
  signal?: AbortSignal;
  /** Milliseconds after which the transaction rejects with `QueryTimeoutError` and is rolled back. */
  timeout?: number;
  /** Which of the pool's hosts runs it (see `pool.primary`); all of it runs there. */
  target?: Target;
}

const ISOLATION: Record<string, string> = {
  'read committed': 'READ COMMITTED',
  'repeatable read': 'REPEATABLE READ',
  serializable: 'SERIALIZABLE',
};

/** SQLSTATEs after which re-running the whole transaction can succeed. */
const RETRYABLE = new Set(['40001', '40P01']);

/** The BEGIN statement for the options, refusing unknown values. */
function beginStatement(o: TransactionOptions): string {
  const parts = ['BEGIN'];
  if (o.isolation !== undefined) {
    const level = ISOLATION[o.isolation];
    if (!level) throw new PgwarpError(`isolation must be 'read committed', 'repeatable read' or 'serializable', not ${JSON.stringify(o.isolation)}`);
    parts.push(`ISOLATION LEVEL ${level}`);
  }
  if (o.readOnly !== undefined) parts.push(o.readOnly ? 'READ ONLY' : 'READ WRITE');
  if (o.deferrable !== undefined) parts.push(o.deferrable ? 'DEFERRABLE' : 'NOT DEFERRABLE');
  return parts.join(' ');
}

/** What the whole transaction knows, shared by `tx` and its savepoints. */
interface Root {
  /** The first failure since the transaction (or the savepoint last rolled back to) was healthy. */
  failure: unknown;
  /** Why the transaction was aborted (its signal or timeout): it can only roll back now. */
  aborted?: Error;
  /** COMMIT was sent: the transaction's outcome is the server's, not an abort's. */
  committing?: boolean;
  /** With a signal or a timeout: the cancel key its statements carry (see `abort.ts`). */
  key?: number;
}

/**
 * The `tx` a transaction callback gets. Queries on it run on the transaction's connection in
 * the order they were issued, awaited or not.
 */
export class Transaction extends Runner {
  private state: 'open' | 'committed' | 'rolled back' | 'released' | 'rolled back to savepoint' = 'open';
  private savepoints = 0;
  /** The savepoint open on this level, during which queries must go through it. */
  private child: string | undefined;
  /** Settles when the last savepoint opened on this level has ended. */
  private turn: Promise<void> = Promise.resolve();

  /** @internal */
  constructor(
    private readonly conn: ReservedConnection,
    protected readonly defaults: QueryDefaults,
    private readonly depth = 0,
    /** @internal */
    readonly root: Root = { failure: undefined },
  ) {
    super();
  }

  /**
   * Runs a script of many statements inside the transaction (see `Pool.exec`); a failing
   * statement fails the transaction, as any failed query does.
   */
  async exec(text: string): Promise<import('../query/script').StatementResult[]> {
    this.check();
    try {
      return await this.conn.exec(text);
    } catch (err) {
      if (err instanceof PostgresError && this.root.failure === undefined) this.root.failure = err;
      throw err;
    }
  }

  /**
   * Runs `fn` inside a savepoint: released when `fn` resolves, rolled back to when it throws
   * (the error is rethrown; the outer transaction goes on if you catch it). Nests to any depth.
   * Savepoints started together on one level run one after another, so one that resolved is
   * never undone by a sibling's rollback; while a savepoint runs, queries go through its `sp`
   * (a query on the outer `tx` is refused, since it would run inside the savepoint).
   *
   * @example
   * ```ts
   * await pool.transaction(async (tx) => {
   *   await tx.query('insert into orders values ($1)', [id]).execute();
   *   await tx.savepoint(async (sp) => {
   *     await sp.query('insert into audit values ($1)', [id]).execute();
   *   }).catch(() => {}); // the order stays even if the audit insert fails
   * });
   * ```
   */
  async savepoint<R>(fn: (tx: Transaction) => Promise<R> | R): Promise<R> {
    this.check();
    const before = this.turn;
    let done!: () => void;
    this.turn = new Promise<void>((resolve) => (done = resolve));
    try {
      await before;
      this.check();
      return await this.runSavepoint(fn);
    } finally {
      done();
    }
  }

  private async runSavepoint<R>(fn: (tx: Transaction) => Promise<R> | R): Promise<R> {
    const name = `pgwarp_sp_${this.depth + 1}_${++this.savepoints}`;
    const failureBefore = this.root.failure;
    // From here on a query on this level would run inside the savepoint: refuse it.
    this.child = name;
    try {
      await this.conn.query(`SAVEPOINT ${name}`).execute();
    } catch (err) {
      this.child = undefined;
      throw err;
    }
    const inner = new Transaction(this.conn, this.defaults, this.depth + 1, this.root);
    let result: R;
    try {
      result = await fn(inner);
    } catch (err) {
      await this.rollbackTo(name, inner, failureBefore);
      throw err;
    }
    if (this.root.failure !== failureBefore) {
      // `fn` caught a failure of its own: the savepoint cannot be released, only rolled back
      // to, and its work is gone. Say so, with that failure, rather than RELEASE's 25P02.
      const cause = this.root.failure;
      await this.rollbackTo(name, inner, failureBefore);
      throw new RolledBackError(
        `savepoint ${name} was rolled back: a statement in it failed${cause instanceof Error ? ` (${cause.message})` : ''}, even if its error was caught`,
        { cause },
      );
    }
    inner.end('released');
    this.child = undefined;
    await this.conn.query(`RELEASE SAVEPOINT ${name}`).execute();
    return result;
  }

  private async rollbackTo(name: string, inner: Transaction, failureBefore: unknown): Promise<void> {
    inner.end('rolled back to savepoint');
    this.child = undefined;
    await this.conn.query(`ROLLBACK TO SAVEPOINT ${name}`).execute();
    // Rolled back to: the failures inside no longer doom the transaction.
    this.root.failure = failureBefore;
  }

  /** @internal */
  end(state: Transaction['state']): void {
    this.state = state;
  }

  private check(): void {
    if (this.root.aborted) throw this.root.aborted;
    if (this.state !== 'open') {
      throw new PgwarpError(
        `this ${this.depth ? 'savepoint' : 'transaction'} has ended (${this.state}); queries must run inside its callback`,
      );
    }
    if (this.child !== undefined) {
      throw new PgwarpError(
        `savepoint ${this.child} is open on this ${this.depth ? 'savepoint' : 'transaction'}: run queries through the savepoint's own handle (the \`sp\` its callback gets) or await the savepoint first`,
      );
    }
  }

  /** @internal */
  get bridge(): Bridge {
    return this.conn.bridge;
  }

  /** @internal */
  run(sql: string, params: readonly unknown[] | undefined, mode: number, limits?: Limits): Promise<Buffer> {
    try {
      this.check();
    } catch (err) {
      return Promise.reject(err);
    }
    const key = this.root.key;
    // A query's own signal gives it a key of its own; the others carry the transaction's.
    if (key !== undefined && limits?.key === undefined) limits = { ...limits, key };
    return this.conn.run(sql, params, mode, limits).then((buf) => {
      // Only the server's errors fail the transaction; ours (a refused parameter, a result
      // over maxRows) leave it as it was.
      if (buf[0] !== 0 && this.root.failure === undefined) {
        const err = errorFromResult(buf, sql);
        if (err instanceof PostgresError) this.root.failure = err;
      }
      return buf;
    });
  }

  /** @internal */
  get connection(): number {
    return this.conn.connection;
  }

  /** @internal Calls with a signal or a timeout run in the transaction, on its connection. */
  async cancelTarget(): Promise<CancelTarget & { runner: QueryRunner }> {
    this.check();
    // A cancel that came too late leaves the statement's work in place, so a query given up
    // inside a transaction fails the transaction: nothing of it is committed.
    const onAbort = (err: Error) => (this.root.aborted ??= err);
    return { bridge: this.conn.bridge, conn: this.conn.connection, runner: this, done: async () => {}, onAbort };
  }

  /** @internal Through the connection, which reads the transaction status off each page. */
  override next(cursor: number): Promise<Buffer> {
    return this.conn.next(cursor);
  }
}

/**
 * @internal One attempt: BEGIN, the callback, then COMMIT (or ROLLBACK and rethrow), which
 * also gives the connection back. Resolves only if the server says the transaction committed.
 */
async function runTransaction<R>(
  conn: ReservedConnection,
  defaults: QueryDefaults,
  begin: string,
  fn: (tx: Transaction) => Promise<R> | R,
  root: Root = { failure: undefined },
): Promise<R> {
  // BEGIN is not awaited before the callback starts: it goes out in the same batch as the
  // callback's first statement, saving a round trip. Statements on the connection run in
  // issue order, so nothing can run before it; its outcome is checked before COMMIT.
  const tx = new Transaction(conn, defaults, 0, root);
  // Through `tx`, so that BEGIN carries the transaction's cancel key like its statements.
  const begun = tx.query(begin).execute();
  begun.catch(() => {});
  let result: R;
  try {
    result = await fn(tx);
    await begun;
    // Aborted between statements: nothing failed, but it must not commit.
    if (root.aborted) throw root.aborted;
  } catch (err) {
    tx.end('rolled back');
    // The connection may be gone; ending it then discards it. The callback's error matters.
    await conn.end(false).catch(() => {});
    throw err;
  }
  tx.end('committed');
  root.committing = true;
  // A failing COMMIT (a deferred constraint, a serialization failure) rolls back on the
  // server: nothing is committed, and its error is the transaction's.
  const tag = await conn.end(true);
  if (tag !== 'COMMIT') {
    throw new RolledBackError(
      `the transaction was rolled back, not committed (the server answered COMMIT with ${tag || 'nothing'}): an earlier statement in it failed${tx.root.failure instanceof Error ? ` (${tx.root.failure.message})` : ''}, even if its error was caught`,
      { cause: tx.root.failure },
    );
  }
  return result;
}

/** @internal Whether a failed attempt may be run again (also when the failure was caught and COMMIT rolled back). */
function retryable(err: unknown): boolean {
  if (err instanceof RolledBackError) return retryable(err.cause);
  return err instanceof PostgresError && RETRYABLE.has(err.code);
}

/** @internal Exponential backoff with full jitter: up to 10 ms, 20 ms, 40 ms ... 1 s. */
function backoff(attempt: number): Promise<void> {
  const cap = Math.min(1000, 10 * 2 ** (attempt - 1));
  return new Promise((r) => setTimeout(r, Math.random() * cap));
}

/**
 * `pool.transaction()`'s loop: a connection of its own per attempt, BEGIN ... COMMIT around
 * `fn` (with a signal or a timeout, given up only once it has rolled back), and the retries
 * of serialization failures and deadlocks with backoff.
 */
export async function transactionOn<R>(
  defaults: QueryDefaults,
  reserve: (cancel: CancelOptions | undefined) => Promise<ReservedConnection>,
  fn: (tx: Transaction) => Promise<R> | R,
  options: TransactionOptions,
): Promise<R> {
  const begin = beginStatement(options);
  const retries = options.retries ?? 0;
  if (!Number.isInteger(retries) || retries < 0) throw new PgwarpError(`retries must be a non-negative integer, not ${retries}`);
  const cancel = cancelOptions(options);
  const start = Date.now();
  for (let attempt = 1; ; attempt++) {
    const conn = await reserve(cancel);
    // With a signal or a timeout the transaction may be given up while it still runs:
    // its connection goes back only once it has rolled back (abortable's `done`).
    let releaseHere = true;
    try {
      if (cancel === undefined) return await runTransaction(conn, defaults, begin, fn);
      const root: Root & { key: number } = { failure: undefined, key: newCancelKey() };
      const timeout = cancel.timeout === undefined ? undefined : Math.max(0, cancel.timeout - (Date.now() - start));
      let ran = false;
      const target: CancelTarget = {
        bridge: conn.bridge,
        conn: conn.id,
        done: () => (ran ? conn.release() : Promise.resolve()),
        onAbort: (err) => {
          root.aborted = err;
          releaseHere = false;
          ran = true;
        },
        settling: () => root.committing === true,
      };
      return await abortable(target, { signal: cancel.signal, timeout }, root.key, () => runTransaction(conn, defaults, begin, fn, root));
    } catch (err) {
      if (attempt <= retries && retryable(err)) {
        // Give the connection back before sleeping (`finally` releasing again is a no-op).
        await conn.release();
        await backoff(attempt);
        continue;
      }
      if (err instanceof Error) Object.defineProperty(err, 'attempts', { value: attempt, enumerable: false, configurable: true });
      throw err;
    } finally {
      if (releaseHere) await conn.release();
    }
  }
}
