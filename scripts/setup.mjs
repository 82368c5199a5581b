// Set-up shared by `npm run demo` and `npm test` on a fresh clone: installs what is missing, skips what is
// current. Plain Node with no dependencies, because it runs before `npm ci`.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function step(title) {
  console.log(`\n\u25b6 ${title}`);
}

export function sh(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { stdio: 'inherit', cwd: ROOT, ...options });
  if (result.error) throw new Error(`${cmd} could not start: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${result.status}`);
}

/**
 * Installs npm dependencies when node_modules is missing or older than package-lock.json. `npm install`
 * rather than `npm ci`: some registries serve only the current platform's optional native builds (e.g.
 * @swc/core-darwin-*), which `npm ci` reports as a lock mismatch; `npm install` honours the lock unchanged.
 */
export function ensureNodeDeps() {
  const marker = path.join(ROOT, 'node_modules', '.package-lock.json');
  const lock = path.join(ROOT, 'package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  step('Installing npm dependencies');
  sh('npm', ['install', '--no-audit', '--no-fund']);
}

/** A project-local virtualenv with the example's Python dependencies, reinstalled when requirements change. */
export function ensurePythonVenv() {
  const requirements = path.join(ROOT, 'examples', 'breast-cancer', 'requirements.txt');
  const venv = path.join(ROOT, '.venv');
  const stamp = path.join(venv, '.requirements.sha256');
  const want = createHash('sha256').update(readFileSync(requirements)).digest('hex');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return;
  step('Creating the Python virtualenv .venv (scikit-learn for the example, ~30 s)');
  const python = process.env.PYTHON ?? 'python3';
  sh(python, ['-m', 'venv', venv]);
  sh(path.join(venv, 'bin', 'python'), [
    '-m',
    'pip',
    'install',
    '--quiet',
    '--disable-pip-version-check',
    '-r',
    requirements,
  ]);
  writeFileSync(stamp, want);
}

/**
 * The Temporal CLI and, for the tests, fake-gcs-server and the Kubernetes control plane + kwok, built from Go
 * modules once and cached by version (see scripts/dev-server.ts, scripts/fake-gcs.ts, scripts/kube.ts).
 */
export function ensureTools({ gcs = false, kube = false } = {}) {
  const extra = [gcs && 'fake-gcs-server', kube && 'the Kubernetes control plane'].filter(Boolean);
  step(
    `Checking the Temporal CLI${extra.map((e) => ` and ${e}`).join('')} (built once from Go modules, cached by version)`,
  );
  sh(process.execPath, [
    '--import',
    'tsx',
    'scripts/ensure-tools.ts',
    ...(gcs ? ['--gcs'] : []),
    ...(kube ? ['--kube'] : []),
  ]);
}

/** Installs Debian packages that are missing (apt-get, with sudo unless root). */
function ensureDebianPackages(packages, why) {
  if (packages.length === 0) return;
  step(`Installing Debian ${packages.join(', ')} ${why}`);
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  const run = (args) => (sudo.length ? sh('sudo', args) : sh(args[0], args.slice(1)));
  run(['apt-get', 'update', '-q']);
  run(['apt-get', 'install', '-y', '-q', '--no-install-recommends', ...packages]);
}

/**
 * Debian's Chromium for the browser tests (Playwright drives it), Prometheus for the rollout analysis tests and
 * nginx as the TLS-terminating gRPC proxy of the production-connection tests; nothing is downloaded at run time.
 */
export function ensureTestPackages() {
  const missing = [
    !existsSync(process.env.CHROMIUM_PATH ?? '/usr/bin/chromium') && 'chromium',
    !existsSync(process.env.PROMETHEUS_PATH ?? '/usr/bin/prometheus') && 'prometheus',
    !existsSync(process.env.NGINX_PATH ?? '/usr/sbin/nginx') && 'nginx',
  ].filter(Boolean);
  ensureDebianPackages(missing, 'for the Web UI browser, rollout analysis and TLS connection tests');
}
