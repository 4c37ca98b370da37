/**
 * What `pool.stats()` and `pool.close()` take and give.
 * @module
 */
import type { NativeShardStats } from './native';

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

/** The engine's numbers per shard, as `stats()` gives them: per shard, and in total. */
export function poolStats(native: NativeShardStats[]): PoolStats {
  const shards: PoolShardStats[] = native.map((s) => ({
    connections: { total: s.total, idle: s.idle, busy: s.busy, reserved: s.reserved },
    inFlight: s.inFlight,
    waiting: s.waiting,
    unreachableForMs: s.unreachableMs ?? null,
    counters: {
      queries: s.queries,
      acquires: s.acquires,
      acquireTimeouts: s.acquireTimeouts,
      created: s.created,
      destroyed: s.destroyed,
      errors: s.errors,
      resets: s.resets,
    },
  }));
  const total: PoolStats = {
    connections: { total: 0, idle: 0, busy: 0, reserved: 0 },
    inFlight: 0,
    waiting: 0,
    unreachableForMs: null,
    counters: { queries: 0, acquires: 0, acquireTimeouts: 0, created: 0, destroyed: 0, errors: 0, resets: 0 },
    shards,
  };
  for (const s of shards) {
    for (const k of ['total', 'idle', 'busy', 'reserved'] as const) total.connections[k] += s.connections[k];
    total.inFlight += s.inFlight;
    total.waiting += s.waiting;
    if (s.unreachableForMs !== null) total.unreachableForMs = Math.max(total.unreachableForMs ?? 0, s.unreachableForMs);
    for (const k of Object.keys(total.counters) as (keyof PoolCounters)[]) total.counters[k] += s.counters[k];
  }
  return total;
}
