/**
 * The package as a team installs it: `npm pack` (whose prepack builds dist/), the tarball installed offline into a
 * scratch TypeScript project, a consumer compiled by that project's own tsc (strict, NodeNext) and run with plain
 * node, no tsx: its worker bundles the workflows from node_modules and runs a pipeline to a served model on the
 * suite's dev server. The installed `temporal-mlops` command answers too.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stopLocalServer } from '../../activities/index.js';
import { fixturePipeline } from '../helpers/harness.js';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURES = path.join(ROOT, 'test', 'fixtures');
// Unique per run: the monitor's workflow id (monitor/<model>) is global on the shared dev server.
const MODEL = `pkg-${Date.now().toString(36)}`;

let dir: string;
let scratch: string;
let home: string;
let packed: { filename: string; files: { path: string }[] };
const children: ChildProcess[] = [];

const readJson = async <T>(file: string) => JSON.parse(await fs.readFile(file, 'utf8')) as T;

/**
 * A lockfile for the scratch project holding the repo's resolved versions. Needed for `--offline`: npm 11 resolves
 * specs without a lock from full packuments, while the cache holds only the abbreviated ones that the repo's
 * lockfile install fetched, so a lockless offline install fails with ENOTCACHED. With this lock npm takes the
 * cached tarballs, prunes what the package does not depend on (dev tools, tsx), and the consumer gets the
 * versions the repo is tested with.
 */
