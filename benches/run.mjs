// npm run bench [-- options]
//   --quick              tiny sizes, 1 round: a smoke test of every workload and driver
//   --rounds N           measured rounds per driver (default 5)
//   --seconds S          length of a round (default 3)   --warmup S (default 1)
//   --only W1,W2         workloads (default all)         --drivers pgwarp,pg (default all)
//   --tls                the server takes TLS and every driver verifies it (verify-full, ssl: { ca })
//   --pin                server and clients on CPU 0 (cross-core wake-ups on shared VMs are erratic)
//   --wide-rows N --json-rows N --insert-batch N --stream-rows N
//   --sweep              also run pgwarp's shard sweep (on by default in a full run with W1)
//   --no-native          do not try to install pg-native
//   --no-write           print only; do not write benches/results/
//   --out NAME           file name stem in benches/results/ (default: date and mode)
// Starts a throwaway PostgreSQL (or uses DATABASE_URL), loads the data, and runs each workload
// with each driver in its own child process, interleaved round by round (A B C A B C ...).
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';

import { cli } from './cli.mjs';
import { drivers } from './drivers.mjs';
import { markdown, median, summarise, svg } from './report.mjs';
import { jsonRows, setupSql, sizes, workloads } from './workloads.mjs';

const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.dirname(here);
const require = createRequire(import.meta.url);
const { flag, option } = cli(process.argv.slice(2));

const quick = flag('quick');
const pin = flag('pin');
const tls = flag('tls');
const rounds = Number(option('rounds', quick ? 1 : 5));
const seconds = Number(option('seconds', quick ? 0.2 : 3));
const warmup = Number(option('warmup', quick ? 0.05 : 1));
const only = option('only', Object.keys(workloads).join(',')).split(',');
const scale = { ...(quick ? sizes.quick : sizes.full) };
for (const [flagName, key] of [['wide-rows', 'wideRows'], ['json-rows', 'jsonRows'], ['insert-batch', 'insertBatch'], ['stream-rows', 'streamRows']]) {
  if (option(flagName)) scale[key] = Number(option(flagName));
}
for (const w of only) if (!workloads[w]) throw new Error(`unknown workload ${w}; known: ${Object.keys(workloads).join(', ')}`);

// pg-native needs libpq's headers and a compiler, so it is not a dev dependency (that would
// break `npm install` where they are missing): it is installed on demand into benches/.cache.
const cacheModules = path.join(here, '.cache', 'node_modules');
function ensurePgNative() {
  if (flag('no-native') || quick) return;
  if (fs.existsSync(path.join(cacheModules, 'pg-native'))) return;
  const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).benchPeers['pg-native'];
  console.error(`installing pg-native@${version} into benches/.cache (needs libpq headers)...`);
  spawnSync('npm', ['install', '--no-save', '--no-package-lock', '--prefix', path.join(here, '.cache'), `pg-native@${version}`], { stdio: 'ignore' });
}
ensurePgNative();
const childEnv = { ...process.env, NODE_PATH: [cacheModules, process.env.NODE_PATH].filter(Boolean).join(path.delimiter) };

