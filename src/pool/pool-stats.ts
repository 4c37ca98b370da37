/**
 * What `pool.stats()` and `pool.close()` take and give.
 * @module
 */
import type { NativeHostStats, NativeShardStats } from '../engine/native';

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
  /** Callers that waited for a connection, and how long (in total, and the longest). */
  acquireWait: { count: number; totalMs: number; maxMs: number };
  /** Connections opened since the start, over TLS and in plaintext. */
  opened: { tls: number; plain: number };
  /**
   * Query times since the start, in the engine (from the request to the first page of the
   * answer), in ms: the upper bound of the power-of-two bucket holding each percentile
   * (0 before any query).
   */
  queryTimeMs: { p50: number; p90: number; p99: number; count: number };
}

/**
 * What the pool knows of one of its hosts (shared by every pool of the process with the same
 * host, port, user and database).
 */
export interface HostStats {
  /** `host:port`. */
  host: string;
  /** As the server last reported or answered it; `unknown` before a connection learnt it. */
  role: 'primary' | 'standby' | 'read-only' | 'unknown';
  /** `down` while it is tried last after a failure (for `hostRecheck` ms). */
  state: 'up' | 'down';
  /** While down: ms until it is tried in its turn again. */
  downForMs: number | null;
  /** Ms since its role was last learnt (at a connect, or a check). */
  lastCheckMsAgo: number | null;
  /** A standby's replay lag at its last check (with `maxReplicaLagMs`). */
  lagMs: number | null;
  /** Why it was last marked down. */
  lastError: string | null;
}

/** {@link PoolShardStats} in total, and per shard, with what is known of each host. */
export interface PoolStats extends PoolShardStats {
  shards: PoolShardStats[];
  hosts: HostStats[];
}

/** Options of {@link Pool.close}. */
export interface CloseOptions {
  /** Milliseconds to let running queries finish before they are cancelled. Default: no limit. */
  timeout?: number;
}

/** The engine's numbers per shard, as `stats()` gives them: per shard, and in total. */
export function poolStats(native: NativeShardStats[], hosts: () => NativeHostStats[]): PoolStats {
  const shards: PoolShardStats[] = native.map((s) => ({
    acquireWait: { count: s.acquireWaits, totalMs: s.acquireWaitMs, maxMs: s.acquireWaitMaxMs },
    opened: { tls: s.tls, plain: s.plain },
    queryTimeMs: percentiles(s.queryTimes),
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
    acquireWait: { count: 0, totalMs: 0, maxMs: 0 },
    opened: { tls: 0, plain: 0 },
    queryTimeMs: percentiles(sumBuckets(native.map((s) => s.queryTimes))),
    shards,
    // Read when asked: pg's totalCount and idleCount read stats() often.
    get hosts() {
      return hosts().map(hostStats);
    },
  };
  for (const s of shards) {
    for (const k of ['total', 'idle', 'busy', 'reserved'] as const) total.connections[k] += s.connections[k];
    total.inFlight += s.inFlight;
    total.waiting += s.waiting;
    if (s.unreachableForMs !== null) total.unreachableForMs = Math.max(total.unreachableForMs ?? 0, s.unreachableForMs);
    for (const k of Object.keys(total.counters) as (keyof PoolCounters)[]) total.counters[k] += s.counters[k];
    total.acquireWait.count += s.acquireWait.count;
    total.acquireWait.totalMs += s.acquireWait.totalMs;
    total.acquireWait.maxMs = Math.max(total.acquireWait.maxMs, s.acquireWait.maxMs);
    total.opened.tls += s.opened.tls;
    total.opened.plain += s.opened.plain;
  }
  return total;
}

function hostStats(h: NativeHostStats): HostStats {
  return {
    host: h.name,
    role: h.role as HostStats['role'],
    state: h.downForMs == null ? 'up' : 'down',
    downForMs: h.downForMs ?? null,
    lastCheckMsAgo: h.checkedMsAgo ?? null,
    lagMs: h.lagMs ?? null,
    lastError: h.lastError ?? null,
  };
}

/** Bucket-wise sums of the shards' query-time histograms. */
function sumBuckets(all: number[][]): number[] {
  const out: number[] = [];
  for (const b of all) b.forEach((n, i) => (out[i] = (out[i] ?? 0) + n));
  return out;
}

/** Percentiles of a histogram whose bucket `i` holds `[2^i, 2^(i+1))` microseconds. */
function percentiles(buckets: number[]): { p50: number; p90: number; p99: number; count: number } {
  const count = buckets.reduce((a, b) => a + b, 0);
  const at = (p: number) => {
    if (count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * count));
    let seen = 0;
    for (let i = 0; i < buckets.length; i++) {
      seen += buckets[i];
      if (seen >= rank) return 2 ** (i + 1) / 1000;
    }
    return 2 ** buckets.length / 1000;
  };
  return { p50: at(50), p90: at(90), p99: at(99), count };
}
