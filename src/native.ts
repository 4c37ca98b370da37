/**
 * The compiled engine, loaded by napi-rs' generated loader (local build, or the
 * `pgwarp-<platform>` optional dependency).
 * @module
 */
export { NativePool } from '../native/index.js';
export type { NativePoolOptions, NativeShardStats } from '../native/index.js';
