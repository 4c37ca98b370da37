/**
 * node-postgres' type parsers: pg-types' one global registry (shared with `pg` itself, so a
 * `setTypeParser` through either hits both), `TypeOverrides`, and how a query's parsers
 * decide what the engine sends (`PG_VALUES` and its mask, `crates/pgwarp-core/src/result`).
 * @module
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
import { PG_VALUES } from '../engine/requests';
import pgTypes = require('pg-types');

import type { Parser } from '../result/decode';

/** pg-types' module object, exported as `types`. */
export const types = pgTypes;

/** The registry without pg-types' OID enum, for lookups by any number. */
export const registry = pgTypes as unknown as {
  getTypeParser(oid: number, format?: string): unknown;
  setTypeParser(oid: number, format: string, parser: unknown): void;
};

/** What a query or client can take as `types`: anything with pg's `getTypeParser`. */
export interface TypeParserSource {
  getTypeParser(oid: number, format?: string): unknown;
}

/** The parser pg-types gives types it has none for (`String(value)`). */
const noParse = registry.getTypeParser(-1, 'text') as Parser;

/**
 * pg-types' own parsers, to tell them from a user's. `init` registers module-level functions,
 * except json's, which is a fresh `JSON.parse.bind` per call: for those, what the registry held
 * when this module loaded counts as built in too.
 */
const builtin = new Map<number, unknown>();
// eslint-disable-next-line @typescript-eslint/no-require-imports
(require('pg-types/lib/textParsers') as { init(register: (oid: number, fn: unknown) => void): void }).init((oid, fn) => builtin.set(oid, fn));
const jsonAtLoad = [registry.getTypeParser(114, 'text'), registry.getTypeParser(3802, 'text')];

function isBuiltin(oid: number, p: unknown): boolean {
  if (p === builtin.get(oid)) return true;
  if (oid === 114 || oid === 3802) return p === jsonAtLoad[0] || p === jsonAtLoad[1] || (typeof p === 'function' && p.name === 'bound parse');
  return p === noParse && !builtin.has(oid);
}

/**
 * The types the engine converts itself in pg's shapes, in the order of the engine's mask
 * (`result/plan` in the core crate): a bit set asks for the server's text of that type,
 * because a user parser must see exactly what the server sends.
 */
const FAST = [16, 21, 23, 26, 20, 700, 701, 1114, 1184, 17, 114, 3802, 25, 1043, 1042, 19, 1700, 2950, 1007, 1009, 1016, 1015, 1022, 1000];



/** A parser lookup in pg's order: the query's `types`, else the client's, else the global registry. */
export function lookup(source: TypeParserSource | undefined): (oid: number) => unknown {
  if (source === undefined) return (oid) => registry.getTypeParser(oid, 'text');
  return (oid) => source.getTypeParser(oid, 'text');
}

/**
 * The decode options of a query whose parsers come from `find`: the mode bits (pg values with
 * the mask of fast types that have user parsers), and the parser per column type
 * (undefined where the engine's value already is what the built-in parser would give).
 */
export function pgDecoding(find: (oid: number) => unknown): { bits: number; parser(oid: number): Parser | undefined } {
  let mask = 0;
  for (let i = 0; i < FAST.length; i++) if (!isBuiltin(FAST[i], find(FAST[i]))) mask |= 1 << i;
  return {
    // The types whose text depends on the session (timestamptz[], timetz, money) and those
    // only the server can print (regclass...) come as the server's text anyway.
    bits: PG_VALUES | (mask << 8),
    parser(oid) {
      const p = find(oid);
      if (typeof p !== 'function') return undefined;
      // In pg-values mode a string column of a type without a parser is the text as it is.
      return p === noParse ? undefined : (p as Parser);
    },
  };
}

/**
 * Bumped by every `setTypeParser` on the global registry. pg-types changes its registry only
 * there, so the decoding of the registry holds while the count stands: reading back the 24
 * parsers the mask depends on for every query cost pgwarp/pg's point query about a tenth of
 * its JavaScript time.
 */
let registryVersion = 0;
const setTypeParser = registry.setTypeParser;
registry.setTypeParser = function (this: unknown, ...args: Parameters<typeof setTypeParser>): void {
  registryVersion++;
  setTypeParser.apply(this, args);
};

/** The decoding of the global registry alone, kept until a parser changes. */
let globalCache: { version: number; get: unknown; decoding: ReturnType<typeof pgDecoding> } | undefined;

/** {@link pgDecoding} for the global registry, made again only when one of its parsers changed. */
export function globalDecoding(): ReturnType<typeof pgDecoding> {
  const c = globalCache;
  // A replaced `getTypeParser` (rare, but pg's API allows it) counts as a change too.
  if (c !== undefined && c.version === registryVersion && c.get === registry.getTypeParser) return c.decoding;
  const decoding = pgDecoding(lookup(undefined));
  globalCache = { version: registryVersion, get: registry.getTypeParser, decoding };
  return decoding;
}

/**
 * pg's `TypeOverrides`: parsers of one client, falling back to the global registry (or to the
 * `types` given).
 *
 * @example
 * ```ts
 * const types = new TypeOverrides();
 * types.setTypeParser(1700, 'text', parseFloat);
 * const client = new Client({ connectionString, types });
 * ```
 */
export class TypeOverrides implements TypeParserSource {
  /** @internal */
  readonly text: Record<number, unknown> = {};
  /** @internal */
  readonly binary: Record<number, unknown> = {};

  constructor(private readonly _types: TypeParserSource = registry) {}

  setTypeParser(oid: number, format: string | ((text: string) => unknown), parseFn?: (text: string) => unknown): void {
    if (typeof format === 'function') {
      parseFn = format;
      format = 'text';
    }
    this.getOverrides(format)[oid] = parseFn;
  }

  getOverrides(format?: string): Record<number, unknown> {
    return format === 'binary' ? this.binary : this.text;
  }

  getTypeParser(oid: number, format = 'text'): unknown {
    return this.getOverrides(format)[oid] ?? this._types.getTypeParser(oid, format);
  }
}
