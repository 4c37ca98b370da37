// npm run fuzz [-- --seconds N] [target ...]
// Runs each libFuzzer target (fuzz/fuzz_targets) for N seconds (default 60) with cargo-fuzz,
// keeping its corpus in fuzz/corpus/<target> between runs. A crash leaves its input in
// fuzz/artifacts/<target> and fails the run. `npm test` runs a seeded share of the same
// targets through `cargo test` (crates/pgwarp-core/src/fuzz_targets.rs).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const args = process.argv.slice(2);
const at = args.indexOf('--seconds');
const seconds = at >= 0 ? Number(args.splice(at, 2)[1]) : 60;
const all = fs.readdirSync(path.join(here, 'fuzz_targets')).map((f) => f.replace(/\.rs$/, '')).sort();
const targets = args.length ? args : all;

if (spawnSync('cargo', ['fuzz', '--version'], { stdio: 'ignore' }).status !== 0) {
  console.error('cargo-fuzz is missing; installing it (cargo install cargo-fuzz --locked)...');
  if (spawnSync('cargo', ['install', 'cargo-fuzz', '--locked'], { stdio: 'inherit' }).status !== 0) process.exit(1);
}

// libFuzzer needs the nightly-only sanitizer flags; RUSTC_BOOTSTRAP lets stable rustc take them.
const env = { ...process.env, RUSTC_BOOTSTRAP: '1' };
let failed = false;
for (const t of targets) {
  fs.mkdirSync(path.join(here, 'corpus', t), { recursive: true });
  const r = spawnSync('cargo', ['fuzz', 'run', t, path.join('corpus', t), '--', `-max_total_time=${seconds}`, '-rss_limit_mb=4096', '-print_final_stats=1'], {
    cwd: here,
    env,
    encoding: 'utf8',
  });
  const out = `${r.stdout}\n${r.stderr}`;
  const runs = /stat::number_of_executed_units:\s*(\d+)/.exec(out)?.[1] ?? '?';
  const cov = [...out.matchAll(/cov: (\d+)/g)].pop()?.[1] ?? '?';
  const ok = r.status === 0;
  failed ||= !ok;
  console.log(`${t}: ${ok ? 'ok' : 'FAILED'}, ${runs} inputs in ${seconds} s, coverage ${cov}`);
  if (!ok) console.log(out.split('\n').filter((l) => /panicked|ERROR|artifact|SUMMARY/.test(l)).slice(0, 20).join('\n'));
}
process.exit(failed ? 1 : 0);
