/**
 * Production connections for real: a TLS-terminating gRPC proxy (nginx) in front of the suite's dev server, one
 * endpoint requiring a client certificate (self-hosted mTLS) and one requiring `authorization: Bearer <key>`
 * (Temporal Cloud's API keys). Through each, a pipeline runs to a deployed model with the worker (its own
 * process) and the client configured by TEMPORAL_* variables only, then by a temporal.toml profile; the CLI's
 * `pending`, `show` and `approve` work through it. Each misconfiguration fails with a message naming the setting.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stopLocalServer } from '../../activities/index.js';
import { PipelineClient } from '../../sdk/client.js';
import { createPipelineWorker } from '../../workers/index.js';
import { eventually, fixturePipeline } from '../helpers/harness.js';
import { historyJson } from '../helpers/histories.js';
import { historyText } from '../helpers/history-text.js';
import { makeCertificates, startGrpcProxy, type Certificates, type GrpcProxy } from '../helpers/tls-proxy.js';

const run = promisify(execFile);
const API_KEY = 'tmprl-test-key-6f1c2e9a';
let certs: Certificates;
let proxy: GrpcProxy;
let dir: string;
/** XDG_CONFIG_HOME holding temporalio/temporal.toml, where `temporal config set` writes profiles. */
let configHome: string;
/** An empty XDG_CONFIG_HOME, so the variables-only runs cannot read a stray profile. */
let noConfigHome: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mlops-tls-'));
  certs = await makeCertificates(path.join(dir, 'certs'));
  proxy = await startGrpcProxy(inject('temporalAddress'), certs, API_KEY);
  configHome = path.join(dir, 'config');
  noConfigHome = path.join(dir, 'no-config');
  await fs.mkdir(path.join(configHome, 'temporalio'), { recursive: true });
  await fs.mkdir(noConfigHome);
  await fs.writeFile(
    path.join(configHome, 'temporalio', 'temporal.toml'),
    `[profile.mtls]
address = "${proxy.mtlsAddress}"
namespace = "default"

[profile.mtls.tls]
server_ca_cert_path = "${certs.caCert}"
client_cert_path = "${certs.clientCert}"
client_key_path = "${certs.clientKey}"

[profile.cloud]
address = "${proxy.apiKeyAddress}"
namespace = "default"
api_key = "${API_KEY}"

[profile.cloud.tls]
server_ca_cert_path = "${certs.caCert}"

[profile.cloud-revoked]
address = "${proxy.apiKeyAddress}"
api_key = "revoked-key"

[profile.cloud-revoked.tls]
server_ca_cert_path = "${certs.caCert}"
`,
  );
});
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await proxy?.stop();
});

/** This process's environment without any Temporal or encryption settings of the machine running the suite. */
function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] => e[1] !== undefined && !/^TEMPORAL_|^MLOPS_ENCRYPTION/.test(e[0]),
    ),
  );
  return { ...env, XDG_CONFIG_HOME: noConfigHome, ...extra };
}

const variants = () => ({
  mtls: {
    profile: 'mtls',
    variables: {
      TEMPORAL_ADDRESS: proxy.mtlsAddress,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.caCert,
      TEMPORAL_TLS_CLIENT_CERT_PATH: certs.clientCert,
      TEMPORAL_TLS_CLIENT_KEY_PATH: certs.clientKey,
    },
  },
  'API key': {
    profile: 'cloud',
    variables: {
      TEMPORAL_ADDRESS: proxy.apiKeyAddress,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.caCert,
      TEMPORAL_API_KEY: API_KEY,
    },
  },
});

function startWorker(env: Record<string, string>): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/worker-process.ts'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code) => reject(new Error(`worker exited ${code} before it was ready:\n${stderr}`)));
    child.stdout!.on('data', (c: Buffer) => c.toString().includes('worker ready') && resolve(child));
  });
}

const cli = (args: string[], env: Record<string, string>) =>
  run(process.execPath, ['bin/temporal-mlops.js', ...args], { env, timeout: 60_000 });

