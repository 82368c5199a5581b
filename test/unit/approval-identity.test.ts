/** The identity checks behind approval `identity: 'verified'`, against a local OIDC issuer on loopback. */
import { generateKeyPairSync } from 'node:crypto';
import { generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  IdentityRefused,
  signAssertion,
  signerJwks,
  verifyAssertion,
  verifyIdToken,
  type AssertionSigner,
} from '../../sdk/approval-identity.js';
import { ApprovalPolicySchema } from '../../sdk/spec/approval.js';
import { startCodecServer } from '../../sdk/codec-server.js';
import { codecApprovalIdentity, resolveIdToken } from '../../cli/approval-identity.js';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLocalIssuer, type LocalIssuer } from '../helpers/oidc-issuer.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

let idp: LocalIssuer;
let jwksServer: ReturnType<typeof createServer>;
let jwksUri = '';
const signer: AssertionSigner = {
  key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
  kid: 'k1',
  alg: 'ES256',
  issuer: 'https://codec.test',
};

beforeAll(async () => {
  idp = await startLocalIssuer('cli');
  const jwks = JSON.stringify(await signerJwks(signer));
  jwksServer = createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(jwks));
  await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
  jwksUri = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
});
afterAll(async () => {
  await idp.close();
  jwksServer.close();
});

const refusedWith = async (p: Promise<unknown>) => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(IdentityRefused);
  return (err as Error).message;
};