const driverNames = option('drivers', Object.keys(drivers).join(',')).split(',');
const unavailable = {};
for (const d of driverNames) {
  if (!drivers[d]) throw new Error(`unknown driver ${d}; known: ${Object.keys(drivers).join(', ')}`);
  if (drivers[d].available) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { drivers } from ${JSON.stringify(path.join(here, 'drivers.mjs'))}; const why = drivers[${JSON.stringify(d)}].available(); if (why) { console.log(why); process.exit(1) }`], { env: childEnv, encoding: 'utf8' });
    if (r.status !== 0) unavailable[d] = (r.stdout || r.stderr).trim().split('\n')[0];
  }
}
for (const [d, why] of Object.entries(unavailable)) console.error(`skipping ${d}: ${why}`);

let server;
let url = process.env.DATABASE_URL;
if (!url) {
  const { startPostgres } = require('../dist/testing/index.js');
  server = await startPostgres({ tls });
  // The certificate names localhost, not 127.0.0.1.
  url = tls ? server.url.replace('@127.0.0.1:', '@localhost:') : server.url;
}
if (tls) {
  if (!server?.tls) throw new Error('--tls needs the harness to start the server (unset DATABASE_URL)');
  childEnv.PGWARP_BENCH_CA = server.tls.ca;
  // pgbench (the server's floor) is libpq: the same checks over the same TLS.
  Object.assign(process.env, { PGSSLMODE: 'verify-full', PGSSLROOTCERT: server.tls.ca });
}
if (pin) {
  if (!server?.pid) throw new Error('--pin needs the harness to start the server (unset DATABASE_URL)');
  // Backends fork from the postmaster and inherit its CPU set.
  execFileSync('taskset', ['-a', '-p', '-c', '0', String(server.pid)], { stdio: 'ignore' });
}

const { Pool } = require('../dist/index.js');
const admin = new Pool(url, tls ? { ssl: { ca: fs.readFileSync(server.tls.ca) } } : {});
for (const sql of setupSql(scale)) await admin.query(sql).execute();
for (const [id, doc] of jsonRows(scale)) await admin.query('insert into bench_json values ($1, $2)', [id, doc]).execute();
await admin.query('vacuum analyze').execute();
const pgVersion = await admin.query('show server_version').scalar();
await admin.close();

const results = [];
let failed = false;
for (const w of only) {
  for (let round = 0; round < rounds; round++) {
    for (const d of driverNames) {
      const missing = unavailable[d] ?? drivers[d].missing?.[w];
      if (missing) {
        if (round === 0) results.push({ workload: w, driver: d, skipped: true, reason: missing });
        continue;
      }
      const worker = [path.join(here, 'worker.mjs'), d, w, JSON.stringify({ url, scale, seconds, warmup })];
      const [cmd, argv] = pin ? ['taskset', ['-c', '0', process.execPath, ...worker]] : [process.execPath, worker];
      const r = spawnSync(cmd, argv, { encoding: 'utf8', env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], timeout: (seconds + warmup) * 1000 + 120_000 });
      if (r.status !== 0) {
        failed = true;
        console.error(`${d} ${w} failed (exit ${r.status}): ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}`);
        continue;
      }
      results.push({ round, ...JSON.parse(r.stdout.trim().split('\n').pop()) });
    }
  }
}

// pgwarp's shard sweep: W1 throughput and JS-thread time by shard count and depth.
const sweepRows = [];
if (driverNames.includes('pgwarp') && (flag('sweep') || (!quick && only.includes('W1')))) {
  const shardCounts = [...new Set([1, 2, os.cpus().length])];
  const depths = quick ? [1, 64] : [1, 16, 64, 256, 1024];
  const sweepRounds = quick ? 1 : Math.min(rounds, 3);
  for (const inFlight of depths) {
    const runs = new Map(shardCounts.map((k) => [k, []]));
    for (let round = 0; round < sweepRounds; round++) {
      for (const shards of shardCounts) {
        const sweep = { inFlight, connections: Math.min(8, inFlight), shards };
        const worker = [path.join(here, 'worker.mjs'), 'pgwarp', 'W1', JSON.stringify({ url, scale, seconds, warmup, sweep })];
        const [cmd, argv] = pin ? ['taskset', ['-c', '0', process.execPath, ...worker]] : [process.execPath, worker];
        const r = spawnSync(cmd, argv, { encoding: 'utf8', env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
        if (r.status !== 0) {
          failed = true;
          console.error(`sweep shards=${shards} in flight=${inFlight} failed: ${(r.stderr || '').trim().split('\n').pop()}`);
          continue;
        }
        runs.get(shards).push(JSON.parse(r.stdout.trim().split('\n').pop()));
      }
    }
    sweepRows.push({ inFlight, connections: Math.min(8, inFlight), byShards: Object.fromEntries([...runs].map(([k, rs]) => [k, rs.length ? { perSecond: median(rs.map((x) => x.perSecond)), jsUsPerUnit: median(rs.map((x) => x.jsUsPerUnit)) } : null])) });
  }
}

// Every driver must return the same data; a driver that skips or mangles rows shows here.
const mismatches = [];
for (const w of only) {
  const sums = new Map();
  for (const r of results.filter((x) => x.workload === w && !x.skipped)) sums.set(r.driver, r.checksum);
  if (new Set(sums.values()).size > 1) {
    failed = true;
    mismatches.push(`**Checksum mismatch in ${w}**: ${[...sums].map(([d, c]) => `${d}=${c}`).join(', ')}`);
  }
}

// The server's own ceiling for W1, when pgbench is at hand.
const extra = [...mismatches];
const pgbench = findPgbench();
if (pgbench && only.some((w) => w.startsWith('W1')) && !quick) {
  const u = new URL(url);
  const script = path.join(os.tmpdir(), `pgwarp-w1-${process.pid}.sql`);
  fs.writeFileSync(script, '\\set x random(1, 1000000)\nselect :x::int;\n');
  const ceiling = [];
  for (const clients of [1, 8]) {
    const argv = ['-h', u.hostname, '-p', u.port, '-U', decodeURIComponent(u.username) || 'postgres', '-n', '-M', 'prepared', '-T', String(Math.max(2, Math.round(seconds))), '-c', String(clients), '-j', String(Math.min(clients, 2)), '-f', script, u.pathname.slice(1) || 'postgres'];
    const r = spawnSync(pin ? 'taskset' : pgbench, pin ? ['-c', '0', pgbench, ...argv] : argv, { encoding: 'utf8' });
    const tps = /tps = ([\d.]+)/.exec(r.stdout ?? '')?.[1];
    if (tps) ceiling.push(`${clients} client${clients > 1 ? 's' : ''}: ${fmtInt(Number(tps))} q/s`);
  }
  fs.rmSync(script, { force: true });
  if (ceiling.length) extra.push(`Server ceiling for W1 (\`pgbench -M prepared\`, \`select :x::int\`): ${ceiling.join('; ')}.`);
}

