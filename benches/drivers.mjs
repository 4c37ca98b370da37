// Driver adapters, one per way users run each driver. Each runs in its own child process
// (worker.mjs). Methods a driver lacks are left out and the harness reports "n/a" with the
// reason in `missing`.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const require = createRequire(import.meta.url);

const W1_SQL = 'select $1::int as n';

// `npm run bench -- --tls`: every driver verifies the test server's certificate against its CA.
const CA = process.env.PGWARP_BENCH_CA;
const ssl = CA ? { ca: fs.readFileSync(CA, 'utf8') } : undefined;
/** libpq's spelling of the same, for pg-native. */
const libpqUrl = (url) => (CA ? `${url}${url.includes('?') ? '&' : '?'}sslmode=verify-full&sslrootcert=${encodeURIComponent(CA)}` : url);

/** W8: a new connection, one query, closed again: what a new connection costs. */
async function pgConnect(Client, url) {
  const c = new Client({ connectionString: url, ssl });
  await c.connect();
  const { rows } = await c.query('select 1 as n');
  await c.end();
  return rows[0].n;
}

/** Multi-row INSERT text for `count` rows of 3 columns. */
function insertSql(table, count) {
  const values = [];
  for (let i = 0; i < count; i++) values.push(`($${3 * i + 1}, $${3 * i + 2}, $${3 * i + 3})`);
  return `insert into ${table} (a, b, c) values ${values.join(', ')}`;
}
const flat = (rows) => rows.flat();

/** COPY text format for value arrays, as a user of a text-only COPY API writes it. */
function copyText(rows) {
  let out = '';
  for (const r of rows) {
    out += r.map((v) => (v === null || v === undefined ? '\\N' : String(v).replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]))).join('\t') + '\n';
  }
  return out;
}
const COPY_ESCAPES = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** pg with pg-copy-streams: the usual way to COPY with pg. */
function pgCopy(pool) {
  const copyIn = async (table, text) => {
    const { from } = require('pg-copy-streams');
    const client = await pool.connect();
    try {
      const stream = client.query(from(`copy ${table} (a, b, c) from stdin`));
      await pipeline(Readable.from([text]), stream);
      return Number(stream.rowCount);
    } finally {
      client.release();
    }
  };
  return { copyIn, copyRows: (table, rows) => copyIn(table, copyText(rows)) };
}

const TX = [
  'update bench_tx set v = v + 1 where id = $1',
  'select v from bench_tx where id = $1',
  'insert into bench_tx_log (id, v) values ($1, $2)',
];

function pgLike(pool, { named = false } = {}) {
  const q = (text, values) => (named ? pool.query({ name: `s${hash(text)}`, text, values }) : pool.query(text, values));
  return {
    async tx(id) {
      const client = await pool.connect();
      const cq = (text, values) => (named ? client.query({ name: `s${hash(text)}`, text, values }) : client.query(text, values));
      try {
        await client.query('begin');
        await cq(TX[0], [id]);
        const v = (await cq(TX[1], [id])).rows[0].v;
        await cq(TX[2], [id, v]);
        await client.query('commit');
      } catch (e) {
        await client.query('rollback');
        throw e;
      } finally {
        client.release();
      }
    },
    point: async (i) => (await q(W1_SQL, [i])).rows[0].n,
    async reserved(i) {
      const client = await pool.connect();
      try {
        return (await (named ? client.query({ name: 'w1', text: W1_SQL, values: [i] }) : client.query(W1_SQL, [i]))).rows[0].n;
      } finally {
        client.release();
      }
    },
    all: async (sql) => (await q(sql, [])).rows,
    first: async (sql) => (await q(sql, [])).rows[0] ?? null,
    insert: (table, rows) => q(insertSql(table, rows.length), flat(rows)),
    exec: (sql) => pool.query(sql),
    write: (sql, params) => q(sql, params),
  };
}

function hash(s) {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return (h >>> 0).toString(36);
}

/** pgwarp's adapter, for this build or another one (`PGWARP_BASELINE`). */
async function openPgwarp({ Pool }, url, { connections, shards }) {
  const pool = new Pool(url, { max: connections, shards: shards ?? 1, ssl });
  return {
    pool,
    async connect() {
      const one = new Pool(url, { max: 1, ssl });
      const n = await one.query('select 1 as n').scalar();
      await one.close();
      return n;
    },
    point: (i) => pool.query(W1_SQL, [i]).scalar(),
    all: (sql) => pool.query(sql).all(),
    first: (sql) => pool.query(sql).first(),
    insert: (table, rows) => pool.query(insertSql(table, rows.length), flat(rows)).execute(),
    exec: (sql) => pool.query(sql).execute(),
    write: (sql, params) => pool.query(sql, params).execute(),
    async stream(sql, batch, onRow) {
      for await (const row of pool.query(sql).stream({ batchSize: batch })) onRow(row);
    },
    copyIn: (table, text) => pool.copyIn(`copy ${table} (a, b, c) from stdin`, [text]),
    copyRows: (table, rows) => pool.copyRows(table, ['a', 'b', 'c'], rows),
    tx: (id) =>
      pool.transaction(async (tx) => {
        await tx.query(TX[0], [id]).execute();
        const v = await tx.query(TX[1], [id]).scalar();
        await tx.query(TX[2], [id, v]).execute();
      }),
    async reserved(i) {
      const conn = await pool.reserve();
      try {
        return await conn.query(W1_SQL, [i]).scalar();
      } finally {
        await conn.release();
      }
    },
    close: () => pool.close(),
  };
}

