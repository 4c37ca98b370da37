// npm run soak [-- --minutes N] [--workers N]
// A mixed load for N minutes (default 30) against a throwaway PostgreSQL (or DATABASE_URL):
// point queries that check their own results, transactions that throw at random, streams left
// with break at random, copies, failing statements, jsonb round trips and a new SQL text now
// and then. Every 10 s it prints RSS, heap and stats(); at the end it checks the books (every
// committed transaction's row is there, no rolled-back one is) and that memory stopped
// growing, and exits non-zero if either fails or any result was wrong. Not part of npm test.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Pool, PostgresError } = require('../dist/index.js');
const { startPostgres } = require('../dist/testing/index.js');

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const minutes = option('minutes', 30);
const workers = option('workers', 32);
const deadline = Date.now() + minutes * 60_000;

let server;
let url = process.env.DATABASE_URL;
if (!url) {
  server = await startPostgres({ settings: { max_connections: 100 } });
  url = server.url;
}
const pool = new Pool(url, { max: 16 });
await pool.query('drop table if exists soak_tx, soak_copy').execute();
await pool.query('create table soak_tx (id bigint primary key, doc jsonb)').execute();
await pool.query('create table soak_copy (a int, b text)').execute();

let seq = 0;
const committed = new Set();
const rolledBack = new Set();
const wrong = [];
const counts = { point: 0, tx: 0, txThrown: 0, stream: 0, streamBroken: 0, copy: 0, failing: 0, json: 0, distinct: 0 };
const rand = (n) => Math.floor(Math.random() * n);

const ops = [
  async function point() {
    const n = rand(1e6);
    const v = await pool.query('select $1::int * 2 as v', [n]).scalar();
    if (v !== n * 2) wrong.push(`point ${n}: ${v}`);
    counts.point++;
  },
  async function transaction() {
    const id = ++seq;
    const fail = Math.random() < 0.3;
    try {
      await pool.transaction(async (tx) => {
        await tx.query('insert into soak_tx values ($1, $2)', [id, { id, note: 'x'.repeat(rand(200)) }]).execute();
        if (fail) throw new Error('planned');
        await tx.query('select count(*) from soak_tx where id < $1', [id]).scalar();
      });
      committed.add(id);
      counts.tx++;
    } catch (e) {
      if (e.message !== 'planned') wrong.push(`transaction ${id}: ${e.message}`);
      rolledBack.add(id);
      counts.txThrown++;
    }
  },
  async function stream() {
    const stop = rand(3) === 0 ? rand(500) : -1;
    let i = 0;
    for await (const row of pool.query('select g from generate_series(1, 2000) g').stream({ batchSize: 100 })) {
      if (row.g !== ++i) wrong.push(`stream row ${i}: ${row.g}`);
      if (i === stop) {
        counts.streamBroken++;
        break;
      }
    }
    if (stop < 0 && i !== 2000) wrong.push(`stream ended after ${i} rows`);
    counts.stream++;
  },
  async function copy() {
    const rows = Array.from({ length: 200 }, (_, i) => [i, `r${i}`]);
    const n = await pool.copyRows('soak_copy', ['a', 'b'], rows);
    if (n !== 200) wrong.push(`copy ${n}`);
    counts.copy++;
  },
  async function failing() {
    try {
      await pool.query('select 1/0').all();
      wrong.push('1/0 succeeded');
    } catch (e) {
      if (!(e instanceof PostgresError) || e.code !== '22012') wrong.push(`1/0: ${e}`);
    }
    counts.failing++;
  },
  async function json() {
    const doc = { a: rand(1000), list: Array.from({ length: rand(20) }, () => ({ k: rand(9), s: 'é😀' })) };
    const back = await pool.query('select $1::jsonb as d', [doc]).scalar();
    if (JSON.stringify(back) !== JSON.stringify(doc)) wrong.push('json round trip');
    counts.json++;
  },
  async function distinct() {
    // A new text each time, as ORMs make for IN lists of every length.
    const k = ++seq;
    const v = await pool.query(`select ${k}::bigint as k /* ${'y'.repeat(rand(3000))} */`).scalar();
    if (v !== k) wrong.push(`distinct ${k}: ${v}`);
    counts.distinct++;
  },
];

const samples = [];
const started = Date.now();
function sample() {
  const m = process.memoryUsage();
  const s = pool.stats();
  const row = { t: Math.round((Date.now() - started) / 1000), rssMb: m.rss / 2 ** 20, heapMb: m.heapUsed / 2 ** 20, conns: s.connections.total, inFlight: s.inFlight, waiting: s.waiting };
  samples.push(row);
  console.log(`${String(row.t).padStart(5)} s  rss ${row.rssMb.toFixed(1)} MB  heap ${row.heapMb.toFixed(1)} MB  connections ${row.conns}  in flight ${row.inFlight}  waiting ${row.waiting}  ops ${JSON.stringify(counts)}  wrong ${wrong.length}`);
}
sample();
const timer = setInterval(sample, 10_000);

await Promise.all(
  Array.from({ length: workers }, async () => {
    while (Date.now() < deadline) await ops[rand(ops.length)]();
  }),
);
clearInterval(timer);
sample();

const stored = new Set((await pool.query('select id from soak_tx')).map((r) => Number(r.id)));
for (const id of committed) if (!stored.has(id)) wrong.push(`committed ${id} missing`);
for (const id of rolledBack) if (stored.has(id)) wrong.push(`rolled back ${id} stored`);
await pool.close();
if (server) await server.stop();

// Memory must stop growing: the highest RSS of the last fifth against that of the fifth after
// warm-up (the first minute, or the first fifth of a short run).
const after = samples.filter((s) => s.t >= Math.min(60, minutes * 12));
const fifth = Math.max(1, Math.floor(after.length / 5));
const early = Math.max(...after.slice(0, fifth).map((s) => s.rssMb));
const late = Math.max(...after.slice(-fifth).map((s) => s.rssMb));
const maxRss = Math.max(...samples.map((s) => s.rssMb));
const growing = late > early * 1.15 + 16;
console.log(`\nRSS: start ${samples[0].rssMb.toFixed(1)} MB, at 5 min ${(samples.find((s) => s.t >= 300) ?? samples.at(-1)).rssMb.toFixed(1)} MB, end ${samples.at(-1).rssMb.toFixed(1)} MB, max ${maxRss.toFixed(1)} MB; early window ${early.toFixed(1)} MB, late ${late.toFixed(1)} MB`);
console.log(`operations: ${JSON.stringify(counts)}; committed ${committed.size}, rolled back ${rolledBack.size}, all present: ${wrong.length === 0}`);
if (wrong.length) console.log(`WRONG (${wrong.length}):\n${wrong.slice(0, 20).join('\n')}`);
if (growing) console.log('MEMORY KEPT GROWING');
process.exit(wrong.length || growing ? 1 : 0);
