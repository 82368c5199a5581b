/**
 * A real Kubernetes control plane on this machine, offline: kube-apiserver, kube-controller-manager (the real
 * Job controller), kube-scheduler and etcd, built from Go modules once and cached by version like the Temporal
 * CLI, plus kwok (github.com/kubernetes-sigs/kwok) as the kubelet of fake nodes: it moves pods through their
 * phases by the stages in `test/kube/kwok-stages.yaml`, so pods "run" and exit with chosen codes without
 * containers. `kwokctl create cluster --runtime binary` wires the five binaries together (certificates,
 * kubeconfig, ports).
 *
 * Kubernetes 1.37.2 because its published staging modules are all on the module proxy here (1.33's are not).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { toolsDir } from './dev-server.js';

export const KUBE_VERSION = 'v1.37.2';
export const KWOK_VERSION = 'v0.8.0';
const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const BINARIES = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd', 'kwok', 'kwokctl'] as const;
export type KubeTools = Record<(typeof BINARIES)[number], string>;

async function goBuild(args: string[], cwd: string, env: NodeJS.ProcessEnv, what: string, log: (l: string) => void) {
  const started = Date.now();
  const child = spawn('go', args, {
    cwd,
    env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod', GOSUMDB: 'off', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const ticker = setInterval(
    () => log(`  ...still building ${what} (${Math.round((Date.now() - started) / 1000)} s)`),
    60_000,
  );
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve)).finally(() =>
    clearInterval(ticker),
  );
  if (code !== 0) throw new Error(`building ${what} failed (go ${args.join(' ')} exited ${code})`);
  log(`  built ${what} in ${Math.round((Date.now() - started) / 1000)} s`);
}

/**
 * Returns the cached control-plane binaries, building what is missing (about 15 minutes cold on 2 cores:
 * kube-apiserver 9 min, controller-manager + scheduler 3 min, etcd 1 min, kwok 2 min; ~0.6 GB).
 */
export async function ensureKubeTools(log: (line: string) => void = console.log): Promise<KubeTools> {
  const dir = path.join(toolsDir(), `kube-${KUBE_VERSION.slice(1)}-kwok-${KWOK_VERSION.slice(1)}`);
  const tools = Object.fromEntries(BINARIES.map((b) => [b, path.join(dir, b)])) as KubeTools;
  if (BINARIES.every((b) => existsSync(tools[b]))) return tools;

  log(
    `Building Kubernetes ${KUBE_VERSION} control plane + kwok ${KWOK_VERSION} into ${dir} (first time only, ~15 min)...`,
  );
  const staging = `${dir}.building-${process.pid}`;
  const src = path.join(staging, 'src');
  await fs.mkdir(src, { recursive: true });
  // Build from a copy so go.sum updates never touch the checkout.
  await fs.cp(path.join(here, 'kube-build'), src, { recursive: true });
  const ldflags = `-X k8s.io/component-base/version.gitVersion=${KUBE_VERSION}`;
  const bin = path.join(staging, 'bin') + path.sep;
  await fs.mkdir(bin);
  await goBuild(
    [
      'build',
      '-trimpath',
      '-ldflags',
      ldflags,
      '-o',
      bin,
      'k8s.io/kubernetes/cmd/kube-apiserver',
      'k8s.io/kubernetes/cmd/kube-controller-manager',
      'k8s.io/kubernetes/cmd/kube-scheduler',
    ],
    src,
    {},
    'kube-apiserver, kube-controller-manager, kube-scheduler',
    log,
  );
  await goBuild(['build', '-trimpath', '-o', path.join(bin, 'etcd'), '.'], path.join(src, 'etcd'), {}, 'etcd', log);
  await goBuild(
    ['install', `sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}`, `sigs.k8s.io/kwok/cmd/kwokctl@${KWOK_VERSION}`],
    src,
    { GOBIN: bin, GOFLAGS: '' },
    'kwok, kwokctl',
    log,
  );
  await fs.mkdir(dir, { recursive: true });
  for (const b of BINARIES) await fs.rename(path.join(bin, b), tools[b]);
  await fs.rm(staging, { recursive: true, force: true });
  return tools;
}

