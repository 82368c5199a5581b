/**
 * fake-gcs-server (github.com/fsouza/fake-gcs-server), a GCS emulator speaking the JSON and upload APIs,
 * built from Go modules once and cached by version like the Temporal CLI. Tests point
 * `@google-cloud/storage` at it with `apiEndpoint`. Loopback only, in-memory backend.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, toolsDir } from './dev-server.js';

export const FAKE_GCS_VERSION = 'v1.55.1';
const run = promisify(execFile);

/** Returns the fake-gcs-server binary, building it on first use (about 2 minutes). */
export async function ensureFakeGcs(log: (line: string) => void = console.log): Promise<string> {
  const dir = path.join(toolsDir(), `fake-gcs-server-${FAKE_GCS_VERSION.slice(1)}`);
  const binary = path.join(dir, 'fake-gcs-server');
  if (existsSync(binary)) return binary;
  log(`Building fake-gcs-server ${FAKE_GCS_VERSION} from Go modules into ${dir} (first time only, ~2 min)...`);
  const staging = `${dir}.building-${process.pid}`;
  await fs.mkdir(staging, { recursive: true });
  await run('go', ['install', `github.com/fsouza/fake-gcs-server@${FAKE_GCS_VERSION}`], {
    env: { ...process.env, CGO_ENABLED: '0', GOBIN: staging },
    maxBuffer: 16 << 20,
  });
  await fs.mkdir(dir, { recursive: true });
  await fs.rename(path.join(staging, 'fake-gcs-server'), binary);
  await fs.rm(staging, { recursive: true, force: true });
  return binary;
}

export interface FakeGcs {
  endpoint: string;
  stop(): Promise<void>;
}

/** Starts the emulator on a free loopback port (http, in-memory) and waits until it answers. */
export async function startFakeGcs(): Promise<FakeGcs> {
  const binary = await ensureFakeGcs();
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(
    binary,
    [
      '-scheme',
      'http',
      '-host',
      '127.0.0.1',
      '-port',
      String(port),
      '-backend',
      'memory',
      '-external-url',
      endpoint,
      '-log-level',
      'error',
    ],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(`${endpoint}/storage/v1/b`);
      if (res.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`fake-gcs-server did not start on ${endpoint}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    endpoint,
    stop: async () => {
      child.kill('SIGTERM');
    },
  };
}