describe('approver identity', () => {
  it('verifies an ID token by discovery, and names each misuse', async () => {
    const issuers = [{ issuer: idp.issuer, audiences: ['cli'], kind: 'oidc' as const }];
    const ok = await verifyIdToken(await idp.mint('Bo@Acme.com'), 'bo@acme.com', issuers);
    expect(ok).toMatchObject({ via: 'oidc', issuer: idp.issuer, email: 'bo@acme.com', subject: 'sub-Bo' });
    expect(ok.tokenSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(
      await refusedWith(verifyIdToken(await idp.mint('bo@acme.com', { expiresIn: -120 }), 'bo@acme.com', issuers)),
    ).toMatch(/^expired/);
    expect(
      await refusedWith(verifyIdToken(await idp.mint('bo@acme.com', { audience: 'x' }), 'bo@acme.com', issuers)),
    ).toMatch(/^wrong audience: the token is for "x"/);
    const { privateKey } = await generateKeyPair('RS256');
    expect(
      await refusedWith(verifyIdToken(await idp.mint('bo@acme.com', { key: privateKey }), 'bo@acme.com', issuers)),
    ).toMatch(/^forged signature/);
    expect(await refusedWith(verifyIdToken(await idp.mint('eve@acme.com'), 'bo@acme.com', issuers))).toMatch(
      /^someone else's token/,
    );
    expect(
      await refusedWith(
        verifyIdToken(await idp.mint('bo@acme.com', { claims: { email_verified: false } }), 'bo@acme.com', issuers),
      ),
    ).toMatch(/^unverified email/);
    expect(await refusedWith(verifyIdToken('not-a-token', 'bo@acme.com', issuers))).toMatch(/^not a JWT/);
    // An ID token is no assertion, and an issuer trusted for one kind is not trusted for the other.
    expect(await refusedWith(verifyAssertion(await idp.mint('bo@acme.com'), 'bo@acme.com', '', issuers))).toMatch(
      /^wrong issuer/,
    );
  });

  it('an assertion is bound to its by and comment, and signed by the codec server key only', async () => {
    const issuers = [
      { issuer: 'https://codec.test', audiences: ['temporal-mlops-approval'], jwksUri, kind: 'codec-server' as const },
    ];
    const who = { issuer: idp.issuer, subject: 's1', email: 'bo@acme.com', tokenSha256: 'a'.repeat(64) };
    const assertion = await signAssertion(signer, { by: 'bo@acme.com', comment: 'ok' }, who);
    const { identity, id } = await verifyAssertion(assertion, 'BO@acme.com', 'ok', issuers);
    expect(identity).toMatchObject({ via: 'web-ui', ...who });
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await refusedWith(verifyAssertion(assertion, 'bo@acme.com', 'other', issuers))).toMatch(
      /^assertion for another payload/,
    );
    const rogue = { ...signer, key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey };
    expect(
      await refusedWith(
        verifyAssertion(
          await signAssertion(rogue, { by: 'bo@acme.com', comment: 'ok' }, who),
          'bo@acme.com',
          'ok',
          issuers,
        ),
      ),
    ).toMatch(/^forged signature/);
    expect(
      await refusedWith(
        verifyAssertion(
          await signAssertion({ ...signer, ttlSeconds: -60 }, { by: 'bo@acme.com', comment: 'ok' }, who),
          'bo@acme.com',
          'ok',
          issuers,
        ),
      ),
    ).toMatch(/^expired/);
  });

  it('the policy needs issuers for verified identity, and a JWKS for codec-server issuers', () => {
    const bad = ApprovalPolicySchema.safeParse({ identity: 'verified' });
    expect(bad.error?.issues[0]).toMatchObject({
      path: ['issuers'],
      message: expect.stringMatching(/needs at least one issuer/),
    });
    const noJwks = ApprovalPolicySchema.safeParse({
      identity: 'verified',
      issuers: [{ issuer: 'https://codec.test', audiences: ['a'], kind: 'codec-server' }],
    });
    expect(noJwks.error?.issues[0]?.path).toEqual(['issuers', 0, 'jwksUri']);
    expect(ApprovalPolicySchema.parse({}).identity).toBe('declared');
  });

  it("the codec server stamps decision payloads of the UI's /encode request and leaves other payloads alone", async () => {
    const passthrough = { encode: async <T>(p: T) => p, decode: async <T>(p: T) => p };
    const server = await startCodecServer({
      codec: passthrough,
      port: 0,
      allowedOrigins: ['http://localhost:8233'],
      approvalIdentity: { issuers: [{ issuer: idp.issuer, audiences: ['ui'], kind: 'oidc' }], signer },
    });
    try {
      const b64 = (s: string) => Buffer.from(s).toString('base64');
      const payload = (v: unknown) => ({ metadata: { encoding: b64('json/plain') }, data: b64(JSON.stringify(v)) });
      const idToken = await idp.mint('bo@acme.com', { audience: 'ui' });
      // Headers and body as temporalio/ui src/lib/services/data-encoder.ts sends them with passAccessToken.
      const res = await fetch(`${server.url}/encode?preserveStorageRefs=true`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'X-Namespace': 'default',
          Origin: 'http://localhost:8233',
          Authorization: 'Bearer opaque-access-token',
          'Authorization-Extras': idToken,
        },
        body: JSON.stringify({ payloads: [payload({ by: 'bo@acme.com', comment: 'ok' }), payload({ rows: 3 })] }),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:8233');
      const [decision, other] = ((await res.json()) as { payloads: { data: string }[] }).payloads.map(
        (p) => JSON.parse(Buffer.from(p.data, 'base64').toString()) as Record<string, unknown>,
      );
      expect(other).toEqual({ rows: 3 });
      const assertion = (decision!.proof as { assertion: string }).assertion;
      const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
      expect(jwks.keys.map((k) => k.kid)).toEqual(['k1']);
      const issuers = [
        {
          issuer: 'https://codec.test',
          audiences: ['temporal-mlops-approval'],
          jwksUri: `${server.url}/.well-known/jwks.json`,
          kind: 'codec-server' as const,
        },
      ];
      const { identity } = await verifyAssertion(assertion, 'bo@acme.com', 'ok', issuers);
      expect(identity).toMatchObject({ via: 'web-ui', issuer: idp.issuer, email: 'bo@acme.com' });
      expect(JSON.stringify(decision)).not.toContain(idToken);
    } finally {
      await server.close();
    }
    await expect(
      startCodecServer({
        codec: passthrough,
        port: 0,
        allowedOrigins: [],
        token: 't',
        approvalIdentity: { issuers: [], signer },
      }),
    ).rejects.toThrow(/approvalIdentity and token are exclusive/);
  });

  it('the CLI takes the ID token from a flag, a file or a command, and builds the codec server signer from a PEM', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'approval-cli-'));
    await fs.writeFile(path.join(dir, 'token'), 'a.b.c\n');
    expect(await resolveIdToken({ 'id-token': ' x.y.z ' })).toBe('x.y.z');
    expect(await resolveIdToken({ 'id-token-file': path.join(dir, 'token') })).toBe('a.b.c');
    expect(await resolveIdToken({ 'id-token-command': 'echo "  c.d.e"' })).toBe('c.d.e');
    await expect(resolveIdToken({ 'id-token-command': 'exit 3' })).rejects.toThrow(
      /--id-token-command: "exit 3" failed/,
    );
    await expect(resolveIdToken({ 'id-token-file': path.join(dir, 'missing') })).rejects.toThrow(
      /--id-token-file: cannot read/,
    );

    expect(codecApprovalIdentity({})).toBeUndefined();
    expect(() => codecApprovalIdentity({ 'ui-issuer': idp.issuer })).toThrow(/--ui-issuer needs --ui-audience/);
    const pem = path.join(dir, 'key.pem');
    const { privateKey } = generateKeyPairSync('ed25519');
    await fs.writeFile(pem, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const identity = codecApprovalIdentity({
      'ui-issuer': idp.issuer,
      'ui-audience': ['ui'],
      'assertion-key-file': pem,
      'assertion-kid': 'k9',
    })!;
    expect(identity.signer).toMatchObject({ alg: 'EdDSA', kid: 'k9', issuer: 'temporal-mlops-codec-server' });
    expect(identity.issuers).toEqual([{ issuer: idp.issuer, audiences: ['ui'], kind: 'oidc' }]);
    const rsa = path.join(dir, 'rsa.pem');
    await fs.writeFile(
      rsa,
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
    );
    expect(() =>
      codecApprovalIdentity({ 'ui-issuer': idp.issuer, 'ui-audience': ['ui'], 'assertion-key-file': rsa }),
    ).toThrow(/is a rsa key; use P-256 \(ES256\) or Ed25519/);
  });
});
