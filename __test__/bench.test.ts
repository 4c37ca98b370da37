import { spawnSync } from 'node:child_process';

import { describe, expect, it } from 'vitest';

import { databaseUrl } from './helpers';

describe('benchmark harness', () => {
  it('runs every workload with every driver at --quick sizes and agrees on checksums', () => {
    const r = spawnSync(process.execPath, ['benches/run.mjs', '--quick', '--no-write'], {
      env: { ...process.env, DATABASE_URL: databaseUrl },
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.stderr).not.toMatch(/failed|mismatch/i);
    expect(r.status).toBe(0);
    for (const w of ['W1 select $1::int, 1 in flight', '64 in flight', '1024 in flight', 'W2 ', 'W3 ', 'W3 same query, first()', 'W4 ', 'W4c ', 'W4r ', 'W5 ', 'W6 ']) {
      expect(r.stdout).toContain(w);
    }
    // Each available driver produced a number for the data workloads.
    expect(r.stdout).toMatch(/W2 [^\n]*\| pgwarp \| [\d,]+ rows/);
    expect(r.stdout).toMatch(/W2 [^\n]*\| pg \(Pool\) \| [\d,]+ rows/);
    expect(r.stdout).toMatch(/W2 [^\n]*\| postgres\.js \| [\d,]+ rows/);
    for (const w of ['W4c', 'W4r', 'W5']) expect(r.stdout).toMatch(new RegExp(`${w} [^\n]*\\| pgwarp \\| [\\d,]+ rows`));
  }, 150_000);
});
