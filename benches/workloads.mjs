// Workloads: the data they need, one operation each, and a checksum of what the operation
// returned that every driver must agree on, so nothing is skipped or half-decoded.

function jsonDoc(i) {
  const steps = [];
  for (let s = 0; s < 20; s++) {
    steps.push({ step: s, tool: `tool_${s % 5}`, input: { query: `lookup ${i}-${s}`, limit: 10 }, ok: s % 3 !== 0, ms: 10 + s });
  }
  return { session: i, agent: 'planner', model: 'm-large', tokens: { in: 1000 + i, out: 200 + i }, tags: ['a', 'b', 'c'], steps };
}

/** A table `(a int4, b text, c float8)` of its own per worker, loaded by W4, W4c and W4r. */
function loadTable(prefix) {
  return {
    async setup(db, state) {
      state.table = `${prefix}_${process.pid}`;
      await db.exec(`drop table if exists ${state.table}`);
      await db.exec(`create table ${state.table} (a int4, b text, c float8)`);
    },
    async teardown(db, state) {
      const rows = await db.all(`select count(*)::int as n from ${state.table}`);
      await db.exec(`drop table ${state.table}`);
      return Number(rows[0].n) > 0 ? 1 : 0;
    },
  };
}

/** `n` rows `[int, text, float]`, made the same way for every driver. */
function loadRows(n) {
  const rows = [];
  for (let i = 0; i < n; i++) rows.push([i, `label ${i}`, i * 0.5]);
  return rows;
}

/**
 * A bulk load of `scale.copyRows` rows per operation; `prepare` turns them into what the
 * method takes (COPY text or rows).
 */
function copyWorkload(title, method, prepare) {
  return {
    title,
    unit: 'rows',
    method,
    perOp: (scale) => scale.copyRows,
    ...loadTable('bench_copy'),
    async run(db, state, scale) {
      const n = await db[method](state.table, prepare(loadRows(scale.copyRows)));
      if (n !== scale.copyRows) throw new Error(`${method} copied ${n} rows of ${scale.copyRows}`);
      return scale.copyRows;
    },
  };
}

/** Sizes: the defaults, or tiny ones for --quick. Each can be overridden by flag. */
export const sizes = {
  full: { wideRows: 1000, jsonRows: 200, insertBatch: 1000, streamRows: 1_000_000, copyRows: 10_000, sessionRows: 300 },
  quick: { wideRows: 100, jsonRows: 20, insertBatch: 100, streamRows: 20_000, copyRows: 1000, sessionRows: 30 },
};

/** An agent session's state, ~1.5 KB of JSON: the seed applications' main shape (issue 15). */
function sessionDoc(i) {
  const steps = [];
  for (let s = 0; s < 12; s++) steps.push({ n: s, tool: `tool_${s % 4}`, input: { query: `find ${i}-${s}`, k: 5 }, ok: s % 4 !== 0, ms: 7 + s });
  return { user: `user-${i}`, model: 'm-large', tokens: { in: 900 + i, out: 150 + i }, tags: ['x', 'y'], steps };
}

export const setupSql = (scale) => [
  `drop table if exists bench_wide`,
  `create table bench_wide (id int4, big int8, name text, score float8, flag bool, at timestamptz, price numeric(12,2), uid uuid, code text, maybe int4)`,
  `insert into bench_wide select i, i::int8 * 1000003, 'name-' || lpad(i::text, 15, '0'), i * 1.25, i % 2 = 0,
     timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second', (i * 3.17)::numeric(12,2),
     md5(i::text)::uuid, 'c' || (i % 97), case when i % 3 = 0 then null else i end
   from generate_series(1, ${scale.wideRows}) i`,
  `drop table if exists bench_sessions`,
  `create table bench_sessions (id int4 primary key, app text, state jsonb, updated timestamptz)`,
  `insert into bench_sessions select i, 'app-' || (i % 7), '${JSON.stringify(sessionDoc(0)).replace(/'/g, "''")}'::jsonb
     || jsonb_build_object('user', 'user-' || i, 'tokens', jsonb_build_object('in', 900 + i, 'out', 150 + i)),
     timestamptz '2024-06-01 00:00:00+00' + i * interval '1 minute'
   from generate_series(1, ${scale.sessionRows}) i`,
  `drop table if exists bench_sessions_w`,
  `create table bench_sessions_w (id int4 primary key, state jsonb)`,
  `drop table if exists bench_json`,
  `create table bench_json (id int4 primary key, state jsonb)`,
  `drop table if exists bench_tx`,
  `create table bench_tx (id int primary key, v int not null)`,
  `insert into bench_tx select i, 0 from generate_series(1, 10000) i`,
  `drop table if exists bench_tx_log`,
  `create unlogged table bench_tx_log (id int, v int)`,
  `drop table if exists bench_stream`,
  `create table bench_stream as select i as n, 'row number ' || i as label from generate_series(1, ${scale.streamRows}) i`,
];

