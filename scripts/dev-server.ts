/**
 * A real Temporal server on this machine, offline. Finds the Temporal CLI (`$TEMPORAL_CLI_PATH`, a `temporal`
 * on PATH, or the cached build) or builds v1.5.1 from Go modules once, caches it by version outside the repo,
 * and starts `temporal server start-dev` with SQLite persistence and the Web UI.
 * Later tags of the CLI cannot be built with `go install` (a replace directive in their go.mod).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../sdk/client.js';

const run = promisify(execFile);

export const TEMPORAL_CLI_VERSION = 'v1.5.1';

/** Where built tools are cached: `$MLOPS_TOOLS_DIR` or `~/.cache/temporal-mlops/tools`. */
export function toolsDir(): string {
  return process.env.MLOPS_TOOLS_DIR ?? path.join(os.homedir(), '.cache', 'temporal-mlops', 'tools');
}

async function works(binary: string): Promise<boolean> {
  try {
    await run(binary, ['--version'], { timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

async function onPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** Returns a working `temporal` binary, building it on first use (about 5 minutes on 2 cores). */
export async function ensureTemporalCli(log: (line: string) => void = console.log): Promise<string> {
  const explicit = process.env.TEMPORAL_CLI_PATH;
  if (explicit) {
    if (await works(explicit)) return explicit;
    throw new Error(`TEMPORAL_CLI_PATH=${explicit} does not run; unset it to use or build the cached CLI`);
  }
  const cacheDir = path.join(toolsDir(), `temporal-${TEMPORAL_CLI_VERSION.slice(1)}`);
  const cached = path.join(cacheDir, 'temporal');
  if (existsSync(cached) && (await works(cached))) return cached;
  const fromPath = await onPath('temporal');
  if (fromPath && (await works(fromPath))) return fromPath;

  log(
    `Building the Temporal CLI ${TEMPORAL_CLI_VERSION} from Go modules into ${cacheDir} (first time only, ~5 min)...`,
  );
  const staging = `${cacheDir}.building-${process.pid}`;
  await fs.mkdir(staging, { recursive: true });
  const started = Date.now();
  const child = spawn('go', ['install', `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`], {
    env: { ...process.env, CGO_ENABLED: '0', GOBIN: staging, GOFLAGS: '-trimpath' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const ticker = setInterval(
    () => log(`  ...still building the Temporal CLI (${Math.round((Date.now() - started) / 1000)} s)`),
    30_000,
  );
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve)).finally(() =>
    clearInterval(ticker),
  );
  if (code !== 0)
    throw new Error(
      `go install of the Temporal CLI failed (exit ${code}); is Go >= 1.25 installed and the Go module proxy reachable?`,
    );
  await fs.mkdir(cacheDir, { recursive: true });
  await fs.rename(path.join(staging, 'temporal'), cached);
  await fs.rm(staging, { recursive: true, force: true });
  log(`Built the Temporal CLI in ${Math.round((Date.now() - started) / 1000)} s: ${cached}`);
  return cached;
}

import { freePort } from '../activities/platform/free-port.js';
export { freePort };

/** Waits until a Temporal frontend answers at `address`. */
export async function waitForTemporal(address: string, timeoutMs = 60_000, alive?: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (alive && !alive()) throw new Error(`the Temporal server process exited before ${address} answered`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 2000 });
      try {
        await connection.workflowService.getSystemInfo({});
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`Temporal at ${address} did not answer within ${timeoutMs} ms: ${String(lastError)}`);
}

export interface DevServerOptions {
  port?: number;
  uiPort?: number;
  /** SQLite file; the server keeps its state there across restarts. */
  dbFile?: string;
  /** Server log file (default beside the database). */
  logFile?: string;
  headless?: boolean;
  /** A codec server the Web UI calls to show decrypted payloads (`--ui-codec-endpoint`), e.g. `temporal-mlops codec-server`'s URL. */
  uiCodecEndpoint?: string;
  /** Dynamic config values (`--dynamic-config-value K=V`, V as JSON), e.g. faster worker-deployment drainage. */
  dynamicConfig?: Record<string, string | number | boolean>;
  log?: (line: string) => void;
}

export interface DevServer {
  address: string;
  /** Web UI base URL, or undefined when headless or external. */
  uiUrl?: string;
  dbFile?: string;
  port: number;
  uiPort?: number;
  /** True when the server was found at `$TEMPORAL_ADDRESS`, not started here. */
  external: boolean;
  /** Graceful stop (SIGTERM). */
  stop(): Promise<void>;
  /** SIGKILL, for fault tests. */
  kill(): Promise<void>;
}

/** Starts `temporal server start-dev` and waits until it answers. */
export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const log = options.log ?? console.log;
  const cli = await ensureTemporalCli(log);
  const port = options.port ?? (await freePort());
  const uiPort = options.headless ? undefined : (options.uiPort ?? port + 1000);
  const dbFile = options.dbFile ?? path.join(os.tmpdir(), `temporal-mlops-${port}.db`);
  const logFile = options.logFile ?? `${dbFile}.log`;
  await fs.mkdir(path.dirname(dbFile), { recursive: true });
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--db-filename',
    dbFile,
    '--namespace',
    'default',
    '--log-level',
    'warn',
  ];
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  if (uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(uiPort));
  if (options.uiCodecEndpoint && uiPort !== undefined) args.push('--ui-codec-endpoint', options.uiCodecEndpoint);
  for (const [key, value] of Object.entries(options.dynamicConfig ?? {}))
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  const out = openSync(logFile, 'a');
  const child: ChildProcess = spawn(cli, args, { stdio: ['ignore', out, out], detached: false });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const address = `127.0.0.1:${port}`;
  try {
    await waitForTemporal(address, 90_000, () => !exited);
  } catch (err) {
    child.kill('SIGKILL');
    const tail = await fs.readFile(logFile, 'utf8').then(
      (t) => t.split('\n').slice(-15).join('\n'),
      () => '',
    );
    throw new Error(`${(err as Error).message}\nServer log (${logFile}):\n${tail}`);
  }
  const waitExit = () => (exited ? Promise.resolve() : new Promise<void>((r) => child.once('exit', () => r())));
  return {
    address,
    uiUrl: uiPort === undefined ? undefined : `http://127.0.0.1:${uiPort}`,
    dbFile,
    port,
    uiPort,
    external: false,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await waitExit();
      clearTimeout(timer);
    },
    async kill() {
      if (exited) return;
      child.kill('SIGKILL');
      await waitExit();
    },
  };
}

/** Uses the server at `$TEMPORAL_ADDRESS` when set, else starts a dev server. */
export async function ensureServer(options: DevServerOptions = {}): Promise<DevServer> {
  const address = process.env.TEMPORAL_ADDRESS;
  if (!address) return startDevServer(options);
  await waitForTemporal(address, 15_000);
  const port = Number(address.split(':').pop());
  return { address, port, external: true, stop: async () => undefined, kill: async () => undefined };
}
