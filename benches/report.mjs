// The harness's outputs: a Markdown table and an SVG chart of ratios to pg.

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const fmt = (n) => Math.round(n).toLocaleString('en');
const fix = (n) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

/** Medians per (workload, driver) with min-max and the ratio to pg. */
export function summarise(results, workloads, driverNames) {
  const rows = [];
  for (const w of Object.keys(workloads)) {
    const of = (d) => results.filter((r) => r.workload === w && r.driver === d && !r.skipped);
    const pgRuns = of('pg');
    const pgMedian = pgRuns.length ? median(pgRuns.map((r) => r.perSecond)) : undefined;
    for (const d of driverNames) {
      const skipped = results.find((r) => r.workload === w && r.driver === d && r.skipped);
      const rs = of(d);
      if (!rs.length) {
        if (skipped) rows.push({ workload: w, driver: d, skipped: skipped.reason });
        continue;
      }
      const ps = rs.map((r) => r.perSecond);
      const med = median(ps);
      rows.push({
        workload: w,
        driver: d,
        median: med,
        min: Math.min(...ps),
        max: Math.max(...ps),
        rounds: rs.length,
        ratio: pgMedian ? med / pgMedian : undefined,
        cpuUsPerUnit: median(rs.map((r) => r.cpuUsPerUnit)),
        jsUsPerUnit: median(rs.map((r) => r.jsUsPerUnit)),
        peakRssMb: Math.max(...rs.map((r) => r.peakRssMb)),
      });
    }
  }
  return rows;
}

export function markdown(summary, workloads, drivers, meta, extra) {
  const lines = [
    `Machine: ${meta.cores} x ${meta.cpu}; Node ${meta.node}; PostgreSQL ${meta.postgres}; ${meta.mode}.`,
    `${meta.rounds} measured round(s) of ${meta.seconds} s per driver after ${meta.warmup} s warm-up, drivers interleaved; medians (min-max). CPU and JS-thread time are per unit (query or row).`,
    '',
    '| workload | driver | per second (min-max) | vs pg | client CPU us | JS thread us | peak RSS MB |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of summary) {
    const w = workloads[r.workload];
    if (r.skipped) {
      lines.push(`| ${w.title} | ${drivers[r.driver].label} | n/a: ${r.skipped} | | | | |`);
      continue;
    }
    lines.push(
      `| ${w.title} | ${drivers[r.driver].label} | ${fmt(r.median)} ${w.unit} (${fmt(r.min)}-${fmt(r.max)}) | ${r.ratio ? r.ratio.toFixed(2) + 'x' : '-'} | ${fix(r.cpuUsPerUnit)} | ${fix(r.jsUsPerUnit)} | ${w.rss ? fix(r.peakRssMb) : ''} |`,
    );
  }
  if (extra.length) lines.push('', ...extra);
  return lines.join('\n');
}

const COLORS = { pgwarp: '#d9480f', pg: '#868e96', 'pg-best': '#495057', 'pg-native': '#1c7ed6', postgres: '#2f9e44' };

/** Horizontal grouped bars: for each workload, each driver's ratio to pg. */
export function svg(summary, workloads, drivers, meta) {
  const groups = Object.keys(workloads).filter((w) => summary.some((r) => r.workload === w && r.ratio));
  const names = Object.keys(drivers).filter((d) => summary.some((r) => r.driver === d && r.ratio));
  const bar = 14;
  const gap = 12;
  const left = 300;
  const width = 900;
  const scaleMax = Math.max(1.5, ...summary.filter((r) => r.ratio).map((r) => r.ratio));
  const x = (v) => left + ((width - left - 60) * v) / scaleMax;
  let y = 50;
  const parts = [];
  for (const w of groups) {
    const rows = names.map((d) => summary.find((r) => r.workload === w && r.driver === d)).filter((r) => r && r.ratio);
    parts.push(`<text x="${left - 10}" y="${y + (rows.length * bar) / 2 + 4}" text-anchor="end" font-size="12">${escape(workloads[w].title)}</text>`);
    for (const r of rows) {
      parts.push(`<rect x="${left}" y="${y}" width="${x(r.ratio) - left}" height="${bar - 2}" fill="${COLORS[r.driver] ?? '#999'}"/>`);
      parts.push(`<text x="${x(r.ratio) + 4}" y="${y + bar - 4}" font-size="10">${r.ratio.toFixed(2)}x</text>`);
      y += bar;
    }
    y += gap;
  }
  const legend = names
    .map((d, i) => `<rect x="${left + i * 150}" y="${y + 8}" width="10" height="10" fill="${COLORS[d] ?? '#999'}"/><text x="${left + i * 150 + 14}" y="${y + 17}" font-size="11">${escape(d)}</text>`)
    .join('');
  const height = y + 40;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="22" font-size="14" font-weight="bold">Throughput relative to pg (Pool) = 1.0; ${escape(meta.mode)}; ${escape(meta.date)}</text>
<line x1="${x(1)}" y1="35" x2="${x(1)}" y2="${y}" stroke="#000" stroke-dasharray="4 3"/>
${parts.join('\n')}
${legend}
</svg>
`;
}

function escape(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
