// The engine's threads ask Linux for SCHED_BATCH (no wake-up preemption of the JavaScript
// thread) unless `batchThreads: false`; read back from /proc, as the kernel applied it.
import { readdirSync, readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { Pool } from '../src';
import { newPool } from './helpers';

const SCHED_OTHER = 0;
const SCHED_BATCH = 3;

/** The engine threads of this process, by thread id, with their scheduling policy. */
function engineThreads(): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    if (!name.startsWith('pgwarp-shard')) continue;
    // Fields after the name start at field 3; the policy is field 41.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(tid, Number(fields[41 - 3]));
  }
  return out;
}

/** The policies of the threads that `start` made. */
async function policiesOf(start: () => Promise<void>): Promise<number[]> {
  const before = engineThreads();
  await start();
  return [...engineThreads()].filter(([tid]) => !before.has(tid)).map(([, policy]) => policy);
}

describe.runIf(process.platform === 'linux')('engine threads', () => {
  it('run under SCHED_BATCH by default, under the default policy with batchThreads: false', async () => {
    const batch = await policiesOf(async () => {
      await newPool({ shards: 2 }).query('select 1').all();
    });
    expect(batch).toEqual([SCHED_BATCH, SCHED_BATCH]);
    const normal = await policiesOf(async () => {
      await newPool({ batchThreads: false }).query('select 1').all();
    });
    expect(normal).toEqual([SCHED_OTHER]);
  });

  it('refuse a batchThreads that is not a boolean', () => {
    expect(() => new Pool('postgres://localhost/x', { batchThreads: 'yes' as unknown as boolean })).toThrow(
      'batchThreads must be true or false, not "yes"',
    );
  });
});
