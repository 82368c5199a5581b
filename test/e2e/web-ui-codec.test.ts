/**
 * The Web UI with encrypted payloads: a dev server of its own started with `--ui-codec-endpoint` pointing at
 * `temporal-mlops codec-server`; Playwright drives Debian's Chromium. The run's input and the candidate's metrics
 * are readable in the UI (decoded by the codec server, while the history holds ciphertext), and an approve Signal
 * sent from the UI's dialog is encoded through the same server, accepted by the worker and in the audit trail.
 * The codec server also vouches for approvers of verified pipelines (`--ui-issuer`): the dev server's UI has no
 * OIDC sign-in, so it passes no token, and its Signal to a verified pipeline is refused with that reason.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { stopLocalServer } from '../../activities/index.js';
import { PipelineClient } from '../../sdk/client.js';
import { createPipelineWorker } from '../../workers/index.js';
import { freePort, startDevServer, type DevServer } from '../../scripts/dev-server.js';
import { eventually, fixturePipeline } from '../helpers/harness.js';
import { historyJson } from '../helpers/histories.js';
import { historyText } from '../helpers/history-text.js';
import { startLocalIssuer, type LocalIssuer } from '../helpers/oidc-issuer.js';

const KEYS = `ui-1=${randomBytes(32).toString('base64')}`;
const COMMENT = 'approved in the UI, sealed by the codec server';
let server: DevServer;
let codecServer: ChildProcess;
let connection: NativeConnection;
let worker: Worker;
let running: Promise<void>;
let client: PipelineClient;
let browser: Browser;
let home: string;
let idp: LocalIssuer;
let codecUrl: string;
const codecRequests: string[] = [];

beforeAll(async () => {
  const [port, uiPort, codecPort] = [await freePort(), await freePort(), await freePort()];
  const uiOrigin = `http://127.0.0.1:${uiPort}`;
  home = await fs.mkdtemp(path.join(os.tmpdir(), 'mlops-ui-codec-'));
  idp = await startLocalIssuer('temporal-ui');
  const keyFile = path.join(home, 'assertions.pem');
  await fs.writeFile(
    keyFile,
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
  );
  codecUrl = `http://127.0.0.1:${codecPort}`;
  codecServer = spawn(
    process.execPath,
    [
      'bin/temporal-mlops.js',
      'codec-server',
      '--port',
      String(codecPort),
      '--ui-origin',
      uiOrigin,
      // Vouches for Web UI approvers of verified pipelines (approval.identity: 'verified').
      ...['--ui-issuer', idp.issuer, '--ui-audience', 'temporal-ui', '--assertion-key-file', keyFile],
    ],
    { env: { ...process.env, MLOPS_ENCRYPTION_KEYS: KEYS }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    codecServer.once('exit', (code) => reject(new Error(`codec-server exited ${code}`)));
    codecServer.stdout!.on('data', (c: Buffer) => c.toString().includes('codec server listening') && resolve());
  });
  server = await startDevServer({
    port,
    uiPort,
    uiCodecEndpoint: `http://127.0.0.1:${codecPort}`,
    dbFile: path.join(home, 'temporal.db'),
    log: () => undefined,
  });
  connection = await NativeConnection.connect({ address: server.address });
  const env = { MLOPS_ENCRYPTION_KEYS: KEYS };
  worker = await createPipelineWorker({
    connection,
    taskQueue: 'ui-codec',
    home,
    env,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    worker: { shutdownGraceTime: '2s' },
  });
  running = worker.run();
  client = await PipelineClient.connect({ address: server.address, taskQueue: 'ui-codec', env });
  browser = await launchChromium();
  await fs.mkdir('test-results', { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  await client?.close();
  worker?.shutdown();
  await running;
  await connection?.close();
  await stopLocalServer(home, 'iris-test');
  await server?.stop();
  codecServer?.kill('SIGTERM');
  await idp?.close();
});

async function openRun(page: Page, workflowId: string) {
  page.on('request', (r) => {
    if (/\/(en|de)code$/.test(r.url())) codecRequests.push(new URL(r.url()).pathname);
  });
  await page.goto(`${server.uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`);
}

/** All text on the page, frames included (the UI renders Current Details in a sandboxed frame). */
async function pageText(page: Page): Promise<string> {
  const texts = await Promise.all(
    page.frames().map((f) =>
      f
        .locator('body')
        .innerText()
        .catch(() => ''),
    ),
  );
  return texts.join('\n');
}

