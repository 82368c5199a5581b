/**
 * Verified approver identity (approval `identity: 'verified'`): checking OIDC tokens against the issuers the spec
 * trusts, and the codec server's signed identity assertions for Web UI decisions. Used by the worker's
 * `verifyApprover` activity, the codec server and the client; never by workflow code (it needs Node crypto).
 *
 * The token never enters history. The client puts the ID token in the registry store under a key made of the
 * run's id and the token's sha256 and sends only that hash; the worker reads it there, verifies it and deletes it.
 */
import { createRemoteJWKSet, decodeJwt, errors, jwtVerify, SignJWT, exportJWK, type JWK, type JWTPayload } from 'jose';
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import type { IdentityIssuer } from './spec/approval.js';
import type { VerifiedIdentity } from './run-types.js';

/** The `aud` of the codec server's assertions unless configured otherwise. */
const DEFAULT_ASSERTION_AUDIENCE = 'temporal-mlops-approval';
/** Marks a JWT as a codec server's approval assertion (its `purpose` claim). */
const ASSERTION_PURPOSE = 'temporal-mlops-approval';
/** Clock skew tolerated between the issuer, the codec server and the worker. */
const CLOCK_TOLERANCE_S = 30;

/** sha256 of a string, hex. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Where the client puts an approver's ID token for the worker: below the registry store, per run. */
export function idTokenObjectKey(workflowId: string, tokenSha256: string): string {
  return `approvals/id-tokens/${sha256Hex(workflowId).slice(0, 32)}/${tokenSha256}.json`;
}

/** What the client stores under `idTokenObjectKey`: the token and the decision it may be used for. */
export interface StoredIdToken {
  token: string;
  decision: 'approve' | 'reject';
  by: string;
  comment: string;
}

/** What an assertion is bound to: the decision's `by` and `comment` (the codec server cannot see the Signal name). */
function payloadBinding(by: string, comment: string): string {
  return sha256Hex(`${by.toLowerCase()}\n${comment}`);
}

/** A refusal with the reason the audit trail shows. */
export class IdentityRefused extends Error {
  override readonly name = 'IdentityRefused';
}

const jwksCache = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
const discovered = new Map<string, Promise<string>>();

