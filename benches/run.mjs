// npm run bench [-- --quick] [--rounds N] [--seconds S] [--only W2,W3] [--drivers pgwarp,pg]
// Starts a throwaway PostgreSQL (or uses DATABASE_URL), loads the data, and runs every workload
// with every driver in its own child process, interleaved round by round, then prints medians.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as os from 'node:os';

import { drivers } from './drivers.mjs';
import { jsonRows, setupSql, workloads } from './workloads.mjs';

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};

const quick = flag('quick');
const rounds = Number(option('rounds', quick ? 1 : 5));
const seconds = Number(option('seconds', quick ? 0.3 : 3));
const warmup = Number(option('warmup', quick ? 0.1 : 1));
const only = option('only', Object.keys(workloads).join(',')).split(',');
const driverNames = option('drivers', Object.keys(drivers).join(',')).split(',');
const scale = quick ? { wideRows: 100, jsonRows: 20 } : { wideRows: 1000, jsonRows: 200 };

let server;
let url = process.env.DATABASE_URL;
if (!url) {
  const { startPostgres } = require('../dist/testing/index.js');
  server = await startPostgres();
  url = server.url;
}

const { Pool } = require('../dist/index.js');
const admin = new Pool(url);
for (const sql of setupSql(scale)) await admin.query(sql).execute();
for (const [id, doc] of jsonRows(scale)) await admin.query('insert into bench_json values ($1, $2)', [id, doc]).execute();
await admin.query('analyze').execute();
const pgVersion = await admin.query('show server_version').scalar();
await admin.close();

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const results = [];
let failed = false;
for (const w of only) {
  for (let round = 0; round < rounds; round++) {
    for (const d of driverNames) {
      try {
        const out = execFileSync(
          process.execPath,
          [new URL('./worker.mjs', import.meta.url).pathname, d, w, JSON.stringify({ url, scale, seconds, warmup, connections: 1 })],
          { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
        );
        results.push({ round, ...JSON.parse(out.trim().split('\n').pop()) });
      } catch (e) {
        failed = true;
        console.error(`${d} ${w} failed: ${e.message}`);
      }
    }
  }
}

const lines = [];
lines.push(`Machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}, PostgreSQL ${pgVersion}; ${rounds} round(s) of ${seconds}s, medians (min-max).`);
lines.push('');
lines.push('| workload | driver | per second | ratio to pg | client CPU us/op | JS thread us/op |');
lines.push('| --- | --- | ---: | ---: | ---: | ---: |');
for (const w of only) {
  const of = (d) => results.filter((r) => r.workload === w && r.driver === d);
  const pgMedian = median(of('pg').map((r) => r.perSecond));
  const sums = new Set(results.filter((r) => r.workload === w).map((r) => r.checksum));
  if (sums.size > 1) {
    failed = true;
    lines.push(`| ${w} | CHECKSUM MISMATCH ${[...sums].join(' vs ')} | | | | |`);
  }
  for (const d of driverNames) {
    const rs = of(d);
    if (!rs.length) continue;
    const ps = rs.map((r) => r.perSecond);
    const med = median(ps);
    lines.push(
      `| ${workloads[w].title} | ${d} | ${Math.round(med).toLocaleString('en')} ${workloads[w].unit} (${Math.round(Math.min(...ps)).toLocaleString('en')}-${Math.round(Math.max(...ps)).toLocaleString('en')}) | ${pgMedian ? (med / pgMedian).toFixed(2) + 'x' : '-'} | ${median(rs.map((r) => r.cpuUsPerOp)).toFixed(0)} | ${median(rs.map((r) => r.jsUsPerOp)).toFixed(0)} |`,
    );
  }
}
console.log(lines.join('\n'));
if (server) await server.stop();
process.exit(failed ? 1 : 0);
