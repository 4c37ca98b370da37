// One driver, one workload, one measured round, in a process of its own. Prints one JSON line.
import { performance } from 'node:perf_hooks';

import { drivers } from './drivers.mjs';
import { pointQueries, workloads } from './workloads.mjs';

const [driverName, workloadName, argJson] = process.argv.slice(2);
const { url, scale, seconds, warmup, sweep } = JSON.parse(argJson);
// The shard sweep runs W1 at any depth and shard count.
const workload = sweep ? pointQueries(sweep.inFlight, sweep.connections) : workloads[workloadName];
const db = await drivers[driverName].open(url, { connections: workload.connections ?? 1, inFlight: workload.inFlight ?? 1, shards: sweep?.shards });
const state = { i: 0 };
await workload.setup?.(db, state, scale);
const perOp = typeof workload.perOp === 'function' ? workload.perOp(scale) : workload.perOp;

let checksum;
const until = (s) => performance.now() + s * 1000;
for (const end = until(warmup); performance.now() < end; ) checksum = await workload.run(db, state, scale);

const cpu0 = process.cpuUsage();
const elu0 = performance.eventLoopUtilization();
const t0 = performance.now();
let ops = 0;
for (const end = until(seconds); performance.now() < end || ops === 0; ops++) {
  const c = await workload.run(db, state, scale);
  // W1 and W4 return a count, not a checksum of data, so only data workloads must match.
  if (checksum !== undefined && c !== checksum) throw new Error(`${driverName} ${workloadName}: checksum changed ${checksum} -> ${c}`);
  checksum ??= c;
}
const wall = performance.now() - t0;
const elu = performance.eventLoopUtilization(elu0);
const cpu = process.cpuUsage(cpu0);
const verified = (await workload.teardown?.(db, state)) ?? checksum;
await db.close();
const units = ops * perOp;
console.log(
  JSON.stringify({
    driver: driverName,
    workload: workloadName,
    units,
    wallMs: wall,
    perSecond: (units / wall) * 1000,
    // Per unit (query or row), as ../shared/BASELINE.md reports them.
    cpuUsPerUnit: (cpu.user + cpu.system) / units,
    jsUsPerUnit: (elu.utilization * wall * 1000) / units,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    checksum: verified,
  }),
);