/** stderr without Node's own warnings (grpc-js sends an IP address as TLS server name, which Node warns about). */
const ownLines = (stderr: string | undefined) =>
  (stderr ?? '')
    .split('\n')
    .filter((line) => !/^\(node:\d+\) |^\(Use `node --trace/.test(line))
    .join('\n');

describe.each(['mtls', 'API key'] as const)('through the %s endpoint', (variant) => {
  it.each(['variables', 'profile'] as const)(
    'configured by %s: worker, client and CLI run a pipeline to a deployed model',
    async (mode) => {
      const v = variants()[variant];
      const taskQueue = `tls-${variant.replace(' ', '-')}-${mode}-${process.pid}`;
      const home = await fs.mkdtemp(path.join(os.tmpdir(), 'mlops-tls-run-'));
      // Variables only, or the profile only (selected by TEMPORAL_PROFILE for the worker, --profile for the CLI).
      const settings = mode === 'variables' ? v.variables : { XDG_CONFIG_HOME: configHome };
      const worker = await startWorker(
        cleanEnv({
          ...settings,
          ...(mode === 'profile' ? { TEMPORAL_PROFILE: v.profile } : {}),
          MLOPS_TASK_QUEUE: taskQueue,
          MLOPS_HOME: home,
          MLOPS_WORKFLOW_BUNDLE: inject('workflowBundlePath'),
        }),
      );
      const client = await PipelineClient.connect({
        taskQueue,
        env: { HOME: dir, XDG_CONFIG_HOME: noConfigHome, ...settings },
        ...(mode === 'profile' ? { profile: v.profile } : {}),
      });
      const cliEnv = cleanEnv(settings);
      const profileFlag = mode === 'profile' ? ['--profile', v.profile] : [];
      try {
        const started = await client.start(fixturePipeline(), { requestedBy: 'ci@acme.com' });
        // Wait in-process (cheap), then ask the CLI: each CLI call is a process start.
        await eventually(async () => ((await client.status(started)).stage === 'approval' ? true : undefined), 90_000);
        const waiting = await eventually(
          async () => {
            const { stdout } = await cli(['pending', '--json', ...profileFlag], cliEnv);
            return (JSON.parse(stdout) as { workflowId: string; metrics: Record<string, number> }[]).find(
              (r) => r.workflowId === started.workflowId,
            );
          },
          90_000,
          'the run in `temporal-mlops pending`',
        );
        expect(waiting.metrics.auc).toBeGreaterThan(0.8);
        const shown = await cli(['show', started.workflowId, ...profileFlag], cliEnv);
        expect(shown.stdout).toMatch(/stage: approval/);
        expect(shown.stdout).toMatch(/metrics: .*auc=0\.9/);
        const comment = `approved through ${variant} (${mode})`;
        const approved = await cli(
          ['approve', started.workflowId, '--by', 'ana@acme.com', '--comment', comment, ...profileFlag],
          cliEnv,
        );
        expect(approved.stdout).toContain(`approve by ana@acme.com accepted for ${started.workflowId}`);
        const result = await client.result(started);
        expect(result.approval.approvals).toEqual([expect.objectContaining({ by: 'ana@acme.com', comment })]);
        expect(result.deployment?.smoke?.response).toMatchObject({ predictions: expect.any(Array) });
        // Credentials never reach the history (read straight from the dev server, behind the proxy).
        const history = historyText(await historyJson(inject('temporalAddress'), started.workflowId));
        expect(history).toContain('ana@acme.com');
        expect(history).not.toContain(API_KEY);
        const keyBody = (await fs.readFile(certs.clientKey, 'utf8')).split('\n')[1]!;
        expect(history).not.toContain(keyBody);
      } finally {
        await client.close();
        worker.kill('SIGTERM');
        await stopLocalServer(home, 'iris-test');
      }
    },
  );
});

describe('misconfigurations fail with a message naming the setting to fix', () => {
  const cases = () => {
    const { mtls, 'API key': key } = variants();
    return [
      {
        name: 'a client certificate the server does not trust',
        env: {
          ...mtls.variables,
          TEMPORAL_TLS_CLIENT_CERT_PATH: certs.otherClientCert,
          TEMPORAL_TLS_CLIENT_KEY_PATH: certs.otherClientKey,
        },
        message:
          /refused the client certificate from TEMPORAL_TLS_CLIENT_CERT_PATH \(.*other-client\.crt\) \(the server said: "Request unauthorized: client certificate not trusted"\)\. Set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH/,
      },
      {
        name: 'no client certificate for the mTLS endpoint',
        env: { TEMPORAL_ADDRESS: mtls.variables.TEMPORAL_ADDRESS, TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.caCert },
        message: /requires credentials .*client certificate required.*TEMPORAL_TLS_CLIENT_CERT_PATH/,
      },
      {
        name: 'a server CA that did not sign the server certificate',
        env: { ...mtls.variables, TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.otherCaCert },
        message:
          /server certificate of Temporal at 127\.0\.0\.1:\d+ \(TEMPORAL_ADDRESS\) is not signed by the CA from TEMPORAL_TLS_SERVER_CA_CERT_PATH \(.*other-ca\.crt\).*Set TEMPORAL_TLS_SERVER_CA_CERT_PATH/,
      },
      {
        name: 'no CA for a privately signed server (system roots only)',
        env: { TEMPORAL_ADDRESS: key.variables.TEMPORAL_ADDRESS, TEMPORAL_API_KEY: API_KEY },
        message: /not signed by a CA this machine trusts.*Set TEMPORAL_TLS_SERVER_CA_CERT_PATH/,
      },
      {
        name: 'a missing client key file',
        env: { ...mtls.variables, TEMPORAL_TLS_CLIENT_KEY_PATH: path.join(os.tmpdir(), 'no-such-dir', 'client.key') },
        message:
          /Cannot read the client key file named by TEMPORAL_TLS_CLIENT_KEY_PATH \(.*no-such-dir\/client\.key\): no such file/,
      },
      {
        name: 'a refused API key',
        env: { ...key.variables, TEMPORAL_API_KEY: 'revoked-key' },
        message:
          /refused the API key from TEMPORAL_API_KEY \(the server said: "Request unauthorized: invalid API key"\)\. Set TEMPORAL_API_KEY to a valid, unexpired key with access to namespace "default"/,
      },
      {
        name: 'a refused API key from a profile',
        env: { XDG_CONFIG_HOME: configHome, TEMPORAL_PROFILE: 'cloud-revoked' },
        message: /refused the API key from api_key in profile "cloud-revoked" of .*temporal\.toml/,
      },
      {
        name: 'a server name the certificate does not hold',
        env: { ...key.variables, TEMPORAL_TLS_SERVER_NAME: 'temporal.example' },
        message: /not valid for the name "temporal\.example".*Set TEMPORAL_TLS_SERVER_NAME/,
      },
      {
        name: 'plaintext to a TLS endpoint',
        env: { TEMPORAL_ADDRESS: key.variables.TEMPORAL_ADDRESS },
        message: /expects TLS, but this connection is plaintext\. Set TEMPORAL_TLS=true/,
      },
    ];
  };

  it('PipelineClient.connect and createPipelineWorker, for each mistake', async () => {
    for (const c of cases()) {
      const env = { HOME: dir, XDG_CONFIG_HOME: noConfigHome, ...c.env };
      const started = Date.now();
      await expect(PipelineClient.connect({ env }), `client: ${c.name}`).rejects.toMatchObject({
        name: 'PipelineError',
        code: 'ConnectionFailed',
        message: expect.stringMatching(c.message),
      });
      // Reported as soon as the handshake or the first call shows it, not after the 10 s connect deadline.
      expect(Date.now() - started, `client: ${c.name}`).toBeLessThan(8000);
      await expect(
        createPipelineWorker({
          env,
          taskQueue: 'never-polled',
          workflowBundle: { codePath: inject('workflowBundlePath') },
        }),
        `worker: ${c.name}`,
      ).rejects.toMatchObject({ code: 'ConnectionFailed', message: expect.stringMatching(c.message) });
    }
  });

  it('the CLI and `npm run worker` print the message and exit 1, without a stack trace', async () => {
    const env = cleanEnv({ ...variants()['API key'].variables, TEMPORAL_API_KEY: 'revoked-key' });
    const pending = await cli(['pending'], env).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(pending?.code).toBe(1);
    expect(ownLines(pending?.stderr)).toMatch(
      /^ConnectionFailed: Temporal at .* refused the API key from TEMPORAL_API_KEY/,
    );
    expect(pending?.stderr).not.toMatch(/^\s+at /m);
    const worker = await run(process.execPath, ['--import', 'tsx', 'workers/main.ts'], { env, timeout: 60_000 }).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(worker?.code).toBe(1);
    expect(worker?.stderr).toMatch(
      /temporal-mlops worker: ConnectionFailed: .*refused the API key from TEMPORAL_API_KEY/,
    );
    expect(worker?.stderr).not.toMatch(/^\s+at /m);
  });
});
