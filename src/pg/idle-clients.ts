// Clients given back with release() that stay checked out of the engine, as pg-pool keeps its
// idle clients: the next connect() takes one (or a connect() waiting for one gets it) without
// a trip to the engine thread, and its release() makes none. Only a client the server says
// is idle, with nothing of its own still running, is kept; pgwarp/pg resets no session (as
// pg), so nothing is owed to the engine.
import type { ReservedConnection } from '../pool/reserved';
import type { Client } from './client';

/** One kept client and the reservation behind it. */
export interface Kept {
  client: Client;
  conn: ReservedConnection;
}

/**
 * The pool's idle clients, the one released last on top (pg-pool hands out the same one).
 * Each goes back to the engine after `idleMs`, and all of them when the engine needs
 * connections for someone else (see `Pool`): the engine cannot see them as idle.
 */
export class IdleClients {
  private readonly kept: (Kept & { timer: NodeJS.Timeout })[] = [];
  /**
   * `connect()` calls waiting for a client another caller holds, first come first served.
   * Each is resolved with a released client, or with `undefined`: reserve from the engine.
   */
  private readonly waiters: { settle: (k: Kept | undefined, err?: Error) => void }[] = [];

  /** `giveBack` returns a connection to the engine (its release costs no server round trip). */
  constructor(
    private readonly idleMs: number,
    private readonly giveBack: (conn: ReservedConnection) => void,
  ) {}

  /** Clients kept. */
  get size(): number {
    return this.kept.length;
  }

  /** Keeps `entry` until taken, timed out or flushed. */
  keep(entry: Kept): void {
    const timer = setTimeout(() => this.drop(entry.conn.id), this.idleMs);
    timer.unref();
    this.kept.push({ ...entry, timer });
  }

  /** The client released last, if any. */
  take(): Kept | undefined {
    const entry = this.kept.pop();
    if (entry === undefined) return undefined;
    clearTimeout(entry.timer);
    return entry;
  }

  /** Gives connection `id` back to the engine if it is kept (timed out, or lost while idle). */
  drop(id: number): void {
    const i = this.kept.findIndex((e) => e.conn.id === id);
    if (i < 0) return;
    const [entry] = this.kept.splice(i, 1);
    clearTimeout(entry.timer);
    this.giveBack(entry.conn);
  }

  /** Callers waiting in `wait()`. */
  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Waits for a client another caller releases (`handOff`), or to be told to reserve one
   * from the engine (`undefined`, see `next`); rejects with `timeout` after `ms` (0: never).
   */
  wait(ms: number, timeout: () => Error): Promise<Kept | undefined> {
    return new Promise((resolve, reject) => {
      const waiter = {
        settle: (k: Kept | undefined, err?: Error) => {
          clearTimeout(timer);
          if (err) reject(err);
          else resolve(k);
        },
      };
      const timer = ms > 0 ? setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(timeout());
      }, ms) : undefined;
      this.waiters.push(waiter);
    });
  }

  /** Gives a released client to the first waiter; false when nobody waits. */
  handOff(entry: Kept): boolean {
    const waiter = this.waiters.shift();
    waiter?.settle(entry);
    return waiter !== undefined;
  }

  /** Tells the first waiter to reserve from the engine; false when nobody waits. */
  next(): boolean {
    const waiter = this.waiters.shift();
    waiter?.settle(undefined);
    return waiter !== undefined;
  }

  /** Rejects every waiter with `err`. */
  rejectAll(err: Error): void {
    for (const waiter of this.waiters.splice(0)) waiter.settle(undefined, err);
  }

  /** Gives every kept connection back to the engine. */
  flush(): void {
    // Called before every pool query: no empty array from `splice` when nothing is kept.
    if (this.kept.length === 0) return;
    for (const entry of this.kept.splice(0)) {
      clearTimeout(entry.timer);
      this.giveBack(entry.conn);
    }
  }
}
