/**
 * Which prebuilt engine this machine needs, and what to tell the user when it is missing.
 *
 * napi-rs names a binary by platform, arch and, on Linux, libc (`linux-x64-musl`); the
 * package holding it is `pgwarp-<that name>`, listed in the main package's
 * `optionalDependencies`, so npm installs only the one whose `os`, `cpu` and `libc` fit.
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

interface Manifest {
  name: string;
  version: string;
  optionalDependencies?: Record<string, string>;
}

function manifest(): Manifest {
  // dist/engine/platform.js and src/engine/platform.ts both sit two levels below package.json.
  return JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
}

/**
 * True on a musl libc (Alpine). Node's own report names the glibc it runs on; a musl build of
 * Node has none.
 */
export function isMusl(): boolean {
  if (process.platform !== 'linux') return false;
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  if (report?.header) return !report.header.glibcVersionRuntime;
  try {
    return fs.readFileSync('/usr/bin/ldd', 'utf8').includes('musl');
  } catch {
    return false;
  }
}

/** The napi-rs platform name of the engine this process loads, e.g. `linux-x64-gnu`. */
export function hostPlatform(): string {
  const { platform, arch } = process;
  if (platform === 'linux') return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`;
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

/** The platforms with a prebuilt engine on npm: the main package's optional dependencies. */
export function prebuiltPlatforms(pkg: Manifest = manifest()): string[] {
  const { name, optionalDependencies = {} } = pkg;
  return Object.keys(optionalDependencies)
    .filter((dep) => dep.startsWith(`${name}-`))
    .map((dep) => dep.slice(name.length + 1));
}

/**
 * The error for an engine that did not load: which package was looked for, why it may be
 * missing, and how to build the engine from source where no binary is published.
 */
export function missingEngineError(cause: unknown): Error {
  const own = manifest();
  const { name, version } = own;
  const platform = hostPlatform();
  const pkg = `${name}-${platform}`;
  const prebuilt = prebuiltPlatforms(own);
  const fromSource =
    `To build the engine from source (needs Rust's cargo): clone pgwarp, run \`npm install && npm run build:native\`, ` +
    `and set NAPI_RS_NATIVE_LIBRARY_PATH to the built native/${name}.${platform}.node.`;
  let why: string;
  if (!prebuilt.includes(platform)) {
    why = `pgwarp has no prebuilt engine for ${platform} (prebuilt: ${prebuilt.join(', ')}).`;
  } else if (installed(pkg)) {
    why =
      `the package ${pkg} is installed but its engine failed to load ` +
      `(${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}); reinstall ${pkg}@${version}.`;
  } else {
    why =
      `it looked for the npm package ${pkg}@${version}, which is not installed. npm installs it as an optional ` +
      `dependency of pgwarp; it is missing after \`--omit=optional\`, or when package-lock.json was written on ` +
      `another platform (npm/cli#4828): run \`npm install ${pkg}@${version}\`.`;
  }
  const error = new Error(`pgwarp could not load its engine for ${platform}: ${why} ${fromSource}`);
  (error as Error & { cause?: unknown }).cause = cause;
  return error;
}

function installed(pkg: string): boolean {
  try {
    require.resolve(`${pkg}/package.json`);
    return true;
  } catch {
    return false;
  }
}
