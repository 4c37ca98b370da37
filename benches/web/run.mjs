// npm run bench:web [-- options]
//   --drivers a,b      apps to run (default all; see apps.mjs)
//   --only e1,e2       endpoints: db, queries, updates, fortunes, tx (default all)
//   --rounds N         rounds per app (default 3)    --seconds S  measured window (default 5)
//   --warmup S         warm-up before it (default 2) --connections N  HTTP connections (default 64)
//   --quick            1 round of 1 s after 0.3 s, 8 connections: a smoke test of every app
//   --out NAME         writes benches/results/NAME.{md,json} (default YYYY-MM-DD-web; --quick
//                      writes only when --out is given)
//   --no-write         print only
// A web benchmark in the shape of TechEmpower's database tests. Starts a throwaway PostgreSQL
// unless DATABASE_URL is set, loads the tables, then for every app (driver x endpoint) starts
// an HTTP server in a child process and drives it from another child process with autocannon,
// apps interleaved round by round (A B C A B C ...) so a noisy machine's drift hits all alike.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';

import { cli } from '../cli.mjs';
import { drivers } from './apps.mjs';
import { endpoints } from './endpoints.mjs';
import { markdown, summarise } from './report.mjs';
import { loadSchema } from './schema.mjs';

const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.resolve(here, '../..');
const require = createRequire(import.meta.url);

const { flag, option } = cli(process.argv.slice(2));
const list = (name, all) => {
  const names = option(name, all.join(',')).split(',');
  for (const n of names) if (!all.includes(n)) throw new Error(`unknown ${name} entry ${n}; known: ${all.join(', ')}`);
  return names;
};

const quick = flag('quick');
const rounds = Number(option('rounds', quick ? 1 : 3));
const seconds = Number(option('seconds', quick ? 1 : 5));
const warmup = Number(option('warmup', quick ? 0.3 : 2));
const connections = Number(option('connections', quick ? 8 : 64));
const driverNames = list('drivers', Object.keys(drivers));
const endpointNames = list('only', Object.keys(endpoints));
const write = !flag('no-write') && (!quick || option('out'));

// Every child is killed however this process ends: normal exit, a throw, Ctrl-C. The
// throwaway server has its own exit hook (dist/testing) that runs on process.exit too.
const children = new Set();
const killAll = () => {
  for (const c of children) c.kill('SIGKILL');
};
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    killAll();
    process.exit(128 + os.constants.signals[signal]);
  });
}

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

let pgServer;
let url = process.env.DATABASE_URL;
if (!url) {
  const { startPostgres } = require('../../dist/testing/index.js');
  pgServer = await startPostgres();
  url = pgServer.url;
}

const { Pool } = require('../../dist/index.js');
const admin = new Pool(url, { max: 2 });
await loadSchema(admin);
const pgVersion = await admin.query('show server_version').scalar();

/** Starts an app's HTTP server and resolves once it answers. */
async function startServer(driver) {
  const child = track(spawn(process.execPath, [path.join(here, 'server.mjs'), driver, url], { stdio: ['ignore', 'inherit', 'pipe', 'ipc'] }));
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no port within 15 s')), 15_000);
    child.once('message', (m) => (clearTimeout(timer), resolve(m.port)));
    child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`exited with ${code}: ${stderr.trim()}`))));
  });
  const base = `http://127.0.0.1:${port}`;
  for (let tries = 0; ; tries++) {
    try {
      await (await fetch(`${base}/__cpu`)).json();
      break;
    } catch (e) {
      if (tries > 100) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { child, base, stderr: () => stderr };
}

async function stopServer({ child }) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await gone;
  clearTimeout(timer);
}

