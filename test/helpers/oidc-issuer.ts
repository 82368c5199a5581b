/**
 * A local OIDC issuer on loopback for the approval-identity tests. Stand-in for an identity provider's public
 * side only: it serves OpenID Connect Discovery 1.0 (`/.well-known/openid-configuration` with the fields that spec
 * marks REQUIRED) and a JWKS (RFC 7517) of RSA keys generated at set-up, and mints RS256 ID tokens with jose, the
 * library the verifier uses. jose's own JWKS parser checks what it serves; the tokens are standard JWTs (RFC 7519).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

/** A running issuer. */
export interface LocalIssuer {
  /** `http://127.0.0.1:<port>`: the tokens' `iss`. */
  issuer: string;
  jwksUri: string;
  /** An ID token for `email`; `overrides` tamper with it (expired, other audience, other key…). */
  mint(email: string, overrides?: MintOverrides): Promise<string>;
  close(): Promise<void>;
}

export interface MintOverrides {
  audience?: string;
  /** Seconds from now (negative: already expired). Default 3600. */
  expiresIn?: number;
  /** Sign with this key instead of the published one (a forgery), under the published key id. */
  key?: CryptoKey;
  subject?: string;
  claims?: Record<string, unknown>;
}

/** Starts an issuer whose tokens carry `audience` unless told otherwise. */
export async function startLocalIssuer(audience: string): Promise<LocalIssuer> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const kid = `key-${Date.now().toString(36)}`;
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  let issuer = '';
  const server = createServer((req, res) => {
    const json = (body: unknown) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/.well-known/openid-configuration') {
      return json({
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        jwks_uri: `${issuer}/jwks.json`,
        response_types_supported: ['code', 'id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (req.url === '/jwks.json') return json({ keys: [jwk] });
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    jwksUri: `${issuer}/jwks.json`,
    mint: (email, o = {}) =>
      new SignJWT({ email, email_verified: true, ...o.claims })
        .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
        .setIssuer(issuer)
        .setSubject(o.subject ?? `sub-${email.split('@')[0]}`)
        .setAudience(o.audience ?? audience)
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + (o.expiresIn ?? 3600))
        .sign(o.key ?? privateKey),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