// The server's floor for each workload with one SQL text: pgbench (libpq) running the same
// statement, prepared, on as many connections as the workload uses (`floorClients`, default 1),
// with the workload's values as pgbench variables (`floorDefine`); a driver can only approach it.
if (pgbench && !quick) {
  const u = new URL(url);
  for (const w of only) {
    const floorSql = workloads[w].floorSql;
    if (!floorSql) continue;
    const script = path.join(os.tmpdir(), `pgwarp-floor-${process.pid}.sql`);
    fs.writeFileSync(script, `${floorSql};\n`);
    const clients = workloads[w].floorClients ?? 1;
    const defines = Object.entries(workloads[w].floorDefine?.() ?? {}).flatMap(([k, v]) => ['-D', `${k}=${v}`]);
    const argv = ['-h', u.hostname, '-p', u.port, '-U', decodeURIComponent(u.username) || 'postgres', '-n', '-M', 'prepared', '-T', String(Math.max(2, Math.round(seconds))), '-c', String(clients), '-j', String(Math.min(clients, 2)), ...defines, '-f', script, u.pathname.slice(1) || 'postgres'];
    const r = spawnSync(pin ? 'taskset' : pgbench, pin ? ['-c', '0', pgbench, ...argv] : argv, { encoding: 'utf8' });
    fs.rmSync(script, { force: true });
    const tps = Number(/tps = ([\d.]+)/.exec(r.stdout ?? '')?.[1]);
    const rows = workloads[w].floorRows?.(scale);
    const perRow = rows ? ` (${fmtInt(tps * rows)} rows/s)` : '';
    const perQuery = clients === 1 ? `, ${(1000 / tps).toFixed(2)} ms per query` : '';
    if (tps) extra.push(`Server floor for ${w} (\`pgbench -n -M prepared -c ${clients}\`, the same SQL): ${fmtInt(tps)} queries/s${perRow}${perQuery}.`);
  }
}

function fmtInt(n) {
  return Math.round(n).toLocaleString('en');
}

function findPgbench() {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) if (fs.existsSync(path.join(dir, 'pgbench'))) return path.join(dir, 'pgbench');
  const sys = '/usr/lib/postgresql';
  if (!fs.existsSync(sys)) return undefined;
  const v = fs.readdirSync(sys).sort((a, b) => Number(b) - Number(a)).find((d) => fs.existsSync(path.join(sys, d, 'bin', 'pgbench')));
  return v && path.join(sys, v, 'bin', 'pgbench');
}

const meta = {
  date: new Date().toISOString(),
  cores: os.cpus().length,
  cpu: os.cpus()[0]?.model?.trim() ?? 'unknown CPU',
  node: process.version,
  postgres: pgVersion,
  mode: (pin ? 'pinned: server and client on CPU 0' : 'unpinned') + (tls ? '; over TLS (verify-full, TLS 1.3, P-256 certificate)' : ''),
  rounds,
  seconds,
  warmup,
  scale,
  commit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim(),
  versions: Object.fromEntries(
    ['pg', 'postgres', 'pg-query-stream', 'pg-native'].map((m) => {
      const file = [path.join(root, 'node_modules', m, 'package.json'), path.join(cacheModules, m, 'package.json')].find((f) => fs.existsSync(f));
      return [m, file ? JSON.parse(fs.readFileSync(file, 'utf8')).version : 'absent'];
    }),
  ),
};
const summary = summarise(results, Object.fromEntries(only.map((w) => [w, workloads[w]])), driverNames);
if (sweepRows.length) {
  const ks = Object.keys(sweepRows[0].byShards);
  extra.push('', `pgwarp shard sweep, W1 \`select $1::int\` (q/s, JS thread us/query in brackets; medians of ${quick ? 1 : Math.min(rounds, 3)} rounds):`, '', `| in flight (connections) | ${ks.map((k) => `${k} shard${k === '1' ? '' : 's'}`).join(' | ')} |`, `| --- | ${ks.map(() => '---:').join(' | ')} |`);
  for (const r of sweepRows) extra.push(`| ${r.inFlight} (${r.connections}) | ${ks.map((k) => (r.byShards[k] ? `${Math.round(r.byShards[k].perSecond).toLocaleString('en')} (${r.byShards[k].jsUsPerUnit.toFixed(1)})` : 'failed')).join(' | ')} |`);
}
const table = markdown(summary, workloads, drivers, meta, extra);
console.log(table);

if (!flag('no-write') && !quick) {
  const dir = path.join(here, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const stem = option('out', `${meta.date.slice(0, 10)}-${pin ? 'pinned' : 'unpinned'}`);
  fs.writeFileSync(path.join(dir, `${stem}.json`), JSON.stringify({ meta, summary, sweep: sweepRows, results }, null, 2));
  fs.writeFileSync(path.join(dir, `${stem}.md`), table + '\n');
  fs.writeFileSync(path.join(dir, `${stem}.svg`), svg(summary, workloads, drivers, meta));
  console.log(`\nwrote benches/results/${stem}.{json,md,svg}`);
}
if (server) await server.stop();
process.exit(failed ? 1 : 0);
