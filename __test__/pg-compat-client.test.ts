// node-postgres compatibility: pg.Client — connecting, ending, events (error, end, notice,
// notification, parameterStatus), DatabaseError fields, and connection failures.
import net from 'node:net';

import { describe, expect, it } from 'vitest';

import { databaseUrl, tableName } from './helpers';
import { pg, driverName, connect, newClient } from './pg-driver';
import { wireSpy } from './wire-spy';

type Client = InstanceType<typeof pg.Client>;
type DatabaseError = InstanceType<typeof pg.DatabaseError>;


const pidOf = (client: Client) => (client as unknown as { processID: number }).processID;
function once<T extends unknown[]>(emitter: NodeJS.EventEmitter, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, (...args: unknown[]) => resolve(args as T)));
}
const failure = <T = DatabaseError>(p: Promise<unknown>) => p.then(() => Promise.reject(new Error('expected a failure')), (e: unknown) => e as T);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

describe('connect and end', () => {
  it('connect() sends the server no statement: the pid and parameters are the startup\'s, as in pg', async () => {
    const spy = await wireSpy(databaseUrl);
    try {
      const client = newClient(spy.url);
      const reported: string[] = [];
      (client.connection as unknown as NodeJS.EventEmitter).on('parameterStatus', (m: { parameterName: string }) => reported.push(m.parameterName));
      await client.connect();
      expect(spy.sent.filter((m) => m.type === 'Q' || m.type === 'P')).toEqual([]);
      expect(reported).toEqual(expect.arrayContaining(['server_version', 'TimeZone', 'client_encoding', 'integer_datetimes']));
      expect((await client.query('select pg_backend_pid() as pid')).rows[0].pid).toBe(pidOf(client));
      await client.end();
    } finally {
      await spy.close();
    }
  });

  it('connect() resolves once ready and emits connect; processID is the backend pid', async () => {
    const client = newClient();
    const events: string[] = [];
    client.on('connect', () => events.push('connect'));
    const resolved = await client.connect();
    // pg: the promise resolves to the client itself (its typings say void).
    expect(resolved).toBe(client);
    expect(events).toEqual(['connect']);
    const pid = pidOf(client);
    expect(typeof pid).toBe('number');
    expect((await client.query('select pg_backend_pid() as pid')).rows[0].pid).toBe(pid);
  });

  it('connect(callback) calls back with no error', async () => {
    const client = newClient();
    const err = await new Promise<Error | null>((resolve) => client.connect((e: Error | null) => resolve(e)));
    expect(err).toBeNull();
    expect((await client.query('select 1 as x')).rows).toEqual([{ x: 1 }]);
  });

  it('queries made before connect() finishes wait for the connection', async () => {
    const client = newClient();
    const early = client.query('select 1 as early');
    await client.connect();
    expect((await early).rows).toEqual([{ early: 1 }]);
  });

  it('a client connects once: a second connect() fails, also after end()', async () => {
    const client = await connect();
    await expect(client.connect()).rejects.toThrow('Client has already been connected. You cannot reuse a client.');
    await client.end();
    await expect(client.connect()).rejects.toThrow('Client has already been connected. You cannot reuse a client.');
  });

  it("end() resolves after the 'end' event; later queries fail; a second end() is harmless", async () => {
    const client = await connect();
    const events: string[] = [];
    client.on('end', () => events.push('end'));
    client.on('error', () => events.push('error'));
    await client.end();
    events.push('resolved');
    expect(events).toEqual(['end', 'resolved']);
    await expect(client.query('select 1')).rejects.toThrow('Client was closed and is not queryable');
    await client.end();
    const viaCallback = await connect();
    await new Promise<void>((resolve) => viaCallback.end(() => resolve()));
    // Ending a client that never connected resolves at once.
    await newClient().end();
  });

  it('end() during a query closes the socket and fails the query with "Connection terminated"', async () => {
    const client = await connect();
    let errorEvent: unknown;
    client.on('error', (e) => (errorEvent = e));
    const running = failure<Error>(client.query('select pg_sleep(2)'));
    await client.end();
    expect((await running).message).toBe('Connection terminated');
    expect(errorEvent).toBeUndefined();
  });
});

