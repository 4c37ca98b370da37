// One driver, one workload, one measured round, in a process of its own. Prints one JSON line.
import { performance } from 'node:perf_hooks';

import { drivers } from './drivers.mjs';
import { workloads } from './workloads.mjs';

const [driverName, workloadName, argJson] = process.argv.slice(2);
const { url, scale, seconds, warmup, connections } = JSON.parse(argJson);
const workload = workloads[workloadName];
const db = await drivers[driverName](url, { connections });

let checksum;
const deadline = (s) => performance.now() + s * 1000;
for (const end = deadline(warmup); performance.now() < end; ) checksum = workload.check(await workload.run(db));

const cpu0 = process.cpuUsage();
const elu0 = performance.eventLoopUtilization();
const t0 = performance.now();
let ops = 0;
for (const end = deadline(seconds); performance.now() < end; ops++) {
  const c = workload.check(await workload.run(db));
  if (c !== checksum) throw new Error(`${driverName} ${workloadName}: checksum changed ${checksum} -> ${c}`);
}
const wall = performance.now() - t0;
const elu = performance.eventLoopUtilization(elu0);
const cpu = process.cpuUsage(cpu0);
await db.close();
const rows = ops * workload.rowsPerOp(scale);
console.log(
  JSON.stringify({
    driver: driverName,
    workload: workloadName,
    ops,
    rows,
    wallMs: wall,
    perSecond: (rows / wall) * 1000,
    cpuUsPerOp: (cpu.user + cpu.system) / ops,
    jsUsPerOp: (elu.utilization * wall * 1000) / ops,
    rssMb: process.memoryUsage().rss / 2 ** 20,
    checksum,
  }),
);
