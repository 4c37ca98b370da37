// The HTTP app, one process per (driver, round): node server.mjs <driver> <database url>.
// Listens on a free port of 127.0.0.1 and tells the parent which one over IPC.
//
// Endpoints follow TechEmpower's database tests (db, queries, updates, fortunes) plus `tx`, a
// short transaction; `/__cpu` gives this process's CPU and event-loop counters, so the load
// generator can take them just before and after its measured window.
import * as http from 'node:http';
import { performance } from 'node:perf_hooks';

import { drivers } from './apps.mjs';

const [driverName, dbUrl] = process.argv.slice(2);
const app = drivers[driverName].open(dbUrl);

const randomId = () => 1 + Math.floor(Math.random() * 10_000);

/** TechEmpower's `queries` parameter: an integer clamped to 1..500, anything else is 1. */
function count(search) {
  const n = Number.parseInt(new URLSearchParams(search).get('queries'), 10);
  return Number.isNaN(n) ? 1 : Math.min(500, Math.max(1, n));
}

/** Distinct ids, so the batched UPDATE writes each row once and the answer matches the table. */
function distinctIds(n) {
  const ids = new Set();
  while (ids.size < n) ids.add(randomId());
  return [...ids];
}

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]);

const routes = {
  '/db': async () => json(await app.world(randomId())),
  '/queries': async (search) => json(await Promise.all(Array.from({ length: count(search) }, () => app.world(randomId())))),
  async '/updates'(search) {
    const worlds = await Promise.all(distinctIds(count(search)).map((id) => app.world(id)));
    for (const w of worlds) {
      // Always a new value, so every row really changes.
      let r;
      do r = randomId();
      while (r === w.randomNumber);
      w.randomNumber = r;
    }
    // Sorted by id: concurrent batches then lock rows in the same order and cannot deadlock.
    const sorted = [...worlds].sort((a, b) => a.id - b.id);
    await app.updateWorlds(
      sorted.map((w) => w.id),
      sorted.map((w) => w.randomNumber),
    );
    return json(worlds);
  },
  async '/fortunes'() {
    const rows = [...(await app.fortunes()), { id: 0, message: 'Additional fortune added at request time.' }];
    rows.sort((a, b) => (a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
    let html = '<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>';
    for (const f of rows) html += `<tr><td>${f.id}</td><td>${escapeHtml(f.message)}</td></tr>`;
    return ['text/html; charset=utf-8', html + '</table></body></html>'];
  },
  async '/tx'() {
    const id = randomId();
    return json({ id, balance: await app.deposit(id) });
  },
  '/__cpu': () => json({ cpu: process.cpuUsage(), elu: performance.eventLoopUtilization() }),
};

function json(value) {
  return ['application/json', JSON.stringify(value)];
}

// The first failure is printed with its stack; the rest are only counted (a broken adapter
// under 64 connections would otherwise flood the parent's stderr).
let failures = 0;
const server = http.createServer((req, res) => {
  const q = req.url.indexOf('?');
  const route = routes[q < 0 ? req.url : req.url.slice(0, q)];
  if (!route) {
    res.writeHead(404).end();
    return;
  }
  Promise.resolve(route(q < 0 ? '' : req.url.slice(q)))
    .then(([type, body]) => {
      res.writeHead(200, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), Server: 'pgwarp-bench' }).end(body);
    })
    .catch((e) => {
      if (failures++ === 0) console.error(`${driverName} ${req.url}: ${e?.stack ?? e}`);
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end(String(e?.message ?? e));
    });
});

server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));

// The parent going away (killed, crashed) closes the IPC channel: never outlive it.
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', async () => {
  server.close();
  await Promise.race([app.close(), new Promise((r) => setTimeout(r, 1000))]).catch(() => {});
  process.exit(0);
});