describe('connection loss', () => {
  it('an idle client killed by the server: two error events, end, then "not queryable"', async () => {
    const client = await connect();
    const killer = await connect();
    const events: [string, string?, string?][] = [];
    client.on('error', (e: Error & { code?: string }) => events.push(['error', e.message, e.code]));
    const ended = once(client, 'end');
    client.on('end', () => events.push(['end']));
    await killer.query('select pg_terminate_backend($1)', [pidOf(client)]);
    await ended;
    // pg: first the server's FATAL as a DatabaseError, then the socket close. pgwarp/pg: the
    // engine tells JavaScript only that the connection ended, so the FATAL event is missing.
    const fatal = driverName === 'pg' ? [['error', 'terminating connection due to administrator command', '57P01']] : [];
    expect(events).toEqual([...fatal, ['error', 'Connection terminated unexpectedly', undefined], ['end']]);
    await expect(client.query('select 1')).rejects.toThrow('Client has encountered a connection error and is not queryable');
    await client.end();
  });

  it('a client killed during a query: the query gets the FATAL error, the client one error event', async () => {
    const client = await connect();
    const killer = await connect();
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.message));
    const ended = once(client, 'end');
    const running = failure(client.query('select pg_sleep(10)'));
    // Wait until the backend is inside pg_sleep.
    for (let i = 0; i < 100; i++) {
      const { rows } = await killer.query(`select wait_event from pg_stat_activity where pid = $1`, [pidOf(client)]);
      if (rows[0]?.wait_event === 'PgSleep') break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await killer.query('select pg_terminate_backend($1)', [pidOf(client)]);
    const err = await running;
    expect(err).toBeInstanceOf(pg.DatabaseError);
    expect([err.code, err.severity, err.message]).toEqual(['57P01', 'FATAL', 'terminating connection due to administrator command']);
    await ended;
    expect(errors).toEqual(['Connection terminated unexpectedly']);
  });
});

