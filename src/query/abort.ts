/**
 * Per-call cancellation: `signal` (an AbortSignal) and `timeout` (ms) on queries,
 * reservations and transactions.
 *
 * A cancel is a CancelRequest, which stops whatever its session runs at that moment. Each
 * abortable call has a cancel key that its statements carry to the engine, which keeps the
 * rule (`crates/pgwarp-core/src/wire/cancel.rs`): statements of a key share the wire with no
 * other key, a cancel names its key, and nothing more is sent on the connection until the
 * cancel is spent, whoever holds it by then. A pool query with a signal or a timeout runs on
 * a connection reserved for it (it does not pipeline with others: for a blanket limit, the
 * pool's `statementTimeout` costs nothing).
 * @module
 */
import type { Bridge } from '../engine/bridge';
import { PgwarpError, QueryTimeoutError } from '../errors/errors';

/** Options for cancelling one call. */
export interface CancelOptions {
  /** Aborting it rejects the call at once (with `signal.reason`) and stops the statement on the server. */
  signal?: AbortSignal;
  /** Milliseconds after which the call rejects with `QueryTimeoutError` and the statement is stopped. */
  timeout?: number;
}

/** Where an abortable call runs, and what to do when it is over. */
export interface CancelTarget {
  bridge: Bridge;
  /** The reserved connection the statements run on. */
  conn: number;
  /** Called once the call's work has settled (a pool query releases its connection). */
  done(): Promise<void>;
  /** Called when the signal or the timeout comes first (a transaction marks itself aborted). */
  onAbort?(err: Error): void;
  /** True once the work can no longer be given up (a transaction's COMMIT was sent). */
  settling?(): boolean;
}

/** The error an abort rejects with: the signal's reason when it is an Error, else an AbortError. */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const err = new PgwarpError(reason === undefined ? 'the operation was aborted' : `the operation was aborted: ${String(reason)}`);
  err.name = 'AbortError';
  return err;
}

let lastKey = 0;

/** A new cancel key (never 0, which means "none"): what an abortable call's statements carry. */
export function newCancelKey(): number {
  lastKey = lastKey >= 0xffffffff ? 1 : lastKey + 1;
  return lastKey;
}

/** Checks the options; `undefined` when they ask for nothing. */
export function cancelOptions(o: CancelOptions | undefined): CancelOptions | undefined {
  if (o === undefined || (o.signal === undefined && o.timeout === undefined)) return undefined;
  if (o.signal !== undefined && (typeof o.signal !== 'object' || typeof o.signal.aborted !== 'boolean')) {
    throw new PgwarpError('signal must be an AbortSignal');
  }
  if (o.timeout !== undefined && (!Number.isInteger(o.timeout) || o.timeout < 0 || o.timeout > 2 ** 31 - 1)) {
    throw new PgwarpError(`timeout must be a whole number of milliseconds from 0 to 2147483647, not ${o.timeout}`);
  }
  return { signal: o.signal, timeout: o.timeout };
}

/**
 * Calls `fire` once, when the signal aborts or the timeout passes (with the abort's error, or
 * a `QueryTimeoutError` with `late` as its message); the function it returns disarms both.
 */
export function arm(o: CancelOptions, late: string, fire: (err: Error) => void): () => void {
  let armed = true;
  const disarm = () => {
    armed = false;
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
  };
  const once = (err: Error) => {
    if (!armed) return;
    disarm();
    fire(err);
  };
  const onAbort = () => once(abortError(o.signal!));
  const timer = o.timeout === undefined ? undefined : setTimeout(() => once(new QueryTimeoutError(late)), o.timeout);
  // Work in flight keeps the process alive by itself; a timer for a stream nobody reads must not.
  timer?.unref?.();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  return disarm;
}

/**
 * Waits for `before` (a reservation, say) unless the signal or the timeout comes first; what
 * `before` gives after that is handed to `discard`.
 */
export function beforeSend<T>(before: Promise<T>, o: CancelOptions, discard: (value: T) => void): Promise<T> {
  if (o.signal?.aborted) {
    before.then(discard, () => {});
    return Promise.reject(abortError(o.signal));
  }
  return new Promise<T>((resolve, reject) => {
    let givenUp = false;
    const disarm = arm(o, `no connection within the call's timeout of ${o.timeout} ms`, (err) => {
      givenUp = true;
      reject(err);
    });
    before.then(
      (value) => {
        if (givenUp) return discard(value);
        disarm();
        resolve(value);
      },
      (err) => {
        disarm();
        reject(err);
      },
    );
  });
}

/**
 * Runs `work` on `target`; if the signal or the timeout comes first, rejects at once and
 * cancels the statements of `key` on the server, then calls `target.done()` once the work has
 * settled and the cancel is spent. `work` gets a check that says whether the call is still
 * wanted, to test before it sends anything; its statements must carry `key`.
 */
export function abortable<R>(target: CancelTarget, o: CancelOptions, key: number, work: (wanted: () => boolean) => Promise<R>): Promise<R> {
  if (o.signal?.aborted) {
    // Nothing was sent yet, and nothing will be.
    void target.done();
    return Promise.reject(abortError(o.signal));
  }
  let settled = false;
  let cancelled: Promise<void> = Promise.resolve();
  const running = work(() => !settled);
  const finished = running.then(
    () => undefined,
    () => undefined,
  );
  return new Promise<R>((resolve, reject) => {
    const stop = (err: Error) => {
      settled = true;
      target.onAbort?.(err);
      reject(err);
      cancelled = interrupt(target, key);
    };
    const disarm = arm(o, `the query took longer than its timeout of ${o.timeout} ms and was cancelled`, (err) => {
      // Past the point of no return (a COMMIT sent): its outcome is the call's.
      if (!settled && !target.settling?.()) stop(err);
    });
    running.then(
      (value) => {
        if (settled) return;
        settled = true;
        disarm();
        resolve(value);
      },
      (err) => {
        if (settled) return;
        settled = true;
        disarm();
        reject(err);
      },
    );
    void finished.then(() => cancelled).then(() => target.done());
  });
}

/**
 * Cancels the statements of `key` on the target's connection (the engine sends the cancel
 * again while they still run, and drops those not sent yet). Resolves once no cancel for
 * them can arrive any more.
 */
export function interrupt(target: CancelTarget, key: number): Promise<void> {
  return target.bridge.cancelStatements(target.conn, key).then(
    () => {},
    () => {},
  );
}