/** More Actions → Send a Signal → `signal` with `payload`, as an approver does. */
async function sendSignalFromUi(page: Page, workflowId: string, signal: string, payload: unknown) {
  // From the run's main page: on User Metadata the R key refreshes Current Details and is lost to the editor.
  await page.goto(`${server.uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`);
  await page.getByRole('button', { name: 'More Actions' }).click();
  await page.getByRole('menuitem', { name: 'Send a Signal' }).click();
  const dialog = page.getByRole('dialog', { name: 'Send a Signal' });
  await dialog.getByTestId('signal-select-button').click();
  await page.getByRole('option', { name: new RegExp(`^${signal} `) }).click();
  await dialog.locator('.cm-content').click();
  await page.keyboard.type(JSON.stringify(payload));
  // The UI reformats the JSON when the editor loses focus, which moves the Submit button: blur first.
  await dialog.getByText('only single JSON payload supported').click();
  await page.waitForTimeout(300);
  await dialog.getByTestId('confirm-modal-button').click();
  await dialog.waitFor({ state: 'hidden' }).catch(async (err: unknown) => {
    await page.screenshot({ path: `test-results/failed-web-ui-codec-${signal}.png` });
    throw err;
  });
}

describe('the Web UI with the codec server', () => {
  it('shows the decoded input and candidate metrics, and an approve Signal from its dialog is accepted', async () => {
    const run = await client.start(fixturePipeline(), { requestedBy: 'ci@acme.com' });
    await eventually(async () => ((await client.status(run)).stage === 'approval' ? true : undefined), 60_000);
    // What the server stores is ciphertext...
    const stored = historyText(await historyJson(server.address, run.workflowId));
    expect(stored).not.toContain('ana@acme.com');
    expect(stored).not.toContain('iris-mini.csv');

    // ...and what an approver sees in the UI is the run's input, decoded by the codec server.
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await openRun(page, run.workflowId);
    await expect.poll(() => pageText(page), { timeout: 30_000 }).toContain('iris-mini.csv');
    expect(await pageText(page)).toContain('"ana@acme.com"');
    await page
      .getByRole('tab', { name: 'User Metadata' })
      .or(page.getByRole('link', { name: 'User Metadata' }))
      .first()
      .click();
    await expect.poll(() => pageText(page), { timeout: 30_000 }).toMatch(/iris-test v1 awaits approval/);
    expect(await pageText(page)).toMatch(/PASS: auc = 0\.9 within \[0\.8, inf\]/);
    expect(await pageText(page)).toMatch(/requested by ci@acme\.com/);
    await page.screenshot({ path: 'test-results/web-ui-codec-decoded.png' });
    if (process.env.RECORD_SCREENSHOTS === '1')
      await fs.copyFile('test-results/web-ui-codec-decoded.png', 'docs/images/web-ui-codec-decoded.png');
    expect(codecRequests).toContain('/decode');

    // The approve Signal from the UI's dialog: the UI has the codec server encode the payload before sending.
    await sendSignalFromUi(page, run.workflowId, 'approve', { by: 'ana@acme.com', comment: COMMENT });
    expect(codecRequests).toContain('/encode');

    const result = await client.result(run);
    expect(result.approval.approvals).toEqual([expect.objectContaining({ by: 'ana@acme.com', comment: COMMENT })]);
    expect(result.approval.attempts).toEqual([expect.objectContaining({ via: 'signal', accepted: true })]);
    expect(result.deployment?.smoke?.response).toMatchObject({ predictions: expect.any(Array) });
    // The Signal's payload reached the history sealed, like everything else.
    const finished = historyText(await historyJson(server.address, run.workflowId));
    expect(finished).toContain('EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED');
    expect(finished).not.toContain(COMMENT);
    expect(finished).not.toContain('ana@acme.com');
    await page.close();
  });

  it("a verified pipeline refuses the dev server UI's Signal: it cannot pass a signed-in user's token, and the codec server says so", async () => {
    const run = await client.start(
      fixturePipeline({
        approval: {
          identity: 'verified',
          issuers: [
            {
              issuer: 'temporal-mlops-codec-server',
              audiences: ['temporal-mlops-approval'],
              jwksUri: `${codecUrl}/.well-known/jwks.json`,
              kind: 'codec-server',
            },
          ],
          approvers: ['ana@acme.com'],
          timeout: '10m',
        },
        deploy: undefined,
      }),
      { requestedBy: 'ci@acme.com' },
    );
    await eventually(async () => ((await client.status(run)).stage === 'approval' ? true : undefined), 60_000);
    const page = await browser.newPage();
    await openRun(page, run.workflowId);
    await sendSignalFromUi(page, run.workflowId, 'approve', { by: 'ana@acme.com', comment: 'from the UI' });
    const attempts = await eventually(async () => {
      const s = await client.status(run);
      return s.approval.attempts.length ? s.approval.attempts : undefined;
    }, 30_000);
    expect(attempts).toEqual([
      expect.objectContaining({
        via: 'signal',
        accepted: false,
        reason: expect.stringMatching(
          /^unverified: the codec server could not vouch for the Web UI user: the Web UI sent no token; set codec passAccessToken/,
        ),
      }),
    ]);
    await client.handle(run).terminate('test over');
    await page.close();
  });
});
