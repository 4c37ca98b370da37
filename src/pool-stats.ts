/**
 * What `pool.stats()` and `pool.close()` take and give.
 * @module
 */

/** Counters since the pool started. */
export interface PoolCounters {
  queries: number;
  acquires: number;
  acquireTimeouts: number;
  created: number;
  destroyed: number;
  errors: number;
  /** Released connections that were rolled back or had their session reset before reuse. */
  resets: number;
}

/** A snapshot of connections and work, for one shard or the whole pool. */
export interface PoolShardStats {
  connections: { total: number; idle: number; busy: number; reserved: number };
  /** Queries running, plus reservations held. */
  inFlight: number;
  /** Callers waiting for a connection. */
  waiting: number;
  /**
   * Milliseconds since no server has answered a connection attempt (the circuit breaker is
   * open: callers wait for a background attempt, and fail at once after 5 s); null while
   * connections open.
   */
  unreachableForMs: number | null;
  counters: PoolCounters;
}

/** {@link PoolShardStats} in total, and per shard. */
export interface PoolStats extends PoolShardStats {
  shards: PoolShardStats[];
}

/** Options of {@link Pool.close}. */
export interface CloseOptions {
  /** Milliseconds to let running queries finish before they are cancelled. Default: no limit. */
  timeout?: number;
}