export interface KubeCluster {
  name: string;
  /** Path of a kubeconfig for the cluster's admin (its own file; ~/.kube/config is never touched). */
  kubeconfig: string;
  server: string;
  stop(): Promise<void>;
}

export interface KubeClusterOptions {
  name?: string;
  /** kwok Stage files (pod lifecycle of fake nodes); default: test/kube/kwok-stages.yaml. */
  stages?: string;
  log?: (line: string) => void;
}

/** Creates and starts a cluster (about 5 s once built) with its state under a temporary KWOK_WORKDIR. */
export async function startKubeCluster(options: KubeClusterOptions = {}): Promise<KubeCluster> {
  const log = options.log ?? console.log;
  const tools = await ensureKubeTools(log);
  const name = options.name ?? `mlops-${process.pid}`;
  const workdir = await fs.mkdtemp(path.join(os.tmpdir(), 'mlops-kwok-'));
  const kubeconfig = path.join(workdir, 'kubeconfig');
  const stages = options.stages ?? path.join(here, '..', 'test', 'kube', 'kwok-stages.yaml');
  const env = { ...process.env, KWOK_WORKDIR: workdir };
  await run(
    tools.kwokctl,
    [
      'create',
      'cluster',
      '--name',
      name,
      '--runtime',
      'binary',
      '--kubeconfig',
      kubeconfig,
      '--config',
      stages,
      '--kube-apiserver-binary',
      tools['kube-apiserver'],
      '--kube-controller-manager-binary',
      tools['kube-controller-manager'],
      '--kube-scheduler-binary',
      tools['kube-scheduler'],
      '--etcd-binary',
      tools.etcd,
      '--kwok-controller-binary',
      tools.kwok,
      '--wait',
      '120s',
    ],
    { env, maxBuffer: 16 << 20 },
  ).catch((err: { stderr?: string; message: string }) => {
    throw new Error(`kwokctl could not start the cluster: ${err.stderr?.slice(-2000) ?? err.message}`);
  });
  const config = await fs.readFile(kubeconfig, 'utf8');
  const server = /server:\s*(\S+)/.exec(config)?.[1] ?? '';
  return {
    name,
    kubeconfig,
    server,
    stop: async () => {
      await run(tools.kwokctl, ['delete', 'cluster', '--name', name, '--kubeconfig', kubeconfig], { env }).catch(
        () => undefined,
      );
      await fs.rm(workdir, { recursive: true, force: true });
    },
  };
}

export const KSERVE_VERSION = 'v0.15.2';

/**
 * KServe's own InferenceService CRD (config/crd/full in the github.com/kserve/kserve module, fetched through
 * the Go module proxy and cached by version); the tests install it so the API server validates
 * InferenceServices against the real schema.
 */
export async function ensureKServeCrd(log: (line: string) => void = console.log): Promise<string> {
  const dir = path.join(toolsDir(), `kserve-${KSERVE_VERSION.slice(1)}`);
  const file = path.join(dir, 'serving.kserve.io_inferenceservices.yaml');
  if (existsSync(file)) return file;
  log(`Fetching the KServe ${KSERVE_VERSION} InferenceService CRD through the Go module proxy...`);
  const { stdout } = await run('go', ['mod', 'download', '-json', `github.com/kserve/kserve@${KSERVE_VERSION}`], {
    maxBuffer: 16 << 20,
    cwd: os.tmpdir(),
  });
  const moduleDir = (JSON.parse(stdout) as { Dir: string }).Dir;
  await fs.mkdir(dir, { recursive: true });
  await fs.copyFile(path.join(moduleDir, 'config', 'crd', 'full', path.basename(file)), `${file}.tmp`);
  await fs.rename(`${file}.tmp`, file);
  return file;
}
