/**
 * How a node-postgres query runs on the engine: the extended protocol through the statement
 * cache (pipelined on the pool's shared connections, or in order on a client's own), or, for
 * a text of several statements without values, the simple protocol, as pg chooses.
 * @module
 */
import { abortable, newCancelKey, type CancelTarget } from '../query/abort';
import { decodeResult, type DecodeOptions, type Int8Mode } from '../result/decode';
import { MODE_ALL, TEXT_RESULTS } from '../engine/requests';
import { errorFromResult, ParameterError, QueryTimeoutError } from '../errors/errors';
import { fetchPages, type QueryRunner } from '../query/query-result';
import { forEachStatement } from '../query/script';
import { MESSAGES, toPgError } from './errors';
import { makeResult, type Result } from './result';
import { globalDecoding, lookup, pgDecoding, type TypeParserSource } from './types';
import { prepareValues } from './values';

/** A query as pg's `query(config)` takes it. */
export interface PgQueryConfig {
  text: string;
  values?: unknown[];
  name?: string;
  rowMode?: 'array' | string;
  types?: TypeParserSource;
  queryMode?: 'extended' | string;
  /** pg's per-query `query_timeout` (ms), over the client's. */
  query_timeout?: number | false;
}

/** Where a query runs. */
export interface Target {
  /** The extended protocol's runner: the pool's shared path, or a reserved connection. */
  readonly runner: QueryRunner;
  /** Runs `text` with the simple protocol and gives the engine's answer (`pool/script.rs`, rows kept). */
  script(text: string): Promise<Buffer>;
  /** Runs `fn` on a connection of its own, for what the shared path refuses (pool only). */
  alone?<T>(fn: (target: Target) => Promise<T>): Promise<T>;
  /** The client's parsers (`types` in its config). */
  readonly types?: TypeParserSource;
  /** The opt-in modern mode's values (`pgwarp: { values: 'pgwarp' }`): pgwarp's own, no parsers. */
  readonly native?: { int8: Int8Mode };
  /** The texts of named statements run here (pg keeps them per client; see `checkName`). */
  readonly names?: Map<string, string>;
}

const PLACEHOLDER = /\$\d/;

/** Whether `text` holds more than one statement's worth of text: a `;` with anything but `;` and space after it. */
function severalStatements(text: string): boolean {
  const at = text.indexOf(';');
  if (at === -1) return false;
  for (let i = at + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 59 && c !== 32 && c !== 10 && c !== 13 && c !== 9) return true;
  }
  return false;
}

/** The decode options of a query with `source`'s parsers. */
export function decoding(rowMode: string | undefined, source: TypeParserSource | undefined, native: Target['native']): DecodeOptions {
  const mode = rowMode === 'array' ? 'array' : 'object';
  if (native !== undefined) return { rowMode: mode, int8: native.int8 };
  if (source !== undefined) return { rowMode: mode, int8: 'string', pg: pgValues(source) };
  // The global registry's options are one object per row mode until a parser changes.
  const pg = globalDecoding();
  const kept = mode === 'array' ? globalArrays : globalObjects;
  if (kept?.pg === pg) return kept;
  const options: DecodeOptions = { rowMode: mode, int8: 'string', pg };
  if (mode === 'array') globalArrays = options;
  else globalObjects = options;
  return options;
}

let globalObjects: DecodeOptions | undefined;
let globalArrays: DecodeOptions | undefined;

/** The pg-values decoding of `source`'s parsers (the global registry's, cached, when none). */
function pgValues(source: TypeParserSource | undefined): ReturnType<typeof globalDecoding> {
  return source === undefined ? globalDecoding() : pgDecoding(lookup(source));
}

/**
 * Checks a named statement against the texts `names` saw (pg keeps them per connection): a
 * name alone runs its text again; the same name with another text is refused. As pg parses a
 * named statement when it is sent, the name is known from then on (a query issued right
 * behind it may use the name alone); a name never given a text runs the empty text, as pg
 * sends it.
 */
export function checkName(names: Map<string, string>, q: PgQueryConfig): void {
  if (q.name === undefined) return;
  const known = names.get(q.name);
  if (typeof q.text !== 'string') q.text = known ?? '';
  else if (known !== undefined && known !== q.text) throw new Error(`Prepared statements must be unique - '${q.name}' was used for a different statement`);
  names.set(q.name, q.text);
}

/** Runs one pg query; a multi-statement simple query gives one Result per statement. */
export function runPgQuery(target: Target, q: PgQueryConfig): Promise<Result | Result[]> {
  // Most queries have no name: one async frame less for them.
  return q.name === undefined || target.names === undefined ? runUnnamed(target, q) : runNamed(target, q, target.names);
}

