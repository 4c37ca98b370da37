// Rounds folded into medians, and the Markdown table.

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const int = (n) => Math.round(n).toLocaleString('en');
const fix = (n) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

/** One row per (endpoint, app) that ran: medians over its rounds, and the ratio to its baseline. */
export function summarise(results, endpointNames, driverNames, drivers) {
  const rows = [];
  for (const e of endpointNames) {
    const runs = (d) => results.filter((r) => r.endpoint === e && r.driver === d);
    const perSecond = (d) => (runs(d).length ? median(runs(d).map((r) => r.perSecond)) : undefined);
    for (const d of driverNames) {
      const rs = runs(d);
      if (!rs.length) continue;
      const ps = rs.map((r) => r.perSecond);
      const base = perSecond(drivers[d].baseline);
      const of = (key) => median(rs.map((r) => r[key]));
      rows.push({
        endpoint: e,
        driver: d,
        baseline: drivers[d].baseline,
        rounds: rs.length,
        perSecond: median(ps),
        min: Math.min(...ps),
        max: Math.max(...ps),
        ratio: base ? median(ps) / base : undefined,
        p50: of('p50'),
        p99: of('p99'),
        cpuUsPerRequest: of('cpuUsPerRequest'),
        jsUsPerRequest: of('jsUsPerRequest'),
      });
    }
  }
  return rows;
}

export function markdown(summary, floors, endpoints, drivers, meta, notes) {
  const lines = [
    `Machine: ${meta.cores} x ${meta.cpu}; Node ${meta.node}; PostgreSQL ${meta.postgres}; autocannon ${meta.versions.autocannon}.`,
    `${meta.rounds} round(s) of ${meta.seconds} s after ${meta.warmup} s warm-up, ${meta.connections} HTTP connections, pool of 8 database connections; apps interleaved round by round; medians (min-max). ` +
      'Server CPU and JS-thread time are the HTTP server process\'s, per request; JS-thread time is event-loop utilisation x wall time, ' +
      'so where cores are short (load generator, server and PostgreSQL share them) it also counts time spent waiting for one.',
    '',
    '| endpoint | app | req/s (min-max) | vs baseline | p50 ms | p99 ms | server CPU us/req | JS thread us/req |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const e of Object.keys(endpoints)) {
    for (const r of summary.filter((x) => x.endpoint === e)) {
      const ratio = r.ratio === undefined ? `- (no ${r.baseline})` : r.driver === r.baseline ? '1.00x (baseline)' : `${r.ratio.toFixed(2)}x ${r.baseline}`;
      lines.push(
        `| ${endpoints[e].title} | ${drivers[r.driver].label} | ${int(r.perSecond)} (${int(r.min)}-${int(r.max)}) | ${ratio} | ${fix(r.p50)} | ${fix(r.p99)} | ${fix(r.cpuUsPerRequest)} | ${fix(r.jsUsPerRequest)} |`,
      );
    }
    if (floors[e]) lines.push(`| ${endpoints[e].title} | server floor: \`pgbench -M prepared -c 8\`, same SQL, no HTTP | ${int(floors[e])} | | | | | |`);
  }
  if (notes.length) lines.push('', ...notes);
  return lines.join('\n');
}
