/**
 * The compiled engine, loaded by napi-rs' generated loader: a local build in `native/`, or the
 * `pgwarp-<platform>` package npm installed as an optional dependency. When neither loads,
 * the error says which package was looked for and how to build from source.
 * @module
 */
import type * as Binding from '../../native/index.js';
import { missingEngineError } from './platform';

function load(): typeof Binding {
  try {
    return require('../../native/index.js');
  } catch (cause) {
    throw missingEngineError(cause);
  }
}

const binding = load();

/** The engine's pool of connections (one per shard), driven by `bridge.ts`. */
export const NativePool = binding.NativePool;
export type NativePool = Binding.NativePool;
export type { NativeConnectionInfo, NativeHostStats, NativePoolOptions, NativeShardStats } from '../../native/index.js';
