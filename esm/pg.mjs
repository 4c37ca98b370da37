// ESM entry of pgwarp/pg: the CommonJS module's exports, default and named (as pg's own esm/index.mjs).
import pg from '../dist/pg/index.js';

export default pg.default;
export const { Client, Pool, Query, Result, types, defaults, DatabaseError, TypeOverrides, escapeIdentifier, escapeLiteral, native } = pg;