/** pgwarp/pg from the build at `root()`: this one, or another (`PGWARP_BASELINE`). */
function pgwarpPg(label, root) {
  const why = "pg-copy-streams drives pg's socket layer, which pgwarp/pg does not have";
  return {
    label,
    missing: { W4c: why, W4r: why },
    async open(url, { connections }) {
      const pg = require(path.resolve(root(), 'dist/pg/index.js'));
      const pool = new pg.Pool({ connectionString: url, max: connections, ssl });
      const QueryStream = require(path.resolve(root(), 'dist/pg/pg-query-stream.js'));
      return {
        // No COPY: pg-copy-streams drives pg's socket layer, which pgwarp/pg does not have.
        ...pgLike(pool),
        stream: pgQueryStream(pool, QueryStream),
        connect: () => pgConnect(pg.Client, url),
        close: () => pool.end(),
      };
    },
  };
}

export const drivers = {
  pgwarp: {
    label: 'pgwarp',
    open: (url, options) => openPgwarp(require('../dist/index.js'), url, options),
  },

  // What per-query routing costs: the same pool, each point query asking for a target (the
  // pool's views, one per target); the pool's own target is the other one, so every call is
  // forwarded to a view.
  'pgwarp-routed': {
    label: "pgwarp, each query with { target: 'primary' }",
    async open(url, options) {
      const driver = await openPgwarp(require('../dist/index.js'), url, options);
      const pool = driver.pool;
      return { ...driver, point: (i) => pool.query(W1_SQL, [i], { target: 'primary' }).scalar() };
    },
  },

  // What the tagged template costs over query(): the same statement, rendered per call.
  'pgwarp-sql': {
    label: 'pgwarp, through pool.sql`...`',
    async open(url, options) {
      const driver = await openPgwarp(require('../dist/index.js'), url, options);
      const sql = driver.pool.sql;
      return { ...driver, point: (i) => sql`select ${i}::int as n`.scalar() };
    },
  },

  // What tracing costs: a pgwarp:query subscriber that does almost nothing, and pgwarp/otel
  // with the SDK's tracer (batched to an exporter that drops them) and meter.
  'pgwarp-subscribed': {
    label: 'pgwarp, with a pgwarp:query subscriber',
    async open(url, options) {
      const { tracingChannel } = require('node:diagnostics_channel');
      let n = 0;
      const count = () => n++;
      tracingChannel('pgwarp:query').subscribe({ start: count, end: count, asyncStart: count, asyncEnd: count, error: count });
      return openPgwarp(require('../dist/index.js'), url, options);
    },
  },

  'pgwarp-otel': {
    label: 'pgwarp, with pgwarp/otel instrument()',
    async open(url, options) {
      const { context } = require('@opentelemetry/api');
      const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
      const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
      const { MeterProvider } = require('@opentelemetry/sdk-metrics');
      context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
      const drop = { export: (spans, done) => done({ code: 0 }), shutdown: async () => {} };
      const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(drop)] });
      require('../dist/tracing/otel.js').instrument({ tracerProvider, meterProvider: new MeterProvider() });
      return openPgwarp(require('../dist/index.js'), url, options);
    },
  },

  'pgwarp-baseline': {
    label: 'pgwarp baseline (PGWARP_BASELINE build)',
    available() {
      const dir = process.env.PGWARP_BASELINE;
      if (!dir) return 'set PGWARP_BASELINE to the root of another pgwarp build (its dist/ and native/) to compare with it';
      try {
        require.resolve(path.resolve(dir, 'dist/index.js'));
        return null;
      } catch {
        return `no pgwarp build in ${dir} (expected dist/index.js)`;
      }
    },
    open: (url, options) => openPgwarp(require(path.resolve(process.env.PGWARP_BASELINE, 'dist/index.js')), url, options),
  },

  pg: {
    label: 'pg (Pool)',
    async open(url, { connections }) {
      const pg = require('pg');
      const pool = new pg.Pool({ connectionString: url, max: connections, ssl });
      return { ...pgLike(pool), ...pgCopy(pool), stream: pgQueryStream(pool), connect: () => pgConnect(pg.Client, url), close: () => pool.end() };
    },
  },

  'pgwarp-pg': pgwarpPg('pgwarp/pg (the node-postgres drop-in, used as pg is)', () => path.resolve(path.dirname(new URL(import.meta.url).pathname), '..')),

  'pgwarp-pg-baseline': {
    ...pgwarpPg('pgwarp/pg baseline (PGWARP_BASELINE build)', () => process.env.PGWARP_BASELINE),
    available: () => (process.env.PGWARP_BASELINE ? null : 'set PGWARP_BASELINE to the root of another pgwarp build to compare with it'),
  },

  'pg-best': {
    label: 'pg best (named statements; pipeline clients for W1)',
    async open(url, { connections, inFlight }) {
      const pg = require('pg');
      const pool = new pg.Pool({ connectionString: url, max: connections, ssl });
      const db = { ...pgLike(pool, { named: true }), ...pgCopy(pool), stream: pgQueryStream(pool), connect: () => pgConnect(pg.Client, url) };
      let clients = [];
      if (inFlight > 1) {
        // pg 8.23's pipeline mode sends queries without waiting for the previous result.
        clients = await Promise.all(
          Array.from({ length: connections }, async () => {
            const c = new pg.Client({ connectionString: url, pipeline: true, ssl });
            await c.connect();
            return c;
          }),
        );
        let next = 0;
        db.point = async (i) => (await clients[next++ % clients.length].query({ name: 'w1', text: W1_SQL, values: [i] })).rows[0].n;
      }
      return { ...db, close: async () => (await Promise.all(clients.map((c) => c.end())), await pool.end()) };
    },
  },

  'pg-native': {
    label: 'pg-native',
    available() {
      // pg's `native` getter is null when pg-native cannot be loaded.
      return require('pg').native ? null : 'pg-native is not installed or did not build (it needs libpq headers and a compiler)';
    },
    async open(url, { connections }) {
      const { native } = require('pg');
      const pool = new native.Pool({ connectionString: libpqUrl(url), max: connections });
      return {
        ...pgLike(pool),
        connect: () => pgConnect(native.Client, libpqUrl(url)),
        async stream(sql, batch, onRow) {
          // libpq has no row streaming in pg-native: DECLARE/FETCH is how its users page.
          const client = await pool.connect();
          try {
            await client.query('begin');
            await client.query(`declare bench_cursor no scroll cursor for ${sql}`);
            for (;;) {
              const { rows } = await client.query(`fetch ${batch} from bench_cursor`);
              for (const row of rows) onRow(row);
              if (rows.length < batch) break;
            }
            await client.query('commit');
          } finally {
            client.release();
          }
        },
        close: () => pool.end(),
      };
    },
    missing: { W4c: 'pg-copy-streams does not work with pg-native', W4r: 'pg-copy-streams does not work with pg-native' },
  },

  postgres: {
    label: 'postgres.js',
    async open(url, { connections }) {
      const postgres = require('postgres');
      const sql = postgres(url, { max: connections, onnotice: () => {}, ssl });
      return {
        async connect() {
          const one = postgres(url, { max: 1, onnotice: () => {}, ssl });
          const [{ n }] = await one.unsafe('select 1 as n');
          await one.end();
          return n;
        },
        point: async (i) => (await sql.unsafe(W1_SQL, [i]))[0].n,
        async reserved(i) {
          const conn = await sql.reserve();
          try {
            return (await conn.unsafe(W1_SQL, [i]))[0].n;
          } finally {
            conn.release();
          }
        },
        all: (text) => sql.unsafe(text),
        first: async (text) => (await sql.unsafe(text))[0] ?? null,
        insert: (table, rows) => sql.unsafe(insertSql(table, rows.length), flat(rows)),
        exec: (text) => sql.unsafe(text),
        write: (text, params) => sql.unsafe(text, params),
        tx: (id) =>
          sql.begin(async (t) => {
            await t.unsafe(TX[0], [id]);
            const [{ v }] = await t.unsafe(TX[1], [id]);
            await t.unsafe(TX[2], [id, v]);
          }),
        async stream(text, batch, onRow) {
          for await (const rows of sql.unsafe(text).cursor(batch)) for (const row of rows) onRow(row);
        },
        async copyIn(table, text) {
          const writable = await sql.unsafe(`copy ${table} (a, b, c) from stdin`).writable();
          await pipeline(Readable.from([text]), writable);
          // postgres.js does not report the COPY's row count.
          return text.split('\n').length - 1;
        },
        copyRows(table, rows) {
          return this.copyIn(table, copyText(rows));
        },
        close: () => sql.end(),
      };
    },
  },
};

function pgQueryStream(pool, QueryStream = require('pg-query-stream')) {
  return async (sql, batch, onRow) => {
    const client = await pool.connect();
    try {
      for await (const row of client.query(new QueryStream(sql, [], { batchSize: batch }))) onRow(row);
    } finally {
      client.release();
    }
  };
}
