/**
 * Verified approver identity on the real server, against a local OIDC issuer on loopback: ID tokens from the SDK
 * and the CLI, the codec server's assertions for the Web UI (its /encode called with the exact request the UI
 * sends), each misuse refused and audited, quorum of verified people, and nothing of a token but its hash in history.
 */
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openObjectStore, readManifest, resolveActivityOptions } from '../../activities/index.js';
import { startCodecServer, type CodecServer } from '../../sdk/codec-server.js';
import { PipelineError } from '../../sdk/errors.js';
import type { PipelineConfig } from '../../sdk/spec/pipeline.js';
import { eventually, fixturePipeline, startHarness, waitForStage, type Harness } from '../helpers/harness.js';
import { historyJson, recordHistory } from '../helpers/histories.js';
import { historyText } from '../helpers/history-text.js';
import { startLocalIssuer, type LocalIssuer } from '../helpers/oidc-issuer.js';

const AUDIENCE = 'temporal-mlops-cli';
const UI_CLIENT_ID = 'temporal-web-ui';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const run$ = promisify(execFile);

let h: Harness;
let idp: LocalIssuer;
let strangerIdp: LocalIssuer;
let codec: CodecServer;
const tokens: string[] = [];
const address = inject('temporalAddress');

beforeAll(async () => {
  [h, idp, strangerIdp] = await Promise.all([
    startHarness('approval-identity'),
    startLocalIssuer(AUDIENCE),
    startLocalIssuer(AUDIENCE),
  ]);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  codec = await startCodecServer({
    codec: { encode: async (p) => p, decode: async (p) => p },
    port: 0,
    allowedOrigins: ['http://localhost:8233'],
    approvalIdentity: {
      issuers: [{ issuer: idp.issuer, audiences: [UI_CLIENT_ID], kind: 'oidc' }],
      signer: { key: privateKey, kid: 'codec-test-1', alg: 'ES256', issuer: 'https://codec.test' },
    },
  });
});
afterAll(async () => {
  await Promise.all([h?.stop(), idp?.close(), strangerIdp?.close(), codec?.close()]);
});

async function mint(issuer: LocalIssuer, email: string, overrides?: Parameters<LocalIssuer['mint']>[1]) {
  const token = await issuer.mint(email, overrides);
  tokens.push(token);
  return token;
}

const storeDir = () => path.join(h.home, 'store');

function verified(extra: Partial<NonNullable<PipelineConfig['approval']>> = {}): PipelineConfig['approval'] {
  return {
    identity: 'verified',
    issuers: [
      { issuer: idp.issuer, audiences: [AUDIENCE] },
      {
        issuer: 'https://codec.test',
        audiences: ['temporal-mlops-approval'],
        jwksUri: `${codec.url}/.well-known/jwks.json`,
        kind: 'codec-server',
      },
    ],
    approvers: ['bo@acme.com', 'risk@acme.com', 'cy@acme.com'],
    quorum: 2,
    timeout: '10m',
    ...extra,
  };
}

async function waiting(approval: PipelineConfig['approval']) {
  const run = await h.client.start(fixturePipeline({ approval, deploy: undefined }), { requestedBy: 'ana@acme.com' });
  await waitForStage(h, run.workflowId, 'approval');
  return run;
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PipelineError);
  expect((err as PipelineError).code).toBe('ApprovalRefused');
  return (err as PipelineError).message;
}

