// npm run demo: a store of AI-agent sessions on a throwaway PostgreSQL, written and read
// through pgwarp, and the same steps through pg for comparison.
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import QueryStream from 'pg-query-stream';
import { Pool } from 'pgwarp';
import { startPostgres } from 'pgwarp/testing';

const SESSIONS = 3000;
const EVENTS_PER_SESSION = 5;

const t0 = performance.now();
const server = process.env.DATABASE_URL ? undefined : await startPostgres();
const url = process.env.DATABASE_URL ?? server.url;
console.log(`PostgreSQL ready in ${Math.round(performance.now() - t0)} ms (${server ? server.binaries : 'DATABASE_URL'})\n`);

/** A session as the application uses it. */
class Session {
  constructor(row) {
    this.id = row.id;
    this.agent = row.agent;
    this.state = row.state;
  }
  get stepCount() {
    return this.state.steps.length;
  }
}

function state(i) {
  return {
    status: i % 4 === 0 ? 'done' : 'active',
    model: i % 2 ? 'large' : 'small',
    tokens: { in: 1000 + i, out: 200 + (i % 50) },
    steps: Array.from({ length: 8 }, (_, s) => ({ tool: `tool_${s % 3}`, ok: s % 5 !== 0, input: { q: `lookup ${i}.${s}` } })),
  };
}

const uuid = (i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

// The same steps for both drivers: `db` adapts the call style.
function steps(db) {
  return [
    ['insert 3,000 sessions (jsonb), 100 per statement', async () => {
      for (let b = 0; b < SESSIONS; b += 100) {
        const params = [];
        const values = [];
        for (let i = b; i < b + 100; i++) {
          values.push(`($${params.length + 1}, $${params.length + 2}, $${params.length + 3})`);
          params.push(uuid(i), `agent-${i % 20}`, state(i));
        }
        await db.execute(`insert into ${db.t}sessions (id, agent, state) values ${values.join(', ')}`, params);
      }
      return `${SESSIONS} rows`;
    }],
    ['insert 15,000 events (jsonb, foreign key)', async () => {
      for (let b = 0; b < SESSIONS; b += 100) {
        const params = [];
        const values = [];
        for (let i = b; i < b + 100; i++) {
          for (let e = 0; e < EVENTS_PER_SESSION; e++) {
            values.push(`($${params.length + 1}, $${params.length + 2}, $${params.length + 3})`);
            params.push(uuid(i), e, { kind: e % 2 ? 'tool_call' : 'message', text: `event ${e} of session ${i}` });
          }
        }
        await db.execute(`insert into ${db.t}events (session_id, seq, content) values ${values.join(', ')}`, params);
      }
      return `${SESSIONS * EVENTS_PER_SESSION} rows`;
    }],
    ['all(): every session with its state', async () => {
      const rows = await db.all(`select id, agent, state, created_at from ${db.t}sessions`);
      return `${rows.length} rows, ${rows.reduce((n, r) => n + r.state.steps.length, 0)} steps`;
    }],
    ['one(): 1,000 lookups by primary key', async () => {
      let tokens = 0;
      for (let i = 0; i < 1000; i++) tokens += (await db.one(`select state from ${db.t}sessions where id = $1`, [uuid(i * 3)])).state.tokens.in;
      return `${tokens} tokens`;
    }],
    ['first(): latest event of 500 sessions', async () => {
      let n = 0;
      for (let i = 0; i < 500; i++) n += (await db.first(`select seq, content from ${db.t}events where session_id = $1 order by seq desc`, [uuid(i)])).seq;
      return `seq sum ${n}`;
    }],
    ['scalar(): count active sessions by jsonb containment (GIN)', async () => {
      let count = 0;
      for (let i = 0; i < 200; i++) count = await db.scalar(`select count(*)::int from ${db.t}sessions where state @> $1`, [{ status: 'active', model: i % 2 ? 'large' : 'small' }]);
      return `${count} active`;
    }],
    ['stream(): every event, one at a time, counting tool calls', async () => {
      let calls = 0;
      await db.stream(`select session_id, seq, content from ${db.t}events`, (row) => {
        if (row.content.kind === 'tool_call') calls++;
      });
      return `${calls} tool calls`;
    }],
    ['copyRows(): archive 15,000 events in one COPY', async () => {
      const rows = [];
      for (let i = 0; i < SESSIONS; i++) for (let e = 0; e < EVENTS_PER_SESSION; e++) rows.push([uuid(i), e, { kind: 'archived', of: i }]);
      return `${await db.copyRows(`${db.t}archive`, ['session_id', 'seq', 'content'], rows)} rows`;
    }],
    ['model(Session): sessions of 20 agents as class instances', async () => {
      let steps = 0;
      for (let a = 0; a < 20; a++) steps += (await db.model(`select id, agent, state from ${db.t}sessions where agent = $1`, [`agent-${a}`], Session)).reduce((n, s) => n + s.stepCount, 0);
      return `${steps} steps`;
    }],
  ];
}

async function schema(execute, prefix) {
  await execute(`drop table if exists ${prefix}events, ${prefix}sessions, ${prefix}archive`);
  await execute(`create table ${prefix}archive (session_id uuid not null, seq int not null, content jsonb not null)`);
  await execute(`create table ${prefix}sessions (id uuid primary key, agent text not null, state jsonb not null, created_at timestamptz not null default now())`);
  await execute(`create index on ${prefix}sessions using gin (state jsonb_path_ops)`);
  await execute(`create index on ${prefix}sessions (agent)`);
  await execute(`create table ${prefix}events (session_id uuid not null references ${prefix}sessions (id), seq int not null, content jsonb not null, primary key (session_id, seq))`);
}

const pool = new Pool(url, { max: 4 });
const warp = {
  t: 'warp_',
  execute: (sql, params) => pool.query(sql, params).execute(),
  all: (sql, params) => pool.query(sql, params).all(),
  one: (sql, params) => pool.query(sql, params).one(),
  first: (sql, params) => pool.query(sql, params).first(),
  scalar: (sql, params) => pool.query(sql, params).scalar(),
  model: (sql, params, M) => pool.query(sql, params).model(M),
  async stream(sql, onRow) {
    for await (const row of pool.query(sql).stream()) onRow(row);
  },
  copyRows: (table, columns, rows) => pool.copyRows(table, columns, rows),
};

const pgPool = new pg.Pool({ connectionString: url, max: 4 });
// pg can still hold a socket a client used for COPY or a cursor when the server stops at the
// end; the server's goodbye (57P01, admin shutdown) is expected then, not a failure.
pgPool.on('error', (err) => {
  if (err.code !== '57P01') throw err;
});
const pgDb = {
  t: 'pg_',
  execute: (sql, params) => pgPool.query(sql, params?.map((p) => (p && typeof p === 'object' ? JSON.stringify(p) : p))),
  all: async (sql, params) => (await pgPool.query(sql, params)).rows,
  one: async (sql, params) => {
    const { rows } = await pgPool.query(sql, params);
    if (rows.length !== 1) throw new Error(`expected 1 row, got ${rows.length}`);
    return rows[0];
  },
  first: async (sql, params) => (await pgPool.query(sql, params)).rows[0] ?? null,
  scalar: async (sql, params) => {
    const { rows } = await pgPool.query({ text: sql, values: params?.map((p) => JSON.stringify(p)), rowMode: 'array' });
    return rows[0]?.[0] ?? null;
  },
  model: async (sql, params, M) => (await pgPool.query(sql, params)).rows.map((r) => new M(r)),
  async stream(sql, onRow) {
    const client = await pgPool.connect();
    try {
      for await (const row of client.query(new QueryStream(sql))) onRow(row);
    } finally {
      client.release();
    }
  },
  async copyRows(table, columns, rows) {
    // pg users write COPY text themselves: escape each value, join with tabs.
    const escape = (v) => (typeof v === 'object' ? JSON.stringify(v) : String(v)).replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]);
    const client = await pgPool.connect();
    try {
      const copy = client.query(copyStreams.from(`copy ${table} (${columns.join(', ')}) from stdin`));
      await pipeline(Readable.from([rows.map((r) => r.map(escape).join('\t')).join('\n') + '\n']), copy);
      return copy.rowCount;
    } finally {
      client.release();
    }
  },
};

