/**
 * Tagged-template SQL: `pool.sql`, `reserved.sql`, `tx.sql`. Every `${value}` becomes a
 * parameter (`$1`, `$2`, ...), so values never become SQL text; helpers build identifiers,
 * lists, inserts and updates; nested templates are fragments whose parameters renumber.
 * The result is the same lazy {@link QueryResult} as `query()`'s.
 *
 * Helpers follow postgres.js' vocabulary. Where the same call means two things (a list of
 * strings is columns, or values after `IN`; an object is an insert, or assignments after
 * `SET`), the word written right before the helper in the same template decides, never the
 * statement around it, so helpers work the same inside any fragment.
 * @module
 */
import { ParameterError } from '../errors/errors';
import type { QueryDefaults } from '../config/config';
import { QueryResult, type QueryRunner } from './query-result';

/** The most parameters one statement may have (the protocol counts them in 16 bits). */
const MAX_PARAMETERS = 65535;

/** A list helper given nothing: it would render `IN ()`, which PostgreSQL refuses, or an insert of nothing. */
export class EmptyListError extends ParameterError {
  override name = 'EmptyListError';
}

/** What a helper call (`sql('name')`, `sql([1, 2])`, `sql(obj)`, `sql.json(v)`) returns: a piece of a template. */
export class SqlHelper {
  /** @internal */
  constructor(
    /** @internal */
    readonly kind: 'names' | 'list' | 'objects' | 'json' | 'array',
    /** @internal */
    readonly value: unknown,
    /** @internal */
    readonly columns: readonly string[] = [],
    /** @internal The array helper's element type. */
    readonly type?: string,
  ) {}
}

/**
 * A query made by a `sql` tag: runs as any {@link QueryResult}, and nests in another
 * template as a fragment (its parameters renumbered there).
 */
export class SqlQuery<T = Record<string, unknown>> extends QueryResult<T> {
  /** @internal The template it was made of. */
  readonly parts: { strings: readonly string[]; values: readonly unknown[]; unsafeParams?: readonly unknown[] };

  /** @internal */
  constructor(runner: QueryRunner, defaults: QueryDefaults, strings: readonly string[], values: readonly unknown[], rendered: Rendered, unsafeParams?: readonly unknown[]) {
    super(runner, rendered.text, rendered.params, { rowMode: 'object', int8: defaults.int8, jsonNumbers: defaults.jsonNumbers, unnamed: rendered.varies }, defaults);
    this.parts = unsafeParams === undefined ? { strings, values } : { strings, values, unsafeParams };
  }
}

/** What composes into a template: a nested query or a helper. */
export type Fragment = SqlQuery<unknown> | SqlHelper;

/**
 * The `sql` tag of a pool, a reserved connection or a transaction: queries run where it is
 * bound. A tag call makes a query; a plain call makes a helper.
 *
 * @example
 * ```ts
 * const user = await pool.sql<User>`select * from users where id = ${id}`.one();
 * await pool.sql`insert into users ${pool.sql(rows, 'name', 'email')}`.execute();
 * await pool.sql`update users set ${pool.sql(changes, 'name')} where id = ${id}`.execute();
 * const some = await pool.sql`select ${pool.sql(['id', 'name'])} from users where id in ${pool.sql(ids)}`;
 * ```
 */
export interface Sql {
  /** A query: each `${value}` a parameter, each fragment inlined. */
  <T = Record<string, unknown>>(strings: TemplateStringsArray, ...values: unknown[]): SqlQuery<T>;
  /** One identifier, quoted (`schema.table` is two, joined by a dot). */
  (name: string): SqlHelper;
  /** A list: after `IN`, values (`($1, $2)`); else, of strings, column names (`"a", "b"`). */
  (list: readonly unknown[]): SqlHelper;
  /**
   * Rows to insert (`("a", "b") values ($1, $2), ...`), or, after `SET`, one row's
   * assignments (`"a" = $1, "b" = $2`); after `IN`, with one column, that column of each
   * row as a value list. `columns` picks and orders them (default: the first row's keys).
   */
  (rows: object | readonly object[], ...columns: string[]): SqlHelper;
  /** Text inlined as it is: never put a value here. As a query, it may take `$n` parameters. */
  unsafe<T = Record<string, unknown>>(text: string, params?: readonly unknown[]): SqlQuery<T>;
  /** A value sent as JSON (`$n::jsonb`), whatever its shape (an array stays a JSON array). */
  json(value: unknown): SqlHelper;
  /** An array parameter, optionally cast (`$n::int[]`). */
  array(value: readonly unknown[], type?: string): SqlHelper;
}

