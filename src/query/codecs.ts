/**
 * User codecs for types pgwarp does not know (`types` pool option): extension types such as
 * `citext`, `hstore`, `ltree`, or anything else by name or OID.
 *
 * Results: `parse` gets each value as pgwarp decodes it (the server's text for such types),
 * also inside arrays of the type. Parameters: `serialize` turns a value into the type's text
 * for parameters the server types as it; for that, the statement's parameter types are asked
 * of the server once per SQL text (only in pools that have a codec with `serialize`).
 * @module
 */
import type { Bridge } from '../engine/bridge';
import { errorFromResult, ParameterError, PgwarpError } from '../errors/errors';
import type { QueryRunner } from './query-result';

/** A codec for one type. */
export interface TypeCodec {
  /** From what pgwarp decodes (the server's text) to your value. */
  parse?: (value: string) => unknown;
  /** From your value to the type's text, for parameters of the type. */
  serialize?: (value: unknown) => string;
}

/** `types` option: codecs by type name (`'hstore'`, `'public.hstore'`) or OID. */
export type TypeCodecs = Record<string | number, TypeCodec>;

interface Resolved {
  /** Codec by type OID, and by the OID of the type's array (marked), with the name it was given under. */
  byOid: Map<number, { codec: TypeCodec; array: boolean; name: string }>;
}

const MAX_DESCRIBED = 1024;

/** A pool's codecs, resolved to OIDs on first use. */
export class Codecs {
  private resolved: Promise<Resolved> | undefined;
  private readonly described = new Map<string, Promise<number[]>>();
  private readonly serializes: boolean;

  constructor(
    private readonly types: TypeCodecs,
    private readonly bridge: Bridge,
    private readonly lookup: (runner: QueryRunner, sql: string, params: unknown[]) => Promise<{ oid: number; name: string; schema: string; array: number }[]>,
  ) {
    for (const [key, codec] of Object.entries(types)) {
      if (typeof codec !== 'object' || codec === null) throw new PgwarpError(`types[${JSON.stringify(key)}] must be an object with parse and/or serialize`);
      for (const fn of ['parse', 'serialize'] as const) {
        if (codec[fn] !== undefined && typeof codec[fn] !== 'function') throw new PgwarpError(`types[${JSON.stringify(key)}].${fn} must be a function`);
      }
    }
    this.serializes = Object.values(types).some((c) => c.serialize !== undefined);
  }

  /**
   * The OIDs of the codecs' types (one catalog query, the first time, on `runner`: where the
   * caller's statement runs, so a transaction holding a pool's only connection does not wait
   * for another).
   */
  ready(runner: QueryRunner): Promise<Resolved> {
    this.resolved ??= (async () => {
      const oids = Object.keys(this.types).filter((k) => /^\d+$/.test(k)).map(Number);
      const names = Object.keys(this.types).filter((k) => !/^\d+$/.test(k));
      const rows = await this.lookup(
        runner,
        'select t.oid::int as oid, t.typname::text as name, n.nspname::text as schema, t.typarray::int as array from pg_type t join pg_namespace n on n.oid = t.typnamespace where t.oid = any($1::int[]) or t.typname = any($2::text[]) or n.nspname || \'.\' || t.typname = any($2::text[])',
        [oids, names],
      );
      const byOid = new Map<number, { codec: TypeCodec; array: boolean; name: string }>();
      for (const [key, codec] of Object.entries(this.types)) {
        const row = rows.find((r) => String(r.oid) === key || r.name === key || `${r.schema}.${r.name}` === key);
        if (row === undefined) throw new PgwarpError(`types: the server has no type ${JSON.stringify(key)}`);
        byOid.set(row.oid, { codec, array: false, name: key });
        if (row.array) byOid.set(row.array, { codec, array: true, name: key });
      }
      return { byOid };
    })();
    this.resolved.catch(() => (this.resolved = undefined));
    return this.resolved;
  }

  /**
   * The parameters, with `serialize` applied to those of a codec's type. The statement is
   * described where it will run (a reserved connection's temporary tables, search_path and
   * locks are its own), cached per connection and text.
   */
  async params(runner: QueryRunner, sql: string, params: readonly unknown[] | undefined): Promise<readonly unknown[] | undefined> {
    if (!this.serializes || params === undefined || params.length === 0) return params;
    const { byOid } = await this.ready(runner);
    const conn = runner.connection ?? 0;
    const key = `${conn}\u0000${sql}`;
    let types = this.described.get(key);
    if (types === undefined) {
      if (this.described.size >= MAX_DESCRIBED) this.described.delete(this.described.keys().next().value as string);
      types = this.bridge.describe(sql, conn).then((buf) => {
        if (buf[0] !== 0) throw errorFromResult(buf, sql);
        return Array.from({ length: buf.readUInt32LE(1) }, (_, i) => buf.readUInt32LE(5 + 4 * i));
      });
      types.catch(() => this.described.delete(key));
      this.described.set(key, types);
    }
    const oids = await types;
    return params.map((v, i) => {
      const hit = byOid.get(oids[i]);
      const serialize = hit?.codec.serialize;
      if (serialize === undefined || v === null || v === undefined) return v;
      const what = `$${i + 1} (${hit!.name}${hit!.array ? '[]' : ''})`;
      const one = (x: unknown): string => {
        let text: unknown;
        try {
          text = serialize(x);
        } catch (err) {
          throw new ParameterError(`${what}: its codec's serialize failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
        }
        // A Promise (an async serialize) or an object would reach the server as "[object ...]" or "{}".
        if (typeof text !== 'string') throw new ParameterError(`${what}: its codec's serialize must return a string, not ${describe(text)}`);
        return text;
      };
      return hit!.array && Array.isArray(v) ? deep(v, one) : one(v);
    });
  }

  /** Applies `parse` to the columns of a codec's type, in place. */
  async rows(runner: QueryRunner, rows: unknown[], columns: readonly { name: string; typeOid: number }[], arrayMode: boolean): Promise<void> {
    const { byOid } = await this.ready(runner);
    columns.forEach((col, c) => {
      const hit = byOid.get(col.typeOid);
      const parse = hit?.codec.parse;
      if (parse === undefined) return;
      const key = arrayMode ? c : col.name;
      const one = (x: unknown): unknown => {
        try {
          return parse(x as string);
        } catch (err) {
          throw new PgwarpError(`column ${JSON.stringify(col.name)} (${hit!.name}${hit!.array ? '[]' : ''}): its codec's parse failed on ${JSON.stringify(String(x)).slice(0, 80)}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
        }
      };
      for (const row of rows as Record<string | number, unknown>[]) {
        const v = row[key];
        if (v === null || v === undefined) continue;
        row[key] = hit!.array && Array.isArray(v) ? deep(v, one) : one(v);
      }
    });
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function') return 'a Promise (serialize must be synchronous)';
  return typeof v === 'object' ? `an object (${Object.prototype.toString.call(v)})` : `a ${typeof v}`;
}

/** `fn` applied to every non-null element of a (possibly nested) array. */
function deep<T>(list: unknown[], fn: (x: T) => unknown): unknown[] {
  return list.map((x) => (Array.isArray(x) ? deep(x, fn) : x === null ? null : fn(x as T)));
}
