// node-postgres compatibility: the module surface of `pg` (classes, types registry, defaults,
// escaping helpers) and connection settings from the environment. Runs against node-postgres
// itself with PGWARP_PG_DRIVER=pg; otherwise against pgwarp/pg.
import { describe, expect, it } from 'vitest';

import { databaseUrl } from './helpers';
import { pg, connect, track } from './pg-driver';


// pg-types' typings only accept known OIDs; these tests use any number.
type Parser = (text: string) => unknown;
interface Registry {
  getTypeParser(oid: number, format?: string): Parser;
  setTypeParser(oid: number, formatOrParser: string | Parser, parser?: Parser): void;
}
const types = pg.types as unknown as Registry & typeof pg.types;

describe('module surface', () => {
  it('exports Pool, Client, Query, TypeOverrides and DatabaseError as constructors', () => {
    expect(typeof pg.Pool).toBe('function');
    expect(typeof pg.Client).toBe('function');
    expect(typeof pg.Query).toBe('function');
    expect(typeof pg.TypeOverrides).toBe('function');
    expect(typeof pg.DatabaseError).toBe('function');
    // pg: the exported Pool is a subclass bound to pg.Client ("BoundPool").
    const pool = new pg.Pool({ connectionString: databaseUrl });
    expect(pool.constructor.name).toContain('Pool');
    expect(pool).toBeInstanceOf(pg.Pool);
    expect((pool as unknown as { Client: unknown }).Client).toBe(pg.Client);
    expect(pool.options.connectionString).toBe(databaseUrl);
    const client = new pg.Client(databaseUrl);
    expect(client).toBeInstanceOf(pg.Client);
    expect(typeof client.query).toBe('function');
    // pg: Query is reachable both as pg.Query and as Client.Query.
    expect((pg.Client as unknown as { Query: unknown }).Query).toBe(pg.Query);
    // DatabaseError is an Error subclass that keeps the message it is given.
    const err = new pg.DatabaseError('boom', 10, 'error');
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toBe('boom');
  });

  it('destructured exports are the same objects as the module properties', () => {
    const { Pool, Client, types, defaults, escapeIdentifier, escapeLiteral } = pg;
    expect(Pool).toBe(pg.Pool);
    expect(Client).toBe(pg.Client);
    expect(types).toBe(pg.types);
    expect(defaults).toBe(pg.defaults);
    expect(escapeIdentifier('x')).toBe('"x"');
    expect(escapeLiteral('x')).toBe("'x'");
  });

  it('types: builtins, getTypeParser for known and unknown OIDs, arrayParser', () => {
    expect(types.builtins.INT8).toBe(20);
    expect(types.builtins.INT4).toBe(23);
    expect(types.builtins.NUMERIC).toBe(1700);
    expect(types.builtins.TIMESTAMPTZ).toBe(1184);
    expect(types.builtins.JSONB).toBe(3802);
    expect(types.getTypeParser(23)('42')).toBe(42);
    expect(types.getTypeParser(23, 'text')('-7')).toBe(-7);
    expect(types.getTypeParser(16)('t')).toBe(true);
    expect(types.getTypeParser(16)('f')).toBe(false);
    expect(types.getTypeParser(20)('9007199254740993')).toBe('9007199254740993');
    expect(types.getTypeParser(1007)('{1,NULL,3}')).toEqual([1, null, 3]);
    expect(types.getTypeParser(3802)('{"a":[1]}')).toEqual({ a: [1] });
    // An OID without a parser gets one that returns the text unchanged.
    expect(types.getTypeParser(999_999)('as is')).toBe('as is');
    expect(types.getTypeParser(1700)('1.50')).toBe('1.50');
    // pg: arrayParser is an object with create(source, transform).parse() (its typings say otherwise).
    const arrayParser = types.arrayParser as unknown as {
      create(source: string, transform?: (s: string | null) => unknown): { parse(): unknown[] };
    };
    expect(arrayParser.create('{1,2,"x y"}').parse()).toEqual(['1', '2', 'x y']);
    expect(arrayParser.create('{{1,2},{3,NULL}}', (s) => (s === null ? s : Number(s))).parse()).toEqual([
      [1, 2],
      [3, null],
    ]);
  });

  it('types.setTypeParser changes parsing for every client until restored', async () => {
    const client = await connect();
    const before = types.getTypeParser(1700, 'text');
    try {
      types.setTypeParser(1700, (v: string) => `numeric:${v}`);
      expect((await client.query('select 1.50::numeric as n')).rows[0].n).toBe('numeric:1.50');
      // A format argument is accepted too.
      types.setTypeParser(1700, 'text', parseFloat);
      expect((await client.query('select 1.50::numeric as n')).rows[0].n).toBe(1.5);
    } finally {
      types.setTypeParser(1700, before);
    }
    expect((await client.query('select 1.50::numeric as n')).rows[0].n).toBe('1.50');
  });

  it('defaults: documented values, and parseInt8 = true parses int8 and int8[] as numbers', async () => {
    expect(pg.defaults.port).toBe(5432);
    expect(pg.defaults.host).toBe('localhost');
    const defaults = pg.defaults as typeof pg.defaults & Record<string, unknown>;
    expect(defaults.max).toBe(10);
    expect(defaults.idleTimeoutMillis).toBe(30000);
    expect(pg.defaults.binary).toBe(false);
    expect(pg.defaults.parseInputDatesAsUTC).toBe(false);
    const client = await connect();
    const sql = 'select 5::int8 as a, array[1, 2]::int8[] as b, count(*) as c from generate_series(1, 3)';
    expect((await client.query(sql)).rows[0]).toEqual({ a: '5', b: ['1', '2'], c: '3' });
    try {
      pg.defaults.parseInt8 = true;
      expect((await client.query(sql)).rows[0]).toEqual({ a: 5, b: [1, 2], c: 3 });
    } finally {
      pg.defaults.parseInt8 = false;
    }
    expect((await client.query(sql)).rows[0]).toEqual({ a: '5', b: ['1', '2'], c: '3' });
  });

  it('TypeOverrides: own parsers by format, falling back to the global registry', () => {
    const overrides = new pg.TypeOverrides() as unknown as Registry;
    overrides.setTypeParser(23, (v: string) => `int:${v}`);
    overrides.setTypeParser(25, 'binary', (v: string) => `bin:${v}`);
    expect(overrides.getTypeParser(23)('1')).toBe('int:1');
    expect(overrides.getTypeParser(23, 'text')('1')).toBe('int:1');
    expect(overrides.getTypeParser(21)('2')).toBe(2);
    expect(overrides.getTypeParser(25, 'binary')('x')).toBe('bin:x');
    // The global registry is untouched.
    expect(types.getTypeParser(23)('1')).toBe(1);
  });
});

