// Workloads: the data they need and one operation each. `check` folds the returned values into
// a number every driver must agree on, so nothing is skipped or half-decoded.

function jsonDoc(i) {
  const steps = [];
  for (let s = 0; s < 20; s++) {
    steps.push({ step: s, tool: `tool_${s % 5}`, input: { query: `lookup ${i}-${s}`, limit: 10 }, ok: s % 3 !== 0, ms: 10 + s });
  }
  return { session: i, agent: 'planner', model: 'm-large', tokens: { in: 1000 + i, out: 200 + i }, tags: ['a', 'b', 'c'], steps };
}

export const setupSql = (scale) => [
  `drop table if exists bench_wide`,
  `create table bench_wide (id int4, big int8, name text, score float8, flag bool, at timestamptz, price numeric(12,2), uid uuid, code text, maybe int4)`,
  `insert into bench_wide select i, i::int8 * 1000003, 'name-' || lpad(i::text, 15, '0'), i * 1.25, i % 2 = 0,
     timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second', (i * 3.17)::numeric(12,2),
     md5(i::text)::uuid, 'c' || (i % 97), case when i % 3 = 0 then null else i end
   from generate_series(1, ${scale.wideRows}) i`,
  `drop table if exists bench_json`,
  `create table bench_json (id int4 primary key, state jsonb)`,
];

export function jsonRows(scale) {
  const rows = [];
  for (let i = 1; i <= scale.jsonRows; i++) rows.push([i, JSON.stringify(jsonDoc(i))]);
  return rows;
}

const checkWide = (rows) => {
  let sum = 0;
  for (const r of rows) {
    sum += r.id + Number(r.big) % 1000 + r.name.length + r.score + (r.flag ? 1 : 0) + (r.at.getTime() % 1000) + Number(r.price) + r.uid.length + r.code.length + (r.maybe ?? 0);
  }
  return Math.round(sum);
};

const checkJson = (rows) => {
  let sum = 0;
  for (const r of rows) sum += r.id + r.state.steps.length + r.state.tokens.in + r.state.steps[19].input.query.length;
  return sum;
};

export const workloads = {
  W2: {
    title: 'W2 1000 rows x 10 mixed columns, all()',
    unit: 'rows',
    rowsPerOp: (scale) => scale.wideRows,
    run: (db) => db.all('select id, big, name, score, flag, at, price, uid, code, maybe from bench_wide'),
    check: checkWide,
  },
  W3: {
    title: 'W3 200 rows x ~2 KB jsonb, all()',
    unit: 'rows',
    rowsPerOp: (scale) => scale.jsonRows,
    run: (db) => db.all('select id, state from bench_json'),
    check: checkJson,
  },
  W3first: {
    title: 'W3 same query, first()',
    unit: 'queries',
    rowsPerOp: () => 1,
    run: async (db) => [await db.first('select id, state from bench_json order by id')],
    check: checkJson,
  },
};
