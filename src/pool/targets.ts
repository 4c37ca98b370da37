/**
 * Routing among several hosts: the kinds of server a query, a reservation or a transaction
 * may ask for (libpq's `target_session_attrs` values), and a pool's views, one per kind, made
 * on first use.
 * @module
 */
import { ParameterError } from '../errors/errors';

/** Which server will do, as libpq's `target_session_attrs` says it. */
export type Target = 'any' | 'read-write' | 'read-only' | 'primary' | 'standby' | 'prefer-standby';

const TARGETS: ReadonlySet<string> = new Set<Target>(['any', 'read-write', 'read-only', 'primary', 'standby', 'prefer-standby']);

/** `t` as a {@link Target}, or a `ParameterError` naming what is allowed. */
export function checkTarget(t: unknown): Target {
  if (typeof t === 'string' && TARGETS.has(t)) return t as Target;
  throw new ParameterError(`target must be one of ${[...TARGETS].join(', ')}, not ${JSON.stringify(t)}`);
}

/**
 * The views of one pool by target, each a pool of its own connections (same options, that
 * target), made on first use and closed with the pool.
 */
export class Views<P> {
  private readonly made = new Map<Target, P>();

  constructor(private readonly make: (target: Target) => P) {}

  /** The view for `target`. */
  get(target: Target): P {
    let view = this.made.get(target);
    if (view === undefined) this.made.set(target, (view = this.make(target)));
    return view;
  }

  /** Every view made so far. */
  all(): P[] {
    return [...this.made.values()];
  }
}