/** What the Web UI sends to the codec server for "Send a Signal" (temporalio/ui src/lib/services/data-encoder.ts). */
async function uiEncode(input: unknown, headers: Record<string, string>) {
  const btoa = (s: string) => Buffer.from(s).toString('base64');
  const res = await fetch(`${codec.url}/encode?preserveStorageRefs=true`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default', ...headers },
    body: JSON.stringify({
      payloads: [{ metadata: { encoding: btoa('json/plain') }, data: btoa(JSON.stringify(input)) }],
    }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { payloads: { metadata: Record<string, string>; data: string }[] }).payloads;
}

/** Sends the encoded payloads as the Signal's input, as the UI's SignalWorkflowExecution does. */
async function uiSignal(
  workflowId: string,
  signalName: string,
  payloads: { metadata: Record<string, string>; data: string }[],
) {
  await h.temporal.workflowService.signalWorkflowExecution({
    namespace: 'default',
    workflowExecution: { workflowId },
    signalName,
    identity: 'webui',
    input: {
      payloads: payloads.map((p) => ({
        metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
        data: Buffer.from(p.data, 'base64'),
      })),
    },
  });
}

const decoded = (payloads: { data: string }[]) =>
  JSON.parse(Buffer.from(payloads[0]!.data, 'base64').toString()) as { proof?: Record<string, string> };

describe('verified approver identity', () => {
  it('SDK and CLI ID tokens: a valid token approves; expired, wrong audience, wrong issuer, forged, someone else’s, replayed and missing proofs are refused and audited; quorum counts verified people; history holds only hashes', async () => {
    const run = await waiting(verified());
    const opts = (idToken: string) => ({ idToken, store: storeDir() });
    const bo = { by: 'bo@acme.com', comment: 'recall ok' };

    expect(await refusal(h.client.approve(run, { by: 'risk@acme.com', comment: 'trust me' }))).toMatch(
      /^unverified: the decision carries no proof of who sent it/,
    );
    expect(await refusal(h.client.approve(run, bo, opts(await mint(idp, 'bo@acme.com', { expiresIn: -600 }))))).toMatch(
      /^unverified: expired: the token expired at /,
    );
    expect(
      await refusal(h.client.approve(run, bo, opts(await mint(idp, 'bo@acme.com', { audience: 'some-other-app' })))),
    ).toMatch(/^unverified: wrong audience: the token is for "some-other-app"/);
    expect(await refusal(h.client.approve(run, bo, opts(await mint(strangerIdp, 'bo@acme.com'))))).toMatch(
      new RegExp(`^unverified: wrong issuer: the token was issued by "${strangerIdp.issuer}"`),
    );
    const { privateKey: forger } = await generateKeyPair('RS256');
    expect(await refusal(h.client.approve(run, bo, opts(await mint(idp, 'bo@acme.com', { key: forger }))))).toMatch(
      /^unverified: forged signature: the token's signature does not verify against the keys of/,
    );
    expect(await refusal(h.client.approve(run, bo, opts(await mint(idp, 'eve@acme.com'))))).toMatch(
      /^unverified: someone else's token: the token belongs to eve@acme.com, the decision names bo@acme.com/,
    );

    const boToken = await mint(idp, 'BO@acme.com');
    const accepted = await h.client.approve(run, bo, opts(boToken));
    expect(accepted).toMatchObject({
      accepted: true,
      by: 'bo@acme.com',
      identity: {
        via: 'oidc',
        issuer: idp.issuer,
        subject: 'sub-BO',
        email: 'bo@acme.com',
        tokenSha256: sha256(boToken),
      },
    });
    expect(
      await refusal(h.client.reject(run, { by: 'bo@acme.com', comment: 'changed my mind' }, opts(boToken))),
    ).toMatch(/^replayed: this token already decided in this run at /);
    expect((await h.client.status(run)).stage).toBe('approval'); // one verified approval of two

    // The CLI, with the token from a file.
    const tokenFile = path.join(h.home, 'risk.jwt');
    await fs.writeFile(tokenFile, `${await mint(idp, 'risk@acme.com')}\n`);
    const cli = await run$(
      process.execPath,
      [
        'bin/temporal-mlops.js',
        'approve',
        run.workflowId,
        '--by',
        'risk@acme.com',
        '--comment',
        'bias ok',
        '--id-token-file',
        tokenFile,
      ],
      { env: { ...process.env, TEMPORAL_ADDRESS: address, MLOPS_HOME: h.home } },
    );
    expect(cli.stdout).toMatch(/approve by risk@acme.com accepted .*verified \(oidc, issuer http:\/\/127\.0\.0\.1/);

    const result = await h.client.result(run);
    await recordHistory(address, run.workflowId, 'ml-pipeline-verified-approval');
    expect(result.approval.decision).toBe('approved');
    expect(result.approval.policy.identity).toBe('verified');
    expect(result.approval.approvals.map((a) => [a.by, a.identity?.issuer])).toEqual([
      ['bo@acme.com', idp.issuer],
      ['risk@acme.com', idp.issuer],
    ]);
    const reasons = result.approval.attempts.filter((a) => !a.accepted).map((a) => a.reason);
    expect(reasons).toEqual([
      expect.stringMatching(/^unverified: the decision carries no proof/),
      expect.stringMatching(/^unverified: expired: /),
      expect.stringMatching(/^unverified: wrong audience: /),
      expect.stringMatching(/^unverified: wrong issuer: /),
      expect.stringMatching(/^unverified: forged signature: /),
      expect.stringMatching(/^unverified: someone else's token: /),
      expect.stringMatching(/^replayed: this token already decided in this run/),
    ]);

    // Nothing of a token in the history but its hash; no token left in the store.
    const history = historyText(await historyJson(address, run.workflowId));
    for (const token of tokens) {
      expect(history).not.toContain(token);
      expect(history).not.toContain(token.split('.')[2]!);
    }
    expect(history).toContain(sha256(boToken));
    const store = openObjectStore(resolveActivityOptions({ home: h.home }).store);
    expect(await store.list('approvals/')).toEqual([]);

    // The registry's record and the CLI show who, verified or declared, issuer, time, comment.
    const manifest = await readManifest(store, 'iris-test', result.version.version);
    expect(manifest.approval?.approvals[0]?.identity).toMatchObject({ via: 'oidc', email: 'bo@acme.com' });
    const env = { ...process.env, MLOPS_HOME: h.home };
    const decision = await run$(
      process.execPath,
      ['bin/temporal-mlops.js', 'decision', `iris-test@${result.version.version}`],
      { env },
    );
    expect(decision.stdout).toMatch(/identity: verified/);
    expect(decision.stdout).toMatch(
      /approved by bo@acme.com \(verified \(oidc, issuer http:\/\/127\.0\.0\.1:\d+, subject sub-BO\)\) at 20\S+: "recall ok"/,
    );
    expect(decision.stdout).toMatch(/REFUSED \(unverified: forged signature/);
    const lineage = await run$(
      process.execPath,
      ['bin/temporal-mlops.js', 'models', 'lineage', `iris-test@${result.version.version}`],
      { env },
    );
    expect(lineage.stdout).toMatch(
      /approved by risk@acme.com \(verified \(oidc, issuer http:\/\/127\.0\.0\.1:\d+, subject sub-risk\)\) at 20\S+: "bias ok"/,
    );
  });

  it('Web UI: the codec server vouches for the signed-in user on /encode; the gate accepts its assertion once, and refuses a missing token, someone else’s token and an assertion moved to another comment', async () => {
    const run = await waiting(verified());
    const boId = await mint(idp, 'bo@acme.com', { audience: UI_CLIENT_ID });
    const uiHeaders = { Authorization: 'Bearer opaque-access-token-for-bo', 'Authorization-Extras': boId };
    tokens.push('opaque-access-token-for-bo');
    const attempts = async (n: number) =>
      eventually(
        async () => {
          const s = await h.client.status(run);
          return s.approval.attempts.length >= n ? s.approval.attempts : undefined;
        },
        30_000,
        `${n} attempts`,
      );

    // Without the UI's token (passAccessToken off) the codec server cannot vouch, and says why.
    const noToken = await uiEncode({ by: 'bo@acme.com', comment: 'lgtm' }, {});
    expect(decoded(noToken).proof).toEqual({ refused: expect.stringMatching(/the Web UI sent no token/) });
    await uiSignal(run.workflowId, 'approve', noToken);
    await attempts(1);
    // Someone signed in as eve naming bo.
    const eveId = await mint(idp, 'eve@acme.com', { audience: UI_CLIENT_ID });
    await uiSignal(
      run.workflowId,
      'approve',
      await uiEncode({ by: 'bo@acme.com', comment: 'lgtm' }, { 'Authorization-Extras': eveId }),
    );
    await attempts(2);
    // bo, properly.
    const good = await uiEncode({ by: 'bo@acme.com', comment: 'lgtm' }, uiHeaders);
    expect(decoded(good).proof?.assertion).toMatch(/^ey/);
    await uiSignal(run.workflowId, 'approve', good);
    await attempts(3);
    // The same Signal again (a replayed assertion), and the assertion pasted under another comment.
    await uiSignal(run.workflowId, 'reject', good);
    await attempts(4);
    const moved = { by: 'bo@acme.com', comment: 'ship it now', proof: decoded(good).proof };
    await h.client.handle(run).signal('reject', moved);

    const trail = await attempts(5);
    expect(trail.map((a) => [a.via, a.accepted, a.reason])).toEqual([
      [
        'signal',
        false,
        expect.stringMatching(/^unverified: the codec server could not vouch .*: the Web UI sent no token/),
      ],
      ['signal', false, expect.stringMatching(/^unverified: the codec server could not vouch .*someone else's token/)],
      ['signal', true, undefined],
      ['signal', false, expect.stringMatching(/^replayed: this Web UI assertion already decided in this run/)],
      ['signal', false, expect.stringMatching(/^unverified: assertion for another payload/)],
    ]);
    expect(trail[1]!.reason).toMatch(/someone else's token: the token belongs to eve@acme.com/);
    expect(trail[2]!.identity).toEqual({
      via: 'web-ui',
      issuer: idp.issuer,
      subject: 'sub-bo',
      email: 'bo@acme.com',
      tokenSha256: sha256(boId),
      expiresAt: expect.any(String),
    });
    await h.client.handle(run).terminate('test over');
    const history = historyText(await historyJson(address, run.workflowId));
    for (const token of [boId, eveId, 'opaque-access-token-for-bo']) expect(history).not.toContain(token);
    expect(history).toContain(sha256(boId));
  });
});
