// The drop-in packages under npm/ (pgwarp-pg, pgwarp-pg-cursor, pgwarp-pg-query-stream): versioned
// with pgwarp, and working as an application gets them through an npm alias
// (`"pg": "npm:pgwarp-pg@..."`), from CommonJS and from ESM, default and named exports.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { databaseUrl } from './helpers';
import { driverName, pg } from './pg-driver';

const root = path.resolve(__dirname, '..');
const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version as string;
const packages = { pg: 'pgwarp-pg', 'pg-cursor': 'pgwarp-pg-cursor', 'pg-query-stream': 'pgwarp-pg-query-stream' };

// An application folder whose node_modules holds the packages under the names they alias.
const app = fs.mkdtempSync(path.join(os.tmpdir(), 'pgwarp-alias-'));
fs.mkdirSync(path.join(app, 'node_modules'));
fs.symlinkSync(root, path.join(app, 'node_modules', 'pgwarp'), 'dir');
for (const [alias, name] of Object.entries(packages)) fs.cpSync(path.join(root, 'npm', name), path.join(app, 'node_modules', alias), { recursive: true });
afterAll(() => fs.rmSync(app, { recursive: true, force: true }));

function run(file: string, source: string): string {
  fs.writeFileSync(path.join(app, file), source);
  return execFileSync(process.execPath, [path.join(app, file)], { cwd: app, env: { ...process.env, DATABASE_URL: databaseUrl }, timeout: 30_000 }).toString().trim();
}

describe('drop-in packages', () => {
  // (ESM libraries such as Drizzle get it through pg-alias-hooks.mjs: Drizzle's transaction test
  // fails without it, since its pool check is `instanceof` its own pg's Pool.)
  it.runIf(driverName === 'pgwarp/pg')("the tests' alias gives libraries pgwarp/pg for require('pg')", () => {
    const fromKnex = createRequire(path.join(root, 'node_modules', 'knex', 'package.json'));
    expect(fromKnex('pg')).toBe(pg);
    expect(fromKnex('pg-cursor')).toBe(require(path.join(root, 'dist/pg/pg-cursor.js')));
  });

  it('are versioned with pgwarp and depend on that version', () => {
    for (const name of Object.values(packages)) {
      const pkg = JSON.parse(fs.readFileSync(path.join(root, 'npm', name, 'package.json'), 'utf8'));
      expect([pkg.name, pkg.version, pkg.dependencies.pgwarp]).toEqual([name, version, version]);
    }
  });

  it('serve require("pg"), require("pg-cursor") and require("pg-query-stream")', () => {
    const out = run(
      'cjs.cjs',
      `const pg = require('pg');
       const Cursor = require('pg-cursor');
       const QueryStream = require('pg-query-stream');
       (async () => {
         const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
         const { rows } = await pool.query('select $1::int8 as n', [42]);
         const client = await pool.connect();
         const cursor = client.query(new Cursor('select generate_series(1, 3) as i'));
         const first = await cursor.read(2);
         await cursor.close();
         let streamed = 0;
         for await (const _ of client.query(new QueryStream('select generate_series(1, 5)'))) streamed++;
         client.release();
         await pool.end();
         console.log(JSON.stringify([pool.constructor.name, typeof pg.Client, pg.native, rows[0].n, first, streamed, pg.default === pg.default.default ? 'loop' : typeof pg.default.Pool]));
       })();`,
    );
    expect(JSON.parse(out)).toEqual(['Pool', 'function', null, '42', [{ i: 1 }, { i: 2 }], 5, 'function']);
  });

  it('serve import pg from "pg" and named imports', () => {
    const out = run(
      'esm.mjs',
      `import pg, { Pool, Client, types, escapeLiteral } from 'pg';
       import Cursor from 'pg-cursor';
       import QueryStream from 'pg-query-stream';
       const client = new Client(process.env.DATABASE_URL);
       await client.connect();
       const { rows } = await client.query('select 1.50::numeric as v');
       await client.end();
       console.log(JSON.stringify([pg.Pool === Pool, typeof types.setTypeParser, escapeLiteral("it's"), typeof Cursor, typeof QueryStream, rows[0].v]));`,
    );
    expect(JSON.parse(out)).toEqual([true, 'function', "'it''s'", 'function', 'function', '1.50']);
  });
});