async function jwksUriOf(issuer: IdentityIssuer): Promise<string> {
  if (issuer.jwksUri) return issuer.jwksUri;
  let uri = discovered.get(issuer.issuer);
  if (!uri) {
    const url = `${issuer.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    uri = fetch(url, { signal: AbortSignal.timeout(10_000) }).then(async (res) => {
      if (!res.ok) throw new Error(`OIDC discovery ${url} answered ${res.status}; set jwksUri in approval.issuers`);
      const doc = (await res.json()) as { jwks_uri?: unknown };
      if (typeof doc.jwks_uri !== 'string') throw new Error(`OIDC discovery ${url} has no jwks_uri`);
      return doc.jwks_uri;
    });
    uri.catch(() => discovered.delete(issuer.issuer));
    discovered.set(issuer.issuer, uri);
  }
  return uri;
}

function jwksFor(uri: string): ReturnType<typeof createRemoteJWKSet> {
  let jwks = jwksCache.get(uri);
  if (!jwks) {
    jwks = createRemoteJWKSet(new URL(uri), { timeoutDuration: 10_000, cooldownDuration: 10_000 });
    jwksCache.set(uri, jwks);
  }
  return jwks;
}

/**
 * Verifies a JWT's signature (against its issuer's JWKS), issuer, audience and expiry. Only issuers of `kind`
 * count. A bad token throws `IdentityRefused` with the reason; an unreachable JWKS throws a plain error (retry).
 */
async function verifyJwt(
  token: string,
  issuers: readonly IdentityIssuer[],
  kind: IdentityIssuer['kind'],
  now: Date = new Date(),
): Promise<{ claims: JWTPayload; issuer: IdentityIssuer }> {
  let iss: unknown;
  try {
    iss = decodeJwt(token).iss;
  } catch (err) {
    throw new IdentityRefused(`not a JWT: ${(err as Error).message}`);
  }
  const trusted = issuers.filter((i) => i.kind === kind);
  const issuer = trusted.find((i) => i.issuer === iss);
  if (!issuer) {
    const list = trusted.map((i) => i.issuer).join(', ') || '(none)';
    throw new IdentityRefused(
      `wrong issuer: the token was issued by ${JSON.stringify(iss ?? null)}; approval.issuers trusts (${kind}) ${list}`,
    );
  }
  const jwksUri = await jwksUriOf(issuer);
  try {
    const { payload } = await jwtVerify(token, jwksFor(jwksUri), {
      issuer: issuer.issuer,
      audience: issuer.audiences,
      clockTolerance: CLOCK_TOLERANCE_S,
      currentDate: now,
      requiredClaims: ['exp', 'sub'],
    });
    return { claims: payload, issuer };
  } catch (err) {
    throw refusalOf(err, token, issuer, jwksUri);
  }
}

function refusalOf(err: unknown, token: string, issuer: IdentityIssuer, jwksUri: string): Error {
  if (err instanceof errors.JWTExpired) {
    const exp = decodeJwt(token).exp;
    return new IdentityRefused(
      `expired: the token expired at ${exp ? new Date(exp * 1000).toISOString() : '?'}; get a fresh one`,
    );
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') {
      return new IdentityRefused(
        `wrong audience: the token is for ${JSON.stringify(decodeJwt(token).aud ?? null)}; approval.issuers accepts ${issuer.audiences.join(', ')} from ${issuer.issuer}`,
      );
    }
    return new IdentityRefused(`invalid token: ${err.message} (claim ${err.claim})`);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return new IdentityRefused(
      `forged signature: the token's signature does not verify against the keys of ${issuer.issuer} (${jwksUri})`,
    );
  }
  if (err instanceof errors.JWKSNoMatchingKey) {
    return new IdentityRefused(
      `forged signature: no key of ${issuer.issuer} (${jwksUri}) matches the token's key id and algorithm`,
    );
  }
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid || err instanceof errors.JOSEAlgNotAllowed) {
    return new IdentityRefused(`invalid token: ${(err as Error).message}`);
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** The email a token names, which must be `by` (case-insensitive). */
function emailOf(claims: JWTPayload, by: string, what: string): string {
  const email = claims.email;
  if (typeof email !== 'string' || !email)
    throw new IdentityRefused(`no email: the ${what} has no "email" claim; request the "email" scope`);
  if (claims.email_verified === false)
    throw new IdentityRefused(`unverified email: the issuer says ${email} is not verified`);
  if (email.toLowerCase() !== by.toLowerCase())
    throw new IdentityRefused(`someone else's token: the ${what} belongs to ${email}, the decision names ${by}`);
  return email.toLowerCase();
}

const expiry = (claims: JWTPayload) => new Date((claims.exp ?? 0) * 1000).toISOString();

/** Verifies an approver's own OIDC ID token for `by`. */
export async function verifyIdToken(
  token: string,
  by: string,
  issuers: readonly IdentityIssuer[],
  now?: Date,
): Promise<VerifiedIdentity> {
  const { claims, issuer } = await verifyJwt(token, issuers, 'oidc', now);
  return {
    via: 'oidc',
    issuer: issuer.issuer,
    subject: String(claims.sub),
    email: emailOf(claims, by, 'token'),
    tokenSha256: sha256Hex(token),
    expiresAt: expiry(claims),
  };
}

/** Verifies a codec server's assertion for a Web UI decision `{ by, comment }`. */
export async function verifyAssertion(
  assertion: string,
  by: string,
  comment: string,
  issuers: readonly IdentityIssuer[],
  now?: Date,
): Promise<{ identity: VerifiedIdentity; id: string }> {
  const { claims } = await verifyJwt(assertion, issuers, 'codec-server', now);
  if (claims.purpose !== ASSERTION_PURPOSE)
    throw new IdentityRefused('invalid assertion: not an approval assertion (purpose claim)');
  const email = emailOf(claims, by, 'assertion');
  if (claims.payload_sha256 !== payloadBinding(by, comment))
    throw new IdentityRefused('assertion for another payload: its by/comment differ from the decision sent');
  if (typeof claims.jti !== 'string' || typeof claims.src_iss !== 'string' || typeof claims.token_sha256 !== 'string')
    throw new IdentityRefused('invalid assertion: jti, src_iss or token_sha256 missing');
  return {
    id: claims.jti,
    identity: {
      via: 'web-ui',
      issuer: claims.src_iss,
      subject: String(claims.sub),
      email,
      tokenSha256: claims.token_sha256,
      expiresAt: expiry(claims),
    },
  };
}

/** The codec server's signing key for assertions. */
export interface AssertionSigner {
  /** Private key (ES256: P-256, or EdDSA: Ed25519), e.g. `createPrivateKey(pem)`. */
  key: KeyObject;
  /** Key id, published in the codec server's JWKS. */
  kid: string;
  alg: 'ES256' | 'EdDSA';
  /** The assertions' `iss`: what the spec's `codec-server` issuer names (e.g. the codec server's URL). */
  issuer: string;
  /** Default `temporal-mlops-approval`. */
  audience?: string;
  /** Lifetime in seconds (default 120): long enough to send the Signal, short enough to be useless later. */
  ttlSeconds?: number;
}

/** Signs an assertion that `identity` sent the decision `{ by, comment }`. */
export async function signAssertion(
  signer: AssertionSigner,
  decision: { by: string; comment: string },
  identity: Omit<VerifiedIdentity, 'via' | 'expiresAt'>,
): Promise<string> {
  const ttl = signer.ttlSeconds ?? 120;
  return new SignJWT({
    purpose: ASSERTION_PURPOSE,
    email: identity.email,
    src_iss: identity.issuer,
    token_sha256: identity.tokenSha256,
    payload_sha256: payloadBinding(decision.by, decision.comment),
  })
    .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'JWT' })
    .setIssuer(signer.issuer)
    .setSubject(identity.subject)
    .setAudience(signer.audience ?? DEFAULT_ASSERTION_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(`${ttl}s`)
    .setJti(crypto.randomUUID())
    .sign(signer.key);
}

/** The signer's public key as a JWKS, which the codec server publishes and the workers trust. */
export async function signerJwks(signer: AssertionSigner): Promise<{ keys: JWK[] }> {
  const jwk = await exportJWK(createPublicKey(signer.key));
  return { keys: [{ ...jwk, kid: signer.kid, alg: signer.alg, use: 'sig' }] };
}