/** The tag bound to `runner`. */
export function makeSql(runner: QueryRunner, defaults: QueryDefaults): Sql {
  const sql = (first: unknown, ...rest: unknown[]): SqlQuery | SqlHelper => {
    if (!isTemplate(first)) return helper(first, rest);
    // Values only (the common case): the text is the same at every call of this template
    // (JavaScript passes the same strings array each time), so it is built once.
    const text = rest.every(isPlain) ? plainText(first) : undefined;
    if (text !== undefined && rest.length <= MAX_PARAMETERS) return new SqlQuery(runner, defaults, first, rest, { text, params: rest, varies: false });
    return new SqlQuery(runner, defaults, first, rest, render(first, rest));
  };
  return Object.assign(sql, {
    unsafe<T>(text: string, params?: readonly unknown[]): SqlQuery<T> {
      if (typeof text !== 'string') throw new ParameterError(`sql.unsafe() takes the SQL text as a string, not ${typeof text}`);
      if (params !== undefined && !Array.isArray(params)) throw new ParameterError('sql.unsafe() takes its parameters as an array');
      const given = params === undefined || params.length === 0 ? undefined : [...params];
      return new SqlQuery<T>(runner, defaults, [text], [], { text, params: given ?? [], varies: false }, given);
    },
    json: (value: unknown) => new SqlHelper('json', value),
    array(value: readonly unknown[], type?: string) {
      if (!Array.isArray(value)) throw new ParameterError(`sql.array() takes an array, not ${describe(value)}`);
      if (type !== undefined && (typeof type !== 'string' || !/^[A-Za-z_][A-Za-z0-9_ ]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/.test(type))) {
        throw new ParameterError(`sql.array()'s type must be a type name such as int or double precision, not ${JSON.stringify(type)}`);
      }
      return new SqlHelper('array', value, [], type);
    },
  }) as Sql;
}

const plainTexts = new WeakMap<TemplateStringsArray, string>();

/** The text of a template whose values are all parameters: `$1`, `$2`, ... between its strings. */
function plainText(strings: TemplateStringsArray): string {
  let text = plainTexts.get(strings);
  if (text === undefined) {
    text = strings[0];
    for (let i = 1; i < strings.length; i++) text += `$${i}${strings[i]}`;
    plainTexts.set(strings, text);
  }
  return text;
}

function isPlain(v: unknown): boolean {
  return !(v instanceof QueryResult || v instanceof SqlHelper);
}

/** A tag call, recognised strictly: the frozen strings array with `raw` that JavaScript makes. */
function isTemplate(v: unknown): v is TemplateStringsArray {
  return Array.isArray(v) && Object.isFrozen(v) && Array.isArray((v as { raw?: unknown }).raw) && Object.isFrozen((v as unknown as { raw: unknown }).raw);
}

function helper(first: unknown, rest: unknown[]): SqlHelper {
  if (typeof first === 'string') {
    if (rest.length > 0) throw new ParameterError('sql(name) takes one identifier; for several, pass an array: sql([a, b])');
    return new SqlHelper('names', [first]);
  }
  const columns = rest.map((c) => {
    if (typeof c !== 'string') throw new ParameterError(`sql(rows, ...columns) takes column names as strings, not ${describe(c)}`);
    return c;
  });
  if (Array.isArray(first)) {
    if (first.length > 0 && first.every((r) => typeof r === 'object' && r !== null && !Array.isArray(r) && !(r instanceof Date) && !Buffer.isBuffer(r))) {
      return new SqlHelper('objects', first, columns);
    }
    if (columns.length > 0) throw new ParameterError('sql(list, ...columns): columns go with rows (objects), not with a list of values');
    return new SqlHelper('list', first);
  }
  if (typeof first === 'object' && first !== null && !(first instanceof Date) && !Buffer.isBuffer(first)) return new SqlHelper('objects', [first], columns, 'one');
  throw new ParameterError(`sql() takes an identifier, a list, or rows; ${describe(first)} is none (inside a template, a value is just \${value})`);
}

/** A template rendered: its text, its parameters, and whether its shape varies with its values. */
interface Rendered {
  text: string;
  params: unknown[];
  /** A helper whose parameter count follows its values (rows to insert): run unnamed. */
  varies: boolean;
}

function render(strings: readonly string[], values: readonly unknown[]): Rendered {
  const out: Rendered = { text: '', params: [], varies: false };
  walk(strings, values, out);
  return out;
}