describe('escapeIdentifier / escapeLiteral', () => {
  it('quote identifiers by doubling double quotes', () => {
    expect(pg.escapeIdentifier('plain')).toBe('"plain"');
    expect(pg.escapeIdentifier('Mixed Case')).toBe('"Mixed Case"');
    expect(pg.escapeIdentifier('a"b""c')).toBe('"a""b""""c"');
  });

  it('quote literals by doubling quotes; backslashes switch to an E string', () => {
    expect(pg.escapeLiteral('plain')).toBe("'plain'");
    expect(pg.escapeLiteral("it's")).toBe("'it''s'");
    // pg: with a backslash the result is ` E'...'`, with a leading space.
    expect(pg.escapeLiteral('a\\b')).toBe(" E'a\\\\b'");
    expect(pg.escapeLiteral("x'\\y")).toBe(" E'x''\\\\y'");
  });

  it('are also methods of Client, and their output round-trips through the server', async () => {
    const client = await connect();
    expect(client.escapeIdentifier('a"b')).toBe(pg.escapeIdentifier('a"b'));
    expect(client.escapeLiteral("it's")).toBe(pg.escapeLiteral("it's"));
    expect(typeof pg.Client.prototype.escapeLiteral).toBe('function');
    expect(typeof pg.Client.prototype.escapeIdentifier).toBe('function');
    const tricky = `quote ' double " back \\ slash; -- not a comment`;
    const sql = `select ${pg.escapeLiteral(tricky)} as ${pg.escapeIdentifier('we"ird col')}`;
    expect((await client.query(sql)).rows).toEqual([{ 'we"ird col': tricky }]);
  });
});

