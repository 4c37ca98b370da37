// Driver adapters: each opens a pool, runs `all(sql, params)` (every row materialised) and
// `first(sql, params)`, and closes. Each runs in its own child process (see worker.mjs).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const drivers = {
  async pgwarp(url, { connections }) {
    const { Pool } = require('../dist/index.js');
    const pool = new Pool(url, { max: connections });
    return {
      all: (sql, params) => pool.query(sql, params).all(),
      first: (sql, params) => pool.query(sql, params).first(),
      close: () => pool.close(),
    };
  },
  async pg(url, { connections }) {
    const pg = require('pg');
    const pool = new pg.Pool({ connectionString: url, max: connections });
    return {
      all: async (sql, params) => (await pool.query(sql, params)).rows,
      first: async (sql, params) => (await pool.query(sql, params)).rows[0] ?? null,
      close: () => pool.end(),
    };
  },
  async postgres(url, { connections }) {
    const postgres = require('postgres');
    const sql = postgres(url, { max: connections, onnotice: () => {} });
    return {
      all: (text, params) => sql.unsafe(text, params ?? [], { prepare: true }),
      first: async (text, params) => (await sql.unsafe(text, params ?? [], { prepare: true }))[0] ?? null,
      close: () => sql.end(),
    };
  },
};