export function jsonRows(scale) {
  const rows = [];
  for (let i = 1; i <= scale.jsonRows; i++) rows.push([i, JSON.stringify(jsonDoc(i))]);
  return rows;
}

const checkWide = (rows) => {
  let sum = 0;
  for (const r of rows) {
    sum += r.id + (Number(r.big) % 1000) + r.name.length + r.score + (r.flag ? 1 : 0) + (r.at.getTime() % 1000) + Number(r.price) + r.uid.length + r.code.length + (r.maybe ?? 0);
  }
  return Math.round(sum);
};

const checkJson = (rows) => {
  let sum = 0;
  for (const r of rows) sum += r.id + r.state.steps.length + r.state.tokens.in + r.state.steps[19].input.query.length;
  return sum;
};

const UPSERT_SQL = 'insert into bench_sessions_w (id, state) values ($1, $2) on conflict (id) do update set state = excluded.state';
const SESSIONS_SQL = 'select id, app, state, updated from bench_sessions order by id';
const sessionSum = (r) => r.id + r.app.length + r.state.steps.length + r.state.tokens.in + (r.updated.getTime() % 100000);

/** W9: the stored sessions, materialised, `inFlight` queries at a time on as many connections. */
function sessionReads(inFlight) {
  return {
    title: `W9 stored sessions (~1.5 KB jsonb each), all(), ${inFlight} in flight on ${inFlight} connection${inFlight > 1 ? 's' : ''}`,
    unit: 'rows',
    method: 'all',
    inFlight,
    connections: inFlight,
    perOp: (scale) => scale.sessionRows * inFlight,
    floorSql: SESSIONS_SQL,
    floorClients: inFlight,
    floorRows: (scale) => scale.sessionRows,
    async run(db) {
      const sums = await Promise.all(
        Array.from({ length: inFlight }, async () => {
          let sum = 0;
          for (const r of await db.all(SESSIONS_SQL)) sum += sessionSum(r);
          return sum;
        }),
      );
      return sums.reduce((a, b) => a + b, 0);
    },
  };
}

/** Concurrent point queries: `inFlight` loops each awaiting its own query. */
export function pointQueries(inFlight, connections) {
  return {
    title: `W1 select $1::int, ${inFlight} in flight on ${connections} connection${connections > 1 ? 's' : ''}`,
    unit: 'queries',
    method: 'point',
    inFlight,
    connections,
    perOp: inFlight,
    async run(db, state) {
      const loops = [];
      for (let l = 0; l < inFlight; l++) {
        loops.push(
          (async () => {
            const v = (state.i = (state.i + 1) % 1_000_000);
            const n = await db.point(v);
            if (n !== v) throw new Error(`W1 got ${n} for ${v}`);
            return 1;
          })(),
        );
      }
      await Promise.all(loops);
      return inFlight;
    },
  };
}

/** Reserve, one point query, release, by `inFlight` callers at once on a pool of `connections`. */
function reservedQueries(title, connections, inFlight = 1) {
  return {
    title,
    unit: 'queries',
    method: 'reserved',
    inFlight,
    connections,
    perOp: inFlight,
    async run(db, state) {
      const one = async () => {
        const v = ++state.i;
        const n = await db.reserved(v);
        if (n !== v) throw new Error(`W7 got ${n} for ${v}`);
      };
      if (inFlight === 1) await one();
      else await Promise.all(Array.from({ length: inFlight }, one));
      return inFlight;
    },
  };
}