describe('connection settings', () => {
  it('new Client(url) and new Client(config) expose host, port, user and database', () => {
    const url = new URL(databaseUrl);
    const fromUrl = new pg.Client(databaseUrl);
    expect(fromUrl.host).toBe(url.hostname);
    expect(fromUrl.port).toBe(Number(url.port));
    expect(fromUrl.user).toBe(decodeURIComponent(url.username));
    expect(fromUrl.database).toBe(url.pathname.slice(1));
    const fromConfig = new pg.Client({ host: 'db.example', port: 6543, user: 'u1', database: 'd1', password: 'sec' });
    expect([fromConfig.host, fromConfig.port, fromConfig.user, fromConfig.database]).toEqual(['db.example', 6543, 'u1', 'd1']);
    // pg: the password is kept but not enumerable, so it does not show up when logged.
    expect(Object.keys(fromConfig)).not.toContain('password');
    expect(JSON.stringify(fromConfig.password)).toBe('"sec"');
    // pg: the database defaults to the user name.
    expect(new pg.Client({ user: 'only_user', host: 'h' }).database).toBe('only_user');
  });

  it('new Client() without arguments uses PGHOST, PGPORT, PGUSER and PGDATABASE', async () => {
    const url = new URL(databaseUrl);
    const keys = ['PGHOST', 'PGPORT', 'PGUSER', 'PGDATABASE'] as const;
    const saved = keys.map((k) => process.env[k]);
    let client: InstanceType<typeof pg.Client>;
    try {
      process.env.PGHOST = url.hostname;
      process.env.PGPORT = url.port;
      process.env.PGUSER = decodeURIComponent(url.username);
      process.env.PGDATABASE = url.pathname.slice(1);
      // No arguments at all: PG* is read now.
      client = track(new pg.Client());
    } finally {
      keys.forEach((k, i) => {
        if (saved[i] === undefined) delete process.env[k];
        else process.env[k] = saved[i];
      });
    }
    expect(client.host).toBe(url.hostname);
    expect(client.port).toBe(Number(url.port));
    await client.connect();
    const { rows } = await client.query('select current_user as u, current_database() as d');
    expect(rows).toEqual([{ u: decodeURIComponent(url.username), d: url.pathname.slice(1) }]);
  });

  it('application_name and statement_timeout from the config reach the server', async () => {
    const client = await connect({ connectionString: databaseUrl, application_name: 'pg-compat-app', statement_timeout: 50 });
    expect((await client.query('show application_name')).rows).toEqual([{ application_name: 'pg-compat-app' }]);
    expect((await client.query('show statement_timeout')).rows).toEqual([{ statement_timeout: '50ms' }]);
    const err = await client.query('select pg_sleep(2)').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(pg.DatabaseError);
    expect((err as InstanceType<typeof pg.DatabaseError>).code).toBe('57014');
    expect((err as Error).message).toBe('canceling statement due to statement timeout');
  });

  it('query_timeout fails a slow query on the client side with "Query read timeout"', async () => {
    const client = await connect({ connectionString: databaseUrl, query_timeout: 50 });
    const err = (await client.query('select pg_sleep(1)').catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toBe('Query read timeout');
  });
});