await schema((sql) => pool.query(sql).execute(), warp.t);
await schema((sql) => pool.query(sql).execute(), pgDb.t);

const table = [];
const warpSteps = steps(warp);
const pgSteps = steps(pgDb);
for (let i = 0; i < warpSteps.length; i++) {
  const [title, runWarp] = warpSteps[i];
  let s = performance.now();
  const what = await runWarp();
  const warpMs = performance.now() - s;
  s = performance.now();
  const pgWhat = await pgSteps[i][1]();
  const pgMs = performance.now() - s;
  if (what !== pgWhat) throw new Error(`${title}: pgwarp saw ${what}, pg saw ${pgWhat}`);
  table.push({ step: title, result: what, 'pgwarp ms': Math.round(warpMs), 'pg ms': Math.round(pgMs), 'pg / pgwarp': `${(pgMs / warpMs).toFixed(2)}x` });
}
console.table(table);

const biggest = await pool.query(`select agent, count(*)::int as sessions, sum((state->'tokens'->>'in')::int)::int8 as tokens_in from ${warp.t}sessions group by agent order by tokens_in desc`).first();
console.log(`\nBusiest agent: ${biggest.agent} with ${biggest.sessions} sessions and ${biggest.tokens_in} input tokens.`);

await pool.close();
await pgPool.end();
if (server) await server.stop();
console.log(`Done in ${((performance.now() - t0) / 1000).toFixed(1)} s.`);