export const workloads = {
  W1: pointQueries(1, 1),
  W1x64: pointQueries(64, 8),
  W1x1024: pointQueries(1024, 8),
  W7: reservedQueries('W7 reserve a connection, one point query on it, release (pgwarp resets the session)', 1),
  // What Kysely does for every query (pool.connect(), query, release), on a pool that may grow.
  W7p: reservedQueries('W7p the same on a pool of up to 4 connections', 4),
  // What a web app on Kysely does under load: many requests, each checking a connection out.
  W7x64: reservedQueries('W7x64 the same, 64 callers at once on 8 connections', 8, 64),
  W8: {
    title: 'W8 open a new connection, one query, close it (over TLS with --tls: the handshake)',
    unit: 'connections',
    method: 'connect',
    perOp: 1,
    async run(db) {
      const n = await db.connect();
      if (n !== 1) throw new Error(`W8 got ${n}`);
      return 1;
    },
  },
  W2: {
    title: 'W2 1000 rows x 10 mixed columns, all()',
    unit: 'rows',
    method: 'all',
    perOp: (scale) => scale.wideRows,
    run: async (db) => checkWide(await db.all('select id, big, name, score, flag, at, price, uid, code, maybe from bench_wide')),
  },
  W3: {
    title: 'W3 200 rows x ~2 KB jsonb, all()',
    unit: 'rows',
    method: 'all',
    perOp: (scale) => scale.jsonRows,
    run: async (db) => checkJson(await db.all('select id, state from bench_json')),
  },
  W3first: {
    title: 'W3 same query, first()',
    unit: 'queries',
    method: 'first',
    perOp: () => 1,
    run: async (db) => checkJson([await db.first('select id, state from bench_json order by id')]),
  },
  W4: {
    title: 'W4 multi-row INSERT, 3 columns, 1000 rows per statement',
    unit: 'rows',
    method: 'insert',
    perOp: (scale) => scale.insertBatch,
    ...loadTable('bench_insert'),
    async run(db, state, scale) {
      await db.insert(state.table, loadRows(scale.insertBatch));
      return scale.insertBatch;
    },
  },
  W4c: copyWorkload('W4c COPY FROM STDIN, text lines built in JS, 3 columns, 10,000 rows per COPY', 'copyIn', (rows) => {
    let text = '';
    for (const r of rows) text += `${r[0]}\t${r[1]}\t${r[2]}\n`;
    return text;
  }),
  W4r: copyWorkload('W4r COPY of records (value arrays), 3 columns, 10,000 rows per COPY', 'copyRows', (rows) => rows),
  W6: {
    title: 'W6 transaction (BEGIN, update, select, insert, COMMIT), 8 in flight on 8 connections',
    unit: 'transactions',
    method: 'tx',
    inFlight: 8,
    connections: 8,
    perOp: 8,
    async run(db, state) {
      await Promise.all(
        Array.from({ length: 8 }, () => {
          state.i = (state.i + 1) % 10000;
          return db.tx(state.i + 1);
        }),
      );
      return 8;
    },
  },
  W9: sessionReads(1),
  W9x4: sessionReads(4),
  W9s: {
    title: "W9s the same sessions through each driver's stream API",
    unit: 'rows',
    method: 'stream',
    perOp: (scale) => scale.sessionRows,
    floorSql: SESSIONS_SQL,
    floorRows: (scale) => scale.sessionRows,
    async run(db) {
      let sum = 0;
      await db.stream(SESSIONS_SQL, 100, (r) => (sum += sessionSum(r)));
      return sum;
    },
  },
  W10: {
    title: 'W10 upsert of a ~1.5 KB jsonb document (on conflict do update), 64 in flight on 8 connections',
    unit: 'queries',
    method: 'write',
    inFlight: 64,
    connections: 8,
    perOp: 64,
    // The document is a parameter, as the drivers send it, so the server parses it every time.
    floorSql: `\\set id random(0, 999)\n${UPSERT_SQL.replace('$1', ':id').replace('$2', ':doc')}`,
    floorClients: 8,
    floorDefine: () => ({ doc: JSON.stringify(sessionDoc(0)) }),
    async run(db, state) {
      await Promise.all(
        Array.from({ length: 64 }, () => {
          state.i = (state.i + 1) % 1000;
          return db.write(UPSERT_SQL, [state.i, sessionDoc(state.i)]);
        }),
      );
      return 64;
    },
  },
  W5: {
    title: 'W5 stream 1,000,000 rows (int4, text), summing a column',
    unit: 'rows',
    method: 'stream',
    perOp: (scale) => scale.streamRows,
    rss: true,
    async run(db, _state, scale) {
      let sum = 0;
      let count = 0;
      await db.stream('select n, label from bench_stream', 1000, (row) => {
        sum += row.n + row.label.length;
        count++;
      });
      if (count !== scale.streamRows) throw new Error(`W5 streamed ${count} rows of ${scale.streamRows}`);
      return sum;
    },
  },
};
