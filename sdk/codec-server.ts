/**
 * A codec server: the HTTP endpoints the Temporal Web UI and CLI call to show encrypted payloads decoded
 * (`POST …/decode`) and to encrypt what a person sends from the UI, such as an approve Signal (`POST …/encode`).
 * The keys stay in this process; the browser never sees them. Protocol: temporalio/samples-go codec-server
 * protocol.md (Payloads as protobuf JSON, only the last path segment matters, `X-Namespace` header).
 *
 * The browser calls it across origins, so it answers CORS for the UI's origin(s) only. With a token, each request
 * needs `Authorization: Bearer <token>` (scripts and `temporal --codec-auth`); to gate people in the UI, run it
 * behind your single sign-on proxy.
 *
 * With `approvalIdentity`, it vouches for Web UI approvers: the UI (codec `passAccessToken: true`) sends the signed-in
 * user's access token as `Authorization: Bearer …` and the ID token as `Authorization-Extras` (temporalio/ui
 * `src/lib/services/data-encoder.ts`). When an `/encode` payload is a decision `{ by, comment }`, the token is
 * verified against the UI's issuer and the payload is stamped with `proof: { assertion }`, a short-lived JWT this
 * server signs (published at `/.well-known/jwks.json`), or `proof: { refused }` saying why it could not vouch.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import {
  IdentityRefused,
  signAssertion,
  signerJwks,
  verifyIdToken,
  type AssertionSigner,
} from './approval-identity.js';
import type { IdentityIssuer } from './spec/approval.js';

/** Options of `startCodecServer`. */
export interface CodecServerOptions {
  codec: PayloadCodec;
  /** Default 8081; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Origins the browser may call from: the Web UI's, e.g. `https://temporal.acme.internal`. */
  allowedOrigins: string[];
  /** When set, every encode/decode request must carry `Authorization: Bearer <token>`. */
  token?: string;
  /** Largest request body accepted (default 32 MiB). */
  maxBodyBytes?: number;
  log?: (line: string) => void;
  /** Vouch for Web UI approvers (approval identity `verified`); exclusive with `token`, whose header the UI uses. */
  approvalIdentity?: {
    /** The Web UI's OIDC issuer(s) and client id(s): the tokens the UI forwards are checked against them. */
    issuers: IdentityIssuer[];
    /** The key assertions are signed with; the pipeline's `approval.issuers` trusts its JWKS (kind `codec-server`). */
    signer: AssertionSigner;
  };
}

/** A running codec server. */
export interface CodecServer {
  /** Base URL, e.g. `http://127.0.0.1:8081`: what `--ui-codec-endpoint` / `TEMPORAL_CODEC_ENDPOINT` take. */
  url: string;
  port: number;
  close(): Promise<void>;
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))]),
  ),
  data: new Uint8Array(Buffer.from(p.data ?? '', 'base64')),
});

const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(Object.assign(new Error(`request body over ${limit} bytes`), { status: 413 }));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** A Web UI decision payload: JSON with a string `by`. Anything else passes through untouched. */
function decisionOf(p: Payload): Record<string, unknown> | undefined {
  if (Buffer.from(p.metadata?.encoding ?? new Uint8Array()).toString() !== 'json/plain') return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(p.data ?? new Uint8Array()).toString('utf8'));
    return value &&
      typeof value === 'object' &&
      !Array.isArray(value) &&
      typeof (value as { by?: unknown }).by === 'string'
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The token the Web UI forwards: the ID token (`Authorization-Extras`), else the bearer access token. */
function uiToken(req: IncomingMessage): string | undefined {
  const extras = req.headers['authorization-extras'];
  if (typeof extras === 'string' && extras.trim()) return extras.trim();
  return /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim() || undefined;
}