async function scratchLock(dependencies: Record<string, string>, tarball: string) {
  const repoLock = await readJson<{ packages: Record<string, Record<string, unknown>> }>(
    path.join(ROOT, 'package-lock.json'),
  );
  const manifest = await readJson<Record<string, unknown>>(path.join(ROOT, 'package.json'));
  const packages: Record<string, unknown> = { '': { name: 'scratch', version: '1.0.0', dependencies } };
  for (const [location, entry] of Object.entries(repoLock.packages)) {
    if (location === '') continue;
    const { dev: _dev, devOptional: _devOptional, ...rest } = entry;
    packages[location] = rest;
  }
  packages['node_modules/temporal-mlops'] = {
    version: manifest.version,
    resolved: `file:${tarball}`,
    dependencies: manifest.dependencies,
    bin: manifest.bin,
    engines: manifest.engines,
  };
  return { name: 'scratch', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

const CONSUMER = `
import { definePipeline, local, localServer, monitorWorkflowId, PipelineClient, type PipelineConfig, type PipelineResult } from 'temporal-mlops';
import { createPipelineWorker, workflowsPath } from 'temporal-mlops/worker';
import { mlPipeline } from 'temporal-mlops/workflow';
import { stopLocalServer } from 'temporal-mlops/activities';

// Fails to compile if the published declarations degrade to any.
type IsAny<T> = 0 extends 1 & T ? true : false;
const typed: [IsAny<typeof createPipelineWorker>, IsAny<typeof mlPipeline>, IsAny<PipelineResult>] = [false, false, false];

const [address, taskQueue, home, fixtures, model, ingestJson] = process.argv.slice(2) as [string, string, string, string, string, string];
const pipeline = definePipeline({
  name: model,
  // The suite's iris fixture (test/helpers/harness.ts), passed in as JSON.
  ingest: JSON.parse(ingestJson) as PipelineConfig['ingest'],
  train: { backend: local({ command: ['python3', fixtures + '/train_fixture.py'] }) },
  gate: { metrics: { auc: { min: 0.8 } } },
  approval: { required: false },
  // Monitoring puts the request-logging proxy (a Node script spawned from dist/) in front of the model server.
  deploy: { target: localServer({ command: ['python3', fixtures + '/serve_fixture.py'], healthTimeout: '20s' }) },
  monitor: { enabled: true, window: '1h' },
});

const worker = await createPipelineWorker({ address, taskQueue, home, pipelines: [pipeline], worker: { shutdownGraceTime: '2s' } });
const running = worker.run();
const client = await PipelineClient.connect({ address, taskQueue });
try {
  const run = await client.start(pipeline, { requestedBy: 'ci@acme.com' });
  const result = await client.result(run);
  const status = await client.status(run);
  const res = await fetch(result.deployment!.predictUrl, {
    method: 'POST',
    body: JSON.stringify({ instances: [{ sepal_length: 1, sepal_width: 1, petal_length: 1, petal_width: 1 }] }),
  });
  const prediction: unknown = await res.json();
  console.log('RESULT ' + JSON.stringify({ typed, workflow: typeof mlPipeline, workflowsPath: workflowsPath(), stage: status.stage, stages: status.stages, prediction }));
} finally {
  await client.handle(monitorWorkflowId(model)).terminate('consumer done').catch(() => undefined);
  await stopLocalServer(home, model);
  await client.close();
  worker.shutdown();
  await running;
}
`;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mlops-package-'));
  scratch = path.join(dir, 'scratch');
  home = path.join(dir, 'home');
  await fs.mkdir(scratch);
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], {
    cwd: ROOT,
    maxBuffer: 64 << 20,
  });
  packed = (JSON.parse(stdout) as (typeof packed)[])[0]!;
  const tarball = path.join(dir, packed.filename);

  const version = async (pkg: string) =>
    (await readJson<{ version: string }>(path.join(ROOT, 'node_modules', pkg, 'package.json'))).version;
  const dependencies = {
    '@types/node': await version('@types/node'),
    'temporal-mlops': `file:${tarball}`,
    typescript: await version('typescript'),
  };
  const pkg = { name: 'scratch', version: '1.0.0', private: true, type: 'module', dependencies };
  await fs.writeFile(path.join(scratch, 'package.json'), JSON.stringify(pkg, null, 2));
  await fs.writeFile(
    path.join(scratch, 'package-lock.json'),
    JSON.stringify(await scratchLock(dependencies, tarball), null, 2),
  );
  await fs.writeFile(
    path.join(scratch, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        types: ['node'],
        skipLibCheck: true,
        outDir: 'out',
      },
      include: ['consumer.ts'],
    }),
  );
  await fs.writeFile(path.join(scratch, 'consumer.ts'), CONSUMER);
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel', 'error'], { cwd: scratch }).catch(
    (err: { stderr?: string }) => {
      throw new Error(`offline install failed (is the npm cache populated by the repo's npm install?)\n${err.stderr}`);
    },
  );
}, 240_000);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  if (home) await stopLocalServer(home, MODEL).catch(() => undefined);
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe('temporal-mlops as an installed package', () => {
  it('ships the compiled package and the command, not sources, tests or benchmarks', () => {
    const files = packed.files.map((f) => f.path);
    expect(files.filter((f) => /^(test|bench|examples|docs|scripts)\//.test(f))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'bin/temporal-mlops.js',
        'dist/sdk/index.js',
        'dist/sdk/index.d.ts',
        'dist/workflows/index.js',
        'dist/workers/index.js',
        'dist/activities/index.js',
        'dist/activities/deploy/local/serving-proxy.js',
        'dist/activities/deploy/local/traffic-router.js',
        'dist/cli/index.js',
      ]),
    );
    // Installed without tsx: whatever runs below runs on plain node.
    expect(existsSync(path.join(scratch, 'node_modules', 'tsx'))).toBe(false);
  });

  it('compiles a strict NodeNext consumer and runs a pipeline with plain node', { timeout: 240_000 }, async () => {
    const tsc = path.join(scratch, 'node_modules', '.bin', 'tsc');
    await run(tsc, ['-p', '.'], { cwd: scratch }).catch((err: { stdout?: string }) => {
      throw new Error(`the consumer does not compile against the published types:\n${err.stdout}`);
    });

    const child = spawn(
      process.execPath,
      [
        'out/consumer.js',
        inject('temporalAddress'),
        `package-${process.pid}-${Date.now()}`,
        home,
        FIXTURES,
        MODEL,
        JSON.stringify(fixturePipeline().spec.ingest),
      ],
      { cwd: scratch, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    let output = '';
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    // Killed well before the test's timeout, so that a hang still reports what the consumer printed.
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(timer);
    expect(code, output).toBe(0);

    const line = output.split('\n').find((l) => l.startsWith('RESULT '));
    expect(line, output).toBeDefined();
    const result = JSON.parse(line!.slice('RESULT '.length)) as Record<string, unknown>;
    expect(result).toMatchObject({
      typed: [false, false, false],
      workflow: 'function',
      stage: 'done',
      stages: { ingest: 'succeeded', train: 'succeeded', gate: 'succeeded', deploy: 'succeeded' },
      prediction: { predictions: [1] },
    });
    // The worker bundled the compiled workflows from the installed package, not this checkout's sources.
    expect(await fs.realpath(result.workflowsPath as string)).toBe(
      await fs.realpath(path.join(scratch, 'node_modules', 'temporal-mlops', 'dist', 'workflows', 'entry.js')),
    );
  });

  it('installs the temporal-mlops command', async () => {
    const { stdout } = await run('npx', ['--offline', 'temporal-mlops', '--help'], { cwd: scratch });
    expect(stdout).toMatch(/^Usage:\n {2}temporal-mlops pending/);
    expect(stdout).toContain('temporal-mlops models list');
  });
});