function walk(strings: readonly string[], values: readonly unknown[], out: Rendered): void {
  for (let i = 0; i < strings.length; i++) {
    out.text += strings[i];
    if (i < values.length) emit(values[i], strings[i], out);
  }
}

function emit(v: unknown, before: string, out: Rendered): void {
  if (v instanceof SqlQuery) {
    const parts = v.parts;
    if (parts.unsafeParams !== undefined) throw new ParameterError('sql.unsafe(text, params) cannot be nested in a template: its $n would not renumber; pass the values through the template instead');
    walk(parts.strings, parts.values, out);
    return;
  }
  if (v instanceof SqlHelper) {
    out.text += renderHelper(v, lastWord(before), out);
    return;
  }
  if (v instanceof QueryResult) throw new ParameterError('a query made by query() cannot be nested in a template: make it with the sql tag');
  out.text += param(v, out);
}

function param(v: unknown, out: Rendered): string {
  if (out.params.length >= MAX_PARAMETERS) {
    throw new ParameterError(`more than ${MAX_PARAMETERS} parameters: the PostgreSQL protocol allows at most 65,535 per statement (insert in batches)`);
  }
  out.params.push(v);
  return `$${out.params.length}`;
}

/** The keyword right before a helper, upper-cased (`IN`, `SET`), or ''. */
function lastWord(before: string): string {
  const m = /([A-Za-z_]+)\s*$/.exec(before);
  return m === null ? '' : m[1].toUpperCase();
}

function renderHelper(h: SqlHelper, word: string, out: Rendered): string {
  switch (h.kind) {
    case 'names':
      return (h.value as unknown[]).map(quoteName).join(', ');
    case 'json':
      return `${param(h.value === undefined ? null : JSON.stringify(h.value), out)}::jsonb`;
    case 'array':
      return h.type === undefined ? param(h.value, out) : `${param(h.value, out)}::${h.type}[]`;
    case 'list': {
      const list = h.value as unknown[];
      if (word !== 'IN' && list.length > 0 && list.every((x) => typeof x === 'string')) return list.map(quoteName).join(', ');
      return valueList(list, out);
    }
    case 'objects':
      return renderRows(h, word, out);
  }
}

/**
 * `($1, $2, ...)`, padded to a power of two with the last value (the same for `IN` and
 * `NOT IN`): one statement per size class, not per length.
 */
function valueList(list: readonly unknown[], out: Rendered): string {
  if (list.length === 0) throw new EmptyListError('an empty list: IN () is not SQL, and IN (NULL) would make NOT IN match nothing; leave the condition out when there is nothing to match');
  let size = 1;
  while (size < list.length) size *= 2;
  const items: string[] = [];
  for (let i = 0; i < size; i++) items.push(param(list[Math.min(i, list.length - 1)], out));
  return `(${items.join(', ')})`;
}

function renderRows(h: SqlHelper, word: string, out: Rendered): string {
  const rows = h.value as Record<string, unknown>[];
  if (rows.length === 0) throw new EmptyListError('no rows: an insert of nothing is not SQL');
  const columns = h.columns.length > 0 ? h.columns : Object.keys(rows[0]);
  if (columns.length === 0) throw new EmptyListError('rows with no columns: give the columns, or rows with keys');
  if (word === 'IN') {
    if (columns.length !== 1) throw new ParameterError('sql(rows, column) after IN takes exactly one column, whose values make the list');
    return valueList(rows.map((r) => r[columns[0]]), out);
  }
  if (word === 'SET') {
    if (h.type !== 'one' && rows.length !== 1) throw new ParameterError('after SET, sql() takes one row (an object), not a list');
    return columns.map((c) => `${quoteName(c)} = ${param(rows[0][c], out)}`).join(', ');
  }
  if (rows.length > 1) out.varies = true;
  const values = rows.map((r) => `(${columns.map((c) => param(r[c], out)).join(', ')})`);
  return `(${columns.map(quoteName).join(', ')}) values ${values.join(', ')}`;
}

/** `"a"`, `"schema"."table"`: each dot-separated part quoted, quotes doubled. */
function quoteName(name: unknown): string {
  if (typeof name !== 'string' || name === '') throw new ParameterError(`an identifier must be a non-empty string, not ${describe(name)}`);
  if (name.includes('\0')) throw new ParameterError('an identifier cannot contain a NUL character');
  return name
    .split('.')
    .map((part) => {
      if (part === '') throw new ParameterError(`${JSON.stringify(name)} has an empty part between its dots`);
      return `"${part.replace(/"/g, '""')}"`;
    })
    .join('.');
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}
