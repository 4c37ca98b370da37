// The load generator, in a process of its own so that it never shares a JS thread with the
// server it measures: node load.mjs '{"base","path","connections","warmup","seconds"}'.
// Prints one line of JSON: throughput, latency, and the server's CPU and JS-thread time over
// the measured window only.
import autocannon from 'autocannon';

const { base, path, connections, warmup, seconds } = JSON.parse(process.argv[2]);

const blast = (duration) => autocannon({ url: base + path, connections, duration });

// autocannon's own histogram keeps whole milliseconds, too coarse for a 0.4 ms answer: the
// response times (hrtime, in ms) are kept here instead and ranked at the end.
const latencies = [];
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** The server's counters; taken over HTTP right at the window's edges. */
async function counters() {
  const res = await fetch(`${base}/__cpu`);
  return res.json();
}

if (warmup > 0) await blast(warmup);
const before = await counters();
const measured = blast(seconds);
measured.on('response', (client, status, bytes, ms) => {
  if (status >= 200 && status < 300) latencies.push(ms);
});
const r = await measured;
const after = await counters();

const requests = r.requests.total;
const cpuUs = after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system;
const jsUs = (after.elu.active - before.elu.active) * 1000;
latencies.sort((a, b) => a - b);
console.log(
  JSON.stringify({
    perSecond: requests / r.duration,
    requests,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    cpuUsPerRequest: cpuUs / requests,
    jsUsPerRequest: jsUs / requests,
    // Anything but a 2xx is a broken run, not a slow one.
    failures: r.errors + r.timeouts + r.non2xx,
  }),
);