/** Stamps each decision payload with the proof of who sent it (`approvalIdentity`). */
async function stampDecisions(
  payloads: Payload[],
  req: IncomingMessage,
  identity: NonNullable<CodecServerOptions['approvalIdentity']>,
  log: (line: string) => void,
): Promise<Payload[]> {
  const token = uiToken(req);
  return Promise.all(
    payloads.map(async (p) => {
      const decision = decisionOf(p);
      if (!decision) return p;
      const by = String(decision.by);
      const comment = typeof decision.comment === 'string' ? decision.comment : '';
      let proof: { assertion: string } | { refused: string };
      if (!token) {
        proof = { refused: 'the Web UI sent no token; set codec passAccessToken: true in the UI server config' };
      } else {
        try {
          const who = await verifyIdToken(token, by, identity.issuers);
          proof = { assertion: await signAssertion(identity.signer, { by, comment }, who) };
        } catch (err) {
          proof = {
            refused:
              err instanceof IdentityRefused ? err.message : `could not check the token: ${(err as Error).message}`,
          };
        }
      }
      if ('refused' in proof) log(`codec-server: not vouching for ${by}: ${proof.refused}`);
      const data = Buffer.from(JSON.stringify({ ...decision, proof }));
      return { ...p, data: new Uint8Array(data) };
    }),
  );
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(/^Bearer (.+)$/i.exec(header ?? '')?.[1] ?? '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

/**
 * Starts the codec server.
 *
 * @example
 * const server = await startCodecServer({ codec: encryptionFromEnv()!, allowedOrigins: ['http://localhost:8233'] });
 * // temporal server start-dev --ui-codec-endpoint ${server.url}
 */
export async function startCodecServer(options: CodecServerOptions): Promise<CodecServer> {
  const log = options.log ?? (() => undefined);
  const limit = options.maxBodyBytes ?? 32 << 20;
  const origins = new Set(options.allowedOrigins.map((o) => o.replace(/\/+$/, '')));
  const identity = options.approvalIdentity;
  if (identity && options.token) {
    throw new Error(
      'codec server: approvalIdentity and token are exclusive (the Web UI sends its user token in the Authorization header); drop token',
    );
  }
  const jwks = identity ? await signerJwks(identity.signer) : undefined;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const origin = req.headers.origin;
    if (origin && origins.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Vary', 'Origin');
    }
    const send = (status: number, body?: unknown) => {
      res.writeHead(status, body === undefined ? {} : { 'Content-Type': 'application/json' });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    const last = (req.url ?? '').split('?')[0]!.replace(/\/+$/, '').split('/').pop();
    if (req.method === 'OPTIONS') {
      if (!origin || !origins.has(origin)) return send(403, { error: `origin ${origin ?? '(none)'} is not allowed` });
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader(
        'Access-Control-Allow-Headers',
        req.headers['access-control-request-headers'] ?? 'Content-Type, X-Namespace, Authorization',
      );
      res.setHeader('Access-Control-Max-Age', '600');
      return send(204);
    }
    if (req.method === 'GET' && last === 'health') return send(200, { ok: true });
    if (req.method === 'GET' && jwks && (req.url ?? '').split('?')[0]!.endsWith('/.well-known/jwks.json'))
      return send(200, jwks);
    if (req.method !== 'POST' || (last !== 'encode' && last !== 'decode'))
      return send(404, { error: 'POST …/encode or …/decode' });
    if (origin && !origins.has(origin)) return send(403, { error: `origin ${origin} is not allowed` });
    if (options.token && !tokenMatches(req.headers.authorization, options.token))
      return send(401, { error: 'missing or wrong bearer token' });
    let payloads: Payload[];
    try {
      const body = JSON.parse(await readBody(req, limit)) as { payloads?: JsonPayload[] };
      if (!Array.isArray(body.payloads)) return send(400, { error: 'body must be {"payloads": [...]}' });
      payloads = body.payloads.map(fromJson);
    } catch (err) {
      return send((err as { status?: number }).status ?? 400, { error: `bad request: ${(err as Error).message}` });
    }
    try {
      if (last === 'encode' && identity) payloads = await stampDecisions(payloads, req, identity, log);
      const out = last === 'encode' ? await options.codec.encode(payloads) : await options.codec.decode(payloads);
      send(200, { payloads: out.map(toJson) });
    } catch (err) {
      // Say why (e.g. a key that was retired too early), never what the payload held.
      log(
        `codec-server: ${last} of ${payloads.length} payload(s) for namespace ${String(req.headers['x-namespace'] ?? '?')} failed: ${(err as Error).message}`,
      );
      send(422, { error: (err as Error).message });
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log(`codec-server: ${(err as Error).message}`);
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8081, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
