// npm run package: writes to packages/ the tarballs a release publishes for this host, named
// as `npm pack` names them: the main package (TypeScript build and loader, no engine) and the
// host's platform package (the engine alone). The install test installs exactly these, and the
// release workflow publishes the main tarball this writes (`--main-only`: no engine build).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'packages');
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const mainOnly = process.argv.includes('--main-only');
const npm = (args, cwd = root) => execFileSync('npm', args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] }).toString();

// The engine as the release builds it (`napi build --release`), and the TypeScript. Both are
// no-ops when nothing changed. PGWARP_PREBUILT_ENGINE=1 packs the engine already in native/
// instead: the release's test jobs test the artifact the build job made, on runners (Alpine)
// that have no cargo, and a rebuild there would test a different binary.
const prebuilt = process.env.PGWARP_PREBUILT_ENGINE === '1';
if (!mainOnly && !prebuilt) execFileSync('npm', ['run', '--silent', 'build:native'], { cwd: root, stdio: 'inherit' });
execFileSync('npm', ['run', '--silent', 'build:ts'], { cwd: root, stdio: 'inherit' });

const { hostPlatform } = createRequire(import.meta.url)(path.join(root, 'dist', 'engine', 'platform.js'));
const platform = hostPlatform();
const engine = `${manifest.napi.binaryName}.${platform}.node`;
const platformDir = path.join(root, 'npm', platform);
if (!mainOnly && !fs.existsSync(platformDir)) throw new Error(`no npm/${platform}: this host has no platform package`);
if (!mainOnly && !fs.existsSync(path.join(root, 'native', engine))) throw new Error(`no native/${engine} to pack`);

fs.mkdirSync(out, { recursive: true });
for (const f of fs.readdirSync(out)) if (f.endsWith('.tgz')) fs.rmSync(path.join(out, f));

/** `npm pack` of one folder into `dest`, returning what npm says it packed. */
function pack(dir, dest = out) {
  // --ignore-scripts: build:ts already ran above; prepare would only repeat it.
  const [info] = JSON.parse(npm(['pack', dir, '--ignore-scripts', '--json', '--pack-destination', dest]));
  return info;
}

const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'pgwarp-package-'));
process.on('exit', () => fs.rmSync(staging, { recursive: true, force: true }));

// The main package ships without `scripts`: they are the repository's (build, test, bench),
// and `prepare`, which git installs need to build dist/, would otherwise be listed to consumers
// as an install script (npm 11 lists `prepare` for tarball installs, though it never runs it).
const first = pack(root, staging);
execFileSync('tar', ['xzf', path.join(staging, first.filename), '-C', staging]);
const packed = path.join(staging, 'package');
const publishedManifest = JSON.parse(fs.readFileSync(path.join(packed, 'package.json'), 'utf8'));
delete publishedManifest.scripts;
fs.writeFileSync(path.join(packed, 'package.json'), `${JSON.stringify(publishedManifest, null, 2)}\n`);
const main = pack(packed);
const mainFiles = main.files.map((f) => f.path);
const strays = mainFiles.filter((f) => f.endsWith('.node'));
if (strays.length) throw new Error(`the main package would ship an engine: ${strays.join(', ')}`);
for (const needed of ['dist/index.js', 'native/index.js', 'package.json']) {
  if (!mainFiles.includes(needed)) throw new Error(`the main package lacks ${needed}`);
}

const written = [main];
if (!mainOnly) {
  // The platform package as the release assembles it: npm/<platform> plus the engine beside it.
  const hostDir = path.join(staging, platform);
  fs.mkdirSync(hostDir);
  for (const f of fs.readdirSync(platformDir)) fs.copyFileSync(path.join(platformDir, f), path.join(hostDir, f));
  fs.copyFileSync(path.join(root, 'native', engine), path.join(hostDir, engine));
  const host = pack(hostDir);
  if (!host.files.some((f) => f.path === engine)) throw new Error(`${host.filename} lacks ${engine}`);
  written.push(host);
}
for (const info of written) {
  console.log(
    `packages/${info.filename}: ${(info.size / 1024).toFixed(1)} KiB packed, ` +
      `${(info.unpackedSize / 1024).toFixed(1)} KiB unpacked, ${info.entryCount} files`,
  );
}