/** One request, checked: the app must answer right before its speed means anything. */
async function check(base, endpoint) {
  const res = await fetch(base + endpoint.path);
  const body = await res.text();
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${body.slice(0, 300)}`);
  await endpoint.check({ type: res.headers.get('content-type') ?? '', body }, admin);
}

/** Runs a node script in a child and resolves with the last line it prints, parsed. */
function runChild(script, argv, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = track(spawn(process.execPath, [script, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out.trim().split('\n').pop()));
      else reject(new Error(`${path.basename(script)} exited with ${code ?? signal}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

const results = [];
const broken = new Map(); // `${endpoint} ${driver}` -> why; not run again in later rounds
for (let round = 0; round < rounds; round++) {
  for (const e of endpointNames) {
    for (const d of driverNames) {
      const app = `${e} ${d}`;
      if (broken.has(app)) continue;
      let server;
      try {
        server = await startServer(d);
        await check(server.base, endpoints[e]);
        const config = { base: server.base, path: endpoints[e].path, connections, warmup, seconds };
        const m = await runChild(path.join(here, 'load.mjs'), [JSON.stringify(config)], (warmup + seconds) * 1000 + 60_000);
        if (m.failures) throw new Error(`${m.failures} errors, timeouts or non-2xx answers in ${m.requests}${server.stderr() ? `; server: ${server.stderr().trim().split('\n')[0]}` : ''}`);
        results.push({ round, endpoint: e, driver: d, ...m });
        console.error(`round ${round + 1}/${rounds} ${app}: ${Math.round(m.perSecond)} req/s`);
      } catch (err) {
        broken.set(app, err.message);
        console.error(`FAILED ${app}: ${err.message}`);
      } finally {
        if (server) await stopServer(server);
      }
    }
  }
}

// The server's floor: pgbench (libpq, prepared) running the endpoint's SQL on as many
// connections as an app's pool, with no HTTP and no JS in between.
const floors = {};
const notes = [...broken].map(([app, why]) => `**FAILED ${app}**: ${why}`);
const pgbench = findPgbench();
const withFloor = endpointNames.filter((e) => endpoints[e].floor);
if (withFloor.length && !pgbench) notes.push('pgbench not found (PGWARP_PG_BIN, /usr/lib/postgresql/*/bin, PATH): no server floor.');
for (const e of pgbench ? withFloor : []) {
  const script = path.join(os.tmpdir(), `pgwarp-web-${e}-${process.pid}.sql`);
  fs.writeFileSync(script, endpoints[e].floor);
  const u = new URL(url);
  const argv = ['-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username) || 'postgres', '-n', '-M', 'prepared', '-f', script, '-c', '8', '-j', '2', '-T', String(Math.max(1, Math.round(seconds))), u.pathname.slice(1) || 'postgres'];
  const env = { ...process.env, ...(u.password ? { PGPASSWORD: decodeURIComponent(u.password) } : {}) };
  const out = await new Promise((resolve) => {
    const child = track(spawn(pgbench, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] }));
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    child.once('exit', () => resolve(text));
  });
  fs.rmSync(script, { force: true });
  const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1]);
  if (tps) floors[e] = tps;
  else notes.push(`pgbench for ${e} failed: ${out.trim().split('\n').pop()}`);
}

function findPgbench() {
  const dirs = [process.env.PGWARP_PG_BIN, '/usr/lib/postgresql/15/bin'];
  const sys = '/usr/lib/postgresql';
  if (fs.existsSync(sys)) dirs.push(...fs.readdirSync(sys).sort((a, b) => Number(b) - Number(a)).map((v) => path.join(sys, v, 'bin')));
  dirs.push(...(process.env.PATH ?? '').split(path.delimiter));
  return dirs.filter(Boolean).map((d) => path.join(d, 'pgbench')).find((f) => fs.existsSync(f));
}

const version = (m) => {
  try {
    return JSON.parse(fs.readFileSync(path.join(root, 'node_modules', m, 'package.json'), 'utf8')).version;
  } catch {
    return 'absent';
  }
};
const meta = {
  date: new Date().toISOString(),
  cores: os.cpus().length,
  cpu: os.cpus()[0]?.model?.trim() ?? 'unknown CPU',
  node: process.version,
  postgres: pgVersion,
  rounds,
  seconds,
  warmup,
  connections,
  commit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout?.trim() || 'unknown',
  versions: Object.fromEntries(['pg', 'postgres', 'kysely', 'drizzle-orm', 'autocannon'].map((m) => [m, version(m)])),
};

const summary = summarise(results, endpointNames, driverNames, drivers);
const shown = Object.fromEntries(endpointNames.map((e) => [e, endpoints[e]]));
const table = markdown(summary, floors, shown, drivers, meta, notes);
console.log(table);

if (write) {
  const dir = path.join(here, '..', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const stem = option('out', `${meta.date.slice(0, 10)}-web`);
  fs.writeFileSync(path.join(dir, `${stem}.md`), table + '\n');
  fs.writeFileSync(path.join(dir, `${stem}.json`), JSON.stringify({ meta, summary, floors, failures: Object.fromEntries(broken), results }, null, 2) + '\n');
  console.log(`\nwrote benches/results/${stem}.{md,json}`);
}

await admin.close();
if (pgServer) await pgServer.stop();
process.exit(broken.size ? 1 : 0);