describe('connection failures', () => {
  it('a closed port rejects with the socket error: code, errno, syscall, address, port', async () => {
    const port = await freePort();
    const client = newClient({ host: '127.0.0.1', port, user: 'postgres' });
    const err = await failure<NodeJS.ErrnoException & { address?: string; port?: number }>(client.connect());
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('ECONNREFUSED');
    expect(typeof err.errno).toBe('number');
    expect(err.syscall).toBe('connect');
    expect(err.address).toBe('127.0.0.1');
    expect(err.port).toBe(port);
    expect(err.message).toBe(`connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  it('a server error at startup rejects connect() with a DatabaseError', async () => {
    const base = databaseUrl.replace(/\/[^/]*$/, '');
    const err = await failure(newClient(`${base}/pgc_missing_db`).connect());
    expect(err).toBeInstanceOf(pg.DatabaseError);
    expect([err.code, err.severity, err.message]).toEqual(['3D000', 'FATAL', 'database "pgc_missing_db" does not exist']);
    const url = new URL(databaseUrl);
    url.username = 'pgc_no_such_role';
    const roleErr = await failure(newClient(url.toString()).connect());
    expect([roleErr.code, roleErr.message]).toEqual(['28000', 'role "pgc_no_such_role" does not exist']);
  });

  it('a server that closes at once, and one that never answers (connectionTimeoutMillis)', async () => {
    const sockets: net.Socket[] = [];
    const closer = net.createServer((s) => s.destroy());
    const silent = net.createServer((s) => sockets.push(s));
    await Promise.all([closer, silent].map((s) => new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))));
    const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;
    try {
      const closed = await failure<Error>(newClient({ host: '127.0.0.1', port: portOf(closer), user: 'postgres' }).connect());
      expect(closed.message).toBe('Connection terminated unexpectedly');
      const timedOut = await failure<Error>(
        newClient({ host: '127.0.0.1', port: portOf(silent), user: 'postgres', connectionTimeoutMillis: 100 }).connect(),
      );
      // pg: the Client's own connect timeout says just this.
      expect(timedOut.message).toBe('timeout expired');
    } finally {
      sockets.forEach((s) => s.destroy());
      closer.close();
      silent.close();
    }
  });
});

describe('DatabaseError', () => {
  it('a unique violation carries code, severity, detail, schema, table, constraint, file, line, routine', async () => {
    const client = await connect();
    const t = tableName('pgc_uniq');
    await client.query(`create table ${t} (id int primary key, v text constraint ${t}_v_key unique)`);
    await client.query(`insert into ${t} values (1, 'a')`);
    const err = await failure(client.query(`insert into ${t} values (2, $1)`, ['a']));
    expect(err).toBeInstanceOf(pg.DatabaseError);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toBe(`duplicate key value violates unique constraint "${t}_v_key"`);
    expect(err).toMatchObject({
      code: '23505',
      severity: 'ERROR',
      detail: 'Key (v)=(a) already exists.',
      schema: 'public',
      table: t,
      constraint: `${t}_v_key`,
      routine: '_bt_check_unique',
    });
    expect([err.hint, err.position, err.column]).toEqual([undefined, undefined, undefined]);
    expect(typeof err.file).toBe('string');
    // pg: line (like position) is a string.
    expect(err.line).toMatch(/^\d+$/);
    // pg: the error's name is 'error' (the protocol message name), not 'DatabaseError'.
    expect(err.name).toBe('error');
  });

  it('a syntax error has its position as a string; other fields by kind of error', async () => {
    const client = await connect();
    const syntax = await failure(client.query('select 1 from nowhere wher x'));
    expect([syntax.code, syntax.message, syntax.position]).toEqual(['42601', 'syntax error at or near "x"', '28']);
    const t = tableName('pgc_nn');
    await client.query(`create table ${t} (id int, n int not null check (n >= 0))`);
    const notNull = await failure(client.query(`insert into ${t} values (1, null)`));
    expect(notNull).toMatchObject({ code: '23502', column: 'n', table: t, detail: 'Failing row contains (1, null).' });
    expect(notNull.message).toBe(`null value in column "n" of relation "${t}" violates not-null constraint`);
    const check = await failure(client.query(`insert into ${t} values (1, -1)`));
    expect(check).toMatchObject({ code: '23514', constraint: `${t}_n_check` });
    const raised = await failure(
      client.query(`do $$ begin raise exception 'boom %', 7 using detail = 'the detail', hint = 'the hint', errcode = 'P0001'; end $$`),
    );
    expect(raised).toMatchObject({
      message: 'boom 7',
      code: 'P0001',
      detail: 'the detail',
      hint: 'the hint',
      where: 'PL/pgSQL function inline_code_block line 1 at RAISE',
    });
    const badParam = await failure(client.query('select $1::int', ['abc']));
    expect([badParam.code, badParam.message]).toEqual(['22P02', 'invalid input syntax for type integer: "abc"']);
  });
});

describe('server messages', () => {
  it('notice: RAISE NOTICE and WARNING arrive before the query resolves', async () => {
    const client = await connect();
    const log: unknown[] = [];
    client.on('notice', (n) => log.push({ message: n.message, severity: n.severity, code: n.code, where: n.where, name: n.name }));
    await client.query(`do $$ begin raise notice 'hello %', 42; raise warning 'careful'; end $$`);
    log.push('resolved');
    const where = 'PL/pgSQL function inline_code_block line 1 at RAISE';
    expect(log).toEqual([
      { message: 'hello 42', severity: 'NOTICE', code: '00000', where, name: 'notice' },
      { message: 'careful', severity: 'WARNING', code: '01000', where, name: 'notice' },
      'resolved',
    ]);
  });

  it('notification: LISTEN/NOTIFY with channel, payload and the sender processId', async () => {
    const listener = await connect();
    const sender = await connect();
    const channel = tableName('PgcChan');
    const got: { channel: string; payload?: string; processId: number }[] = [];
    listener.on('notification', (n) => got.push({ channel: n.channel, payload: n.payload, processId: n.processId }));
    await listener.query(`listen "${channel}"`);
    // A notification to oneself arrives before the NOTIFY resolves.
    await listener.query(`notify "${channel}", 'self'`);
    expect(got).toEqual([{ channel, payload: 'self', processId: pidOf(listener) }]);
    const next = once(listener, 'notification');
    await sender.query('select pg_notify($1, $2)', [channel, 'from sender']);
    await next;
    const empty = once(listener, 'notification');
    await sender.query(`notify "${channel}"`);
    await empty;
    expect(got.slice(1)).toEqual([
      { channel, payload: 'from sender', processId: pidOf(sender) },
      { channel, payload: '', processId: pidOf(sender) },
    ]);
  });

  it("parameterStatus: reported at startup and after SET of a reported setting, on client.connection", async () => {
    const client = newClient();
    const seen = new Map<string, string>();
    const connection = client.connection as unknown as NodeJS.EventEmitter;
    connection.on('parameterStatus', (m: { parameterName: string; parameterValue: string }) => seen.set(m.parameterName, m.parameterValue));
    await client.connect();
    const version = (await client.query('show server_version')).rows[0].server_version;
    expect(seen.get('server_version')).toBe(version);
    expect(seen.get('client_encoding')).toBe('UTF8');
    expect(seen.get('standard_conforming_strings')).toBe('on');
    expect(seen.has('TimeZone')).toBe(true);
    expect(seen.has('DateStyle')).toBe(true);
    // pg: reported again after a SET of a reported setting. pgwarp/pg reports what the
    // server said at connect only (the engine keeps later ParameterStatus messages to itself).
    if (driverName === 'pg') {
      await client.query(`set application_name = 'pgc-status'`);
      expect(seen.get('application_name')).toBe('pgc-status');
      await client.query(`set timezone = 'Asia/Tokyo'`);
      expect(seen.get('TimeZone')).toBe('Asia/Tokyo');
    }
  });
});