async function runNamed(target: Target, q: PgQueryConfig, names: Map<string, string>): Promise<Result | Result[]> {
  const fresh = !names.has(q.name!);
  checkName(names, q);
  try {
    return await runUnnamed(target, q);
  } catch (err) {
    // A named statement that failed is forgotten, as pg forgets it: the name may be given
    // again, with another text.
    if (fresh && names.get(q.name!) === q.text) names.delete(q.name!);
    throw err;
  }
}

async function runUnnamed(target: Target, q: PgQueryConfig): Promise<Result | Result[]> {
  if (typeof q.text !== 'string') throw new Error('A query must have either text or a name. Supplying neither is unsupported.');
  if (q.values !== undefined && q.values !== null && !Array.isArray(q.values)) throw new Error('Query values must be an array');
  const source = q.types ?? target.types;
  const extended = q.name !== undefined || q.queryMode === 'extended' || (q.values !== undefined && q.values !== null && q.values.length > 0);
  try {
    // pg sends a text without values with the simple protocol. Through the statement cache it
    // runs pipelined and in binary; only several statements, or a `$n` (which the server must
    // refuse as pg's users see it refused), go the simple way.
    if (!extended && (severalStatements(q.text) || PLACEHOLDER.test(q.text))) return await runScript(target, q.text, q.rowMode, source);
    // Integers as numbers only where the engine writes them as pg would (not pgwarp's own values).
    const params = extended ? prepareValues(q.values, target.native === undefined) : undefined;
    const options = decoding(q.rowMode, source, target.native);
    try {
      const d = await fetchPages<Record<string, unknown>>(target.runner, q.text, params, MODE_ALL, options, undefined, true);
      return makeResult(d.tag, d.rows, d.meta, q.rowMode);
    } catch (err) {
      // Transaction control and session state, which the shared path refuses, run as in pg:
      // on one connection (here a connection of their own, reset when it goes back).
      if (target.alone !== undefined && err instanceof ParameterError && err.message.startsWith('pool.query() cannot run')) {
        return await target.alone((own) => runPgQuery(own, q));
      }
      throw err;
    }
  } catch (err) {
    throw toPgError(err);
  }
}

/**
 * Runs one pg query under pg's `query_timeout` of `ms`: past it the query rejects with pg's
 * message, and (unlike pg, which leaves it running in front of every later query on its
 * connection) its statement is cancelled on the server. `place` gives the connection it runs
 * on: the client's own, or for a pool one reserved for it (a cancel must not reach another
 * caller's statement).
 */
export async function runTimed(target: Target, q: PgQueryConfig, ms: number, place: () => Promise<CancelTarget & { runner: QueryRunner }>): Promise<Result | Result[]> {
  const at = await place();
  const key = newCancelKey();
  const runner = at.runner;
  const keyed: QueryRunner = {
    bridge: runner.bridge,
    get connection() {
      return runner.connection;
    },
    run: (sql, params, mode, limits) => runner.run(sql, params, mode, { ...limits, key }),
    next: (cursor) => runner.next(cursor),
    dropResult: (cursor) => runner.dropResult(cursor),
    stop: (cursor) => runner.stop(cursor),
    cancelTarget: (o) => runner.cancelTarget(o),
  };
  try {
    return await abortable(at, { timeout: ms }, key, () => runPgQuery({ ...target, runner: keyed }, q));
  } catch (err) {
    if (err instanceof QueryTimeoutError) throw new Error(MESSAGES.queryTimeout);
    throw err;
  }
}

/** Runs a script with the simple protocol and reads its results (layout: `pool/script.rs`). */
async function runScript(target: Target, text: string, rowMode: string | undefined, source: TypeParserSource | undefined): Promise<Result | Result[]> {
  const buf = await target.script(text);
  if (buf[0] !== 0) throw errorFromResult(buf, text);
  const parser = pgValues(source).parser;
  // The simple protocol answers in text: every column goes through its parser.
  const options: DecodeOptions = { rowMode: rowMode === 'array' ? 'array' : 'object', int8: 'string', pg: { bits: TEXT_RESULTS, parser } };
  const results: Result[] = [];
  const at = forEachStatement(buf, true, (tag, _rowCount, page) => {
    if (page === undefined) results.push(makeResult(tag, [], undefined, rowMode));
    else {
      const d = decodeResult<Record<string, unknown>>(page, `${text}\u0000${results.length}`, options, true);
      results.push(makeResult(tag, d.rows, d.meta, rowMode));
    }
  });
  if (buf[at] === 1) throw errorFromResult(buf.subarray(at + 1), text);
  return results.length === 1 ? results[0] : results;
}
