// Makes `pg`, `pg-cursor` and `pg-query-stream` resolve to pgwarp's drop-ins in this test process,
// for CommonJS `require` and ESM `import` alike: what an npm alias
// (`"pg": "npm:pgwarp-pg@..."` in dependencies and overrides) does for an application, so
// libraries that load `pg` themselves (Drizzle, Prisma's adapter, pg-boss, Knex) run on pgwarp.
// A vitest setup file; with PGWARP_PG_DRIVER=pg it does nothing, and the real pg runs.
import Module from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

if (process.env.PGWARP_PG_DRIVER !== 'pg') {
  const root = path.resolve(__dirname, '..');
  const cjs: Record<string, string> = {
    pg: path.join(root, 'dist/pg/index.js'),
    'pg-cursor': path.join(root, 'dist/pg/pg-cursor.js'),
    'pg-query-stream': path.join(root, 'dist/pg/pg-query-stream.js'),
  };
  const esm: Record<string, string> = {
    pg: pathToFileURL(path.join(root, 'esm/pg.mjs')).href,
    'pg-cursor': pathToFileURL(path.join(root, 'esm/pg-cursor.mjs')).href,
    'pg-query-stream': pathToFileURL(path.join(root, 'esm/pg-query-stream.mjs')).href,
  };
  const m = Module as unknown as { _resolveFilename(request: string, ...rest: unknown[]): string };
  const original = m._resolveFilename;
  m._resolveFilename = function (request: string, ...rest: unknown[]) {
    return original.call(this, cjs[request] ?? request, ...rest);
  };
  Module.register(pathToFileURL(path.join(__dirname, 'pg-alias-hooks.mjs')).href, { data: esm });
}
