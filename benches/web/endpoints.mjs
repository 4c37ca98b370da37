// What the harness knows about each endpoint: its path, a correctness check run against every
// freshly started app before it is measured (a broken adapter must fail, not post a fast
// number), and the pgbench script that gives the server's own limit for the same SQL.
import { FORTUNES, WORLD_ROWS } from './schema.mjs';

const QUERIES = 20;
const ADDED = 'Additional fortune added at request time.';

function assert(ok, what) {
  if (!ok) throw new Error(what);
}

const isId = (n) => Number.isInteger(n) && n >= 1 && n <= WORLD_ROWS;

/** Each row well-formed and equal to what the table holds now (nothing runs beside the check). */
async function checkWorlds(rows, admin) {
  for (const w of rows) {
    assert(w && Object.keys(w).join() === 'id,randomNumber', `expected {id, randomNumber}, got ${JSON.stringify(w)}`);
    assert(isId(w.id) && isId(w.randomNumber), `id and randomNumber must be integers in 1..${WORLD_ROWS}: ${JSON.stringify(w)}`);
  }
  const stored = await admin.query('select id, randomnumber from world where id = any($1::int[])', [rows.map((w) => w.id)]).all();
  const byId = new Map(stored.map((r) => [r.id, r.randomnumber]));
  for (const w of rows) assert(byId.get(w.id) === w.randomNumber, `world ${w.id} is ${byId.get(w.id)} in the table, the app said ${w.randomNumber}`);
}

const json = (res) => {
  assert(res.type.startsWith('application/json'), `content-type ${res.type}`);
  return JSON.parse(res.body);
};

export const endpoints = {
  db: {
    path: '/db',
    title: 'db (one random row)',
    check: (res, admin) => checkWorlds([json(res)], admin),
    floor: '\\set id random(1, 10000)\nselect id, randomnumber from world where id = :id;\n',
  },
  queries: {
    path: `/queries?queries=${QUERIES}`,
    title: `queries (${QUERIES} rows, issued together)`,
    async check(res, admin) {
      const rows = json(res);
      assert(Array.isArray(rows) && rows.length === QUERIES, `expected ${QUERIES} rows`);
      await checkWorlds(rows, admin);
    },
  },
  updates: {
    path: `/updates?queries=${QUERIES}`,
    title: `updates (${QUERIES} reads, one batched update)`,
    async check(res, admin) {
      const rows = json(res);
      assert(Array.isArray(rows) && rows.length === QUERIES, `expected ${QUERIES} rows`);
      // The table must hold the new numbers the app answered with: the update was written.
      await checkWorlds(rows, admin);
    },
  },
  fortunes: {
    path: '/fortunes',
    title: 'fortunes (12 rows + 1, sorted, HTML)',
    check(res) {
      assert(res.type.startsWith('text/html') && /charset=utf-8/i.test(res.type), `content-type ${res.type}`);
      const cells = [...res.body.matchAll(/<tr><td>(\d+)<\/td><td>(.*?)<\/td><\/tr>/g)];
      assert(cells.length === FORTUNES.length + 1, `expected ${FORTUNES.length + 1} rows, got ${cells.length}`);
      // Code-unit order: '<' sorts before capitals, lower case after them, Japanese last.
      const expected = [...FORTUNES, [0, ADDED]].sort((a, b) => (a[1] < b[1] ? -1 : 1)).map((f) => f[0]);
      assert(cells.map((c) => Number(c[1])).join() === expected.join(), `rows out of order: ${cells.map((c) => c[1]).join()}`);
      assert(res.body.includes('<td>&lt;script&gt;alert(&quot;This should not be displayed in a browser alert box.&quot;);&lt;/script&gt;</td>'), 'the script tag is not escaped');
      assert(res.body.includes('<td>フレームワークのベンチマーク</td>'), 'the Japanese fortune is mangled');
      assert(res.body.includes(`<td>${ADDED}</td>`), 'the added fortune is missing');
    },
    floor: 'select id, message from fortune;\n',
  },
  tx: {
    path: '/tx',
    title: 'tx (select for update, update, commit)',
    async check(res, admin) {
      const { id, balance } = json(res);
      assert(isId(id) && Number.isInteger(balance) && balance >= 1, `expected {id, balance}, got ${res.body}`);
      const stored = await admin.query('select balance from account where id = $1', [id]).scalar();
      assert(Number(stored) === balance, `account ${id} holds ${stored}, the app said ${balance}`);
    },
  },
};
