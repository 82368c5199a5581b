/**
 * Where Temporal is and how to talk to it, resolved the way the Temporal CLI and every Temporal SDK do it
 * (`@temporalio/envconfig`): a `temporal.toml` profile, then the `TEMPORAL_*` variables over it, then the explicit
 * options over both. One resolution serves the worker, `PipelineClient`, the CLI and schedules, so a team sets
 * up a Temporal Cloud API key or a self-hosted cluster's client certificate once.
 *
 * Every mistake is reported as a `PipelineError` (code `ConnectionFailed`) that names the setting to fix, in the
 * form the user gave it (variable, profile key or option), rather than as a gRPC stack trace.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { Connection, type ConnectionOptions as TemporalConnectionOptions, type TLSConfig } from '@temporalio/client';
import { loadClientConfigProfile, type ClientConfigProfile, type ConfigDataSource } from '@temporalio/envconfig';
import { PipelineError } from './errors.js';

export const DEFAULT_TASK_QUEUE = 'temporal-mlops';

/** TLS settings given in code; each wins over the same setting from the profile or the variables. */
export interface TlsSettings {
  /** PEM file of the CA that signed the server's certificate (default: the system's trusted roots). */
  serverCaCertPath?: string;
  /** The same, as PEM text. */
  serverCaCert?: string | Uint8Array;
  /** PEM file of the client certificate, for mTLS. Needs `clientKeyPath` or `clientKey`. */
  clientCertPath?: string;
  clientCert?: string | Uint8Array;
  /** PEM file of the client certificate's private key. */
  clientKeyPath?: string;
  clientKey?: string | Uint8Array;
  /** The name to check the server's certificate against (and send as SNI), when it differs from the address. */
  serverName?: string;
}

/** How to reach Temporal. Unset fields come from the profile and the `TEMPORAL_*` variables. */
export interface ConnectionOptions {
  /** `host:port` (`$TEMPORAL_ADDRESS`, the profile's `address`, else `localhost:7233`). */
  address?: string;
  /** `$TEMPORAL_NAMESPACE`, the profile's `namespace`, else `default`. */
  namespace?: string;
  /** The `temporal.toml` profile to read (`$TEMPORAL_PROFILE`, else `default`). */
  profile?: string;
  /** The `temporal.toml` file (`$TEMPORAL_CONFIG_FILE`, else `~/.config/temporalio/temporal.toml`). */
  configFile?: string;
  /** A Temporal Cloud API key, sent as `authorization: Bearer <key>`; turns TLS on. */
  apiKey?: string;
  /** `true` for TLS with the system's roots, `false` to turn it off, or the TLS settings. */
  tls?: boolean | TlsSettings;
  /** Variables to read instead of `process.env` (embedding, tests). */
  env?: Record<string, string | undefined>;
}

/** A setting that can be wrong, and the three ways a user can give it. */
interface Setting {
  env: string;
  toml: string;
  option: string;
}

const SETTINGS = {
  address: { env: 'TEMPORAL_ADDRESS', toml: 'address', option: 'address' },
  namespace: { env: 'TEMPORAL_NAMESPACE', toml: 'namespace', option: 'namespace' },
  apiKey: { env: 'TEMPORAL_API_KEY', toml: 'api_key', option: 'apiKey' },
  tls: { env: 'TEMPORAL_TLS', toml: 'tls.disabled', option: 'tls' },
  serverCaCert: {
    env: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
    toml: 'tls.server_ca_cert_path',
    option: 'tls.serverCaCertPath',
  },
  clientCert: { env: 'TEMPORAL_TLS_CLIENT_CERT_PATH', toml: 'tls.client_cert_path', option: 'tls.clientCertPath' },
  clientKey: { env: 'TEMPORAL_TLS_CLIENT_KEY_PATH', toml: 'tls.client_key_path', option: 'tls.clientKeyPath' },
  serverName: { env: 'TEMPORAL_TLS_SERVER_NAME', toml: 'tls.server_name', option: 'tls.serverName' },
} satisfies Record<string, Setting>;

type SettingName = keyof typeof SETTINGS;

/** Where each given setting came from: the variable, profile key or option that set it, and the file it named. */
export type Origins = Partial<Record<SettingName, { label: string; value?: string }>>;

/** The connection settings after profile, variables and options were merged; TLS material is loaded. */
export interface ResolvedConnection {
  address: string;
  namespace: string;
  apiKey?: string;
  /** Undefined for plaintext. */
  tls?: TLSConfig;
  /** Extra gRPC headers from the profile's `grpc_meta` / `TEMPORAL_GRPC_META_*`. */
  metadata?: Record<string, string>;
  /** For each setting that was given, where: e.g. `TEMPORAL_TLS_CLIENT_KEY_PATH` and `/etc/temporal/client.key`. */
  origins: Origins;
  /** The profile that was read, and from which file, when one was. */
  profile?: { name: string; file: string };
}

function defaultConfigFile(env: Record<string, string>): string | undefined {
  if (env.TEMPORAL_CONFIG_FILE) return env.TEMPORAL_CONFIG_FILE;
  const base =
    process.platform === 'win32'
      ? env.APPDATA
      : process.platform === 'darwin'
        ? env.HOME && path.join(env.HOME, 'Library', 'Application Support')
        : (env.XDG_CONFIG_HOME ?? (env.HOME && path.join(env.HOME, '.config')));
  return base ? path.join(base, 'temporalio', 'temporal.toml') : undefined;
}

function definedEnv(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

const fail = (message: string, cause?: unknown) =>
  new PipelineError('ConnectionFailed', message, undefined, cause === undefined ? undefined : { cause });

/** The setting to change: the one the user gave, else the variable and the profile key. */
function howToSet(origins: Origins, name: SettingName): string {
  const given = origins[name];
  if (given) return given.label;
  const s = SETTINGS[name];
  return `${s.env} (or ${s.toml} in the temporal.toml profile)`;
}

/** `TEMPORAL_TLS_CLIENT_KEY_PATH (/etc/temporal/client.key)`: where a given setting came from. */
function shown(origins: Origins, name: SettingName): string {
  const given = origins[name];
  if (!given) return `no ${SETTINGS[name].env}`;
  return given.value ? `${given.label} (${given.value})` : given.label;
}

/**
 * Merges the profile, the `TEMPORAL_*` variables and `options`, and loads the TLS files. Throws a
 * `PipelineError` naming the setting when a file is missing, a certificate or key is not PEM, or a key does not
 * belong to its certificate.
 *
 * @example
 * // TEMPORAL_ADDRESS=acme.a1b2c.tmprl.cloud:7233 TEMPORAL_NAMESPACE=acme.a1b2c TEMPORAL_API_KEY=...
 * const { address, namespace, tls } = resolveConnectionOptions();
 */
export function resolveConnectionOptions(options: ConnectionOptions = {}): ResolvedConnection {
  const env = definedEnv(options.env ?? process.env);
  const file = options.configFile ?? defaultConfigFile(env);
  const explicitFile = options.configFile ?? env.TEMPORAL_CONFIG_FILE;
  if (explicitFile && !existsSync(explicitFile)) {
    throw fail(
      `The Temporal config file ${explicitFile} (${options.configFile ? 'the configFile option' : 'TEMPORAL_CONFIG_FILE'}) does not exist: create it with \`temporal config set\`, or point ${options.configFile ? 'configFile' : 'TEMPORAL_CONFIG_FILE'} at your temporal.toml`,
    );
  }
  const profileName = options.profile ?? env.TEMPORAL_PROFILE;
  if (profileName && !(file && existsSync(file))) {
    throw fail(
      `Profile "${profileName}" (${options.profile ? 'the profile option / --profile' : 'TEMPORAL_PROFILE'}) was asked for, but there is no temporal.toml at ${file ?? '~/.config/temporalio/temporal.toml'}: set TEMPORAL_CONFIG_FILE to your config file, or create the profile with \`temporal config set --profile ${profileName} ...\``,
    );
  }
  const load = (disableEnv: boolean): ClientConfigProfile => {
    try {
      return loadClientConfigProfile({
        profile: profileName,
        configSource: file && existsSync(file) ? { path: file } : undefined,
        disableFile: !(file && existsSync(file)),
        disableEnv,
        overrideEnvVars: env,
      });
    } catch (err) {
      const why = (err as Error).message;
      if (/Profile '.*' not found/.test(why))
        throw fail(
          `Profile "${profileName}" (${options.profile ? 'the profile option / --profile' : 'TEMPORAL_PROFILE'}) is not in ${file ?? 'any temporal.toml'}: add it with \`temporal config set --profile ${profileName} ...\` or pick an existing one`,
          err,
        );
      throw fail(`Cannot read the Temporal config file ${file}: ${why}`, err);
    }
  };
  // The profile alone tells which settings came from the file (for messages); merged puts the variables over it.
  const fromFile = file && existsSync(file) ? load(true) : {};
  const merged = load(false);
  const explicitTls = typeof options.tls === 'object' ? options.tls : undefined;

  const origins: Origins = {};
  const profileLabel = `in profile "${profileName ?? 'default'}" of ${file}`;
  /** Records where a setting came from: option, then variable(s), then file. */
  const origin = (name: SettingName, option: unknown, envNames: string[], fileValue: unknown, shownValue?: string) => {
    const s = SETTINGS[name];
    const value = shownValue === undefined ? {} : { value: shownValue };
    if (option !== undefined) origins[name] = { label: `the ${s.option} option`, ...value };
    else {
      const fromEnv = envNames.find((n) => env[n] !== undefined);
      if (fromEnv) origins[name] = { label: fromEnv, ...value };
      else if (fileValue !== undefined) origins[name] = { label: `${s.toml} ${profileLabel}`, ...value };
    }
  };

  const address = options.address ?? merged.address ?? 'localhost:7233';
  origin('address', options.address, ['TEMPORAL_ADDRESS'], fromFile.address);
  const namespace = options.namespace ?? merged.namespace ?? 'default';
  origin('namespace', options.namespace, ['TEMPORAL_NAMESPACE'], fromFile.namespace);
  const apiKey = options.apiKey ?? merged.apiKey;
  origin('apiKey', options.apiKey, ['TEMPORAL_API_KEY'], fromFile.apiKey);

  const source = (
    name: 'serverCaCert' | 'clientCert' | 'clientKey',
    pathOption: string | undefined,
    dataOption: string | Uint8Array | undefined,
    fromProfile: ConfigDataSource | undefined,
    fileValue: ConfigDataSource | undefined,
  ): ConfigDataSource | undefined => {
    const chosen: ConfigDataSource | undefined =
      pathOption !== undefined ? { path: pathOption } : dataOption !== undefined ? { data: dataOption } : fromProfile;
    const envBase = SETTINGS[name].env.replace(/_PATH$/, '');
    origin(
      name,
      pathOption ?? dataOption,
      [`${envBase}_PATH`, `${envBase}_DATA`],
      fileValue,
      chosen && 'path' in chosen ? chosen.path : undefined,
    );
    return chosen;
  };
  const profileTls = merged.tls;
  const caSource = source(
    'serverCaCert',
    explicitTls?.serverCaCertPath,
    explicitTls?.serverCaCert,
    profileTls?.serverCACert,
    fromFile.tls?.serverCACert,
  );
  const certSource = source(
    'clientCert',
    explicitTls?.clientCertPath,
    explicitTls?.clientCert,
    profileTls?.clientCert,
    fromFile.tls?.clientCert,
  );
  const keySource = source(
    'clientKey',
    explicitTls?.clientKeyPath,
    explicitTls?.clientKey,
    profileTls?.clientKey,
    fromFile.tls?.clientKey,
  );
  const serverName = explicitTls?.serverName ?? profileTls?.serverName;
  origin('serverName', explicitTls?.serverName, ['TEMPORAL_TLS_SERVER_NAME'], fromFile.tls?.serverName, serverName);
  if (env.TEMPORAL_TLS_DISABLE_HOST_VERIFICATION === 'true' || env.TEMPORAL_TLS_DISABLE_HOST_VERIFICATION === '1') {
    throw fail(
      `TEMPORAL_TLS_DISABLE_HOST_VERIFICATION is not supported by the TypeScript SDK: unset it and set ${howToSet(origins, 'serverName')} to a name in the server's certificate instead`,
    );
  }

  // TLS is on when asked for, when any TLS material is given, or with an API key (as Temporal Cloud requires);
  // an explicit off (`tls: false`, TEMPORAL_TLS=false, tls.disabled = true) wins.
  const disabled = options.tls === false || (options.tls === undefined && profileTls?.disabled === true);
  origin('tls', typeof options.tls === 'boolean' ? options.tls : undefined, ['TEMPORAL_TLS'], fromFile.tls?.disabled);
  const wantsTls =
    !disabled &&
    (options.tls !== undefined ||
      profileTls !== undefined ||
      apiKey !== undefined ||
      [caSource, certSource, keySource, serverName].some((v) => v !== undefined));
  let tlsConfig: TLSConfig | undefined;
  if (wantsTls) {
    const ca = loadPem('serverCaCert', caSource, origins);
    const crt = loadPem('clientCert', certSource, origins);
    const key = loadPem('clientKey', keySource, origins);
    if (crt && !key)
      throw fail(
        `A client certificate is set (${shown(origins, 'clientCert')}) but no key: set ${howToSet(origins, 'clientKey')} to its private key`,
      );
    if (key && !crt)
      throw fail(
        `A client key is set (${shown(origins, 'clientKey')}) but no certificate: set ${howToSet(origins, 'clientCert')} to the certificate it belongs to`,
      );
    if (ca) checkCertificate('serverCaCert', ca, origins);
    if (crt && key) checkCertificatePair(crt, key, origins);
    tlsConfig = {
      ...(serverName ? { serverNameOverride: serverName } : {}),
      ...(ca ? { serverRootCACertificate: ca } : {}),
      ...(crt && key ? { clientCertPair: { crt, key } } : {}),
    };
  }
  return {
    address,
    namespace,
    ...(apiKey !== undefined ? { apiKey } : {}),
    ...(tlsConfig ? { tls: tlsConfig } : {}),
    ...(merged.grpcMeta && Object.keys(merged.grpcMeta).length ? { metadata: merged.grpcMeta } : {}),
    origins,
    ...(file && existsSync(file) ? { profile: { name: profileName ?? 'default', file } } : {}),
  };
}

const WHAT = { serverCaCert: 'server CA certificate', clientCert: 'client certificate', clientKey: 'client key' };

function loadPem(
  name: 'serverCaCert' | 'clientCert' | 'clientKey',
  source: ConfigDataSource | undefined,
  origins: Origins,
): Buffer | undefined {
  if (!source) return undefined;
  if ('data' in source) return Buffer.from(source.data);
  try {
    return readFileSync(source.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw fail(
      `Cannot read the ${WHAT[name]} file named by ${shown(origins, name)}: ${why}. Set ${howToSet(origins, name)} to a readable PEM file`,
      err,
    );
  }
}

function checkCertificate(name: 'serverCaCert' | 'clientCert', pem: Buffer, origins: Origins) {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw fail(
      `The ${WHAT[name]} from ${shown(origins, name)} is not a PEM certificate (${(err as Error).message}): set ${howToSet(origins, name)} to a file that starts with -----BEGIN CERTIFICATE-----`,
      err,
    );
  }
}

function checkCertificatePair(crt: Buffer, key: Buffer, origins: Origins) {
  const cert = checkCertificate('clientCert', crt, origins);
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw fail(
      `The client key from ${shown(origins, 'clientKey')} is not a PEM private key (${(err as Error).message}): set ${howToSet(origins, 'clientKey')} to the key of the client certificate`,
      err,
    );
  }
  if (!cert.checkPrivateKey(privateKey)) {
    throw fail(
      `The client key from ${shown(origins, 'clientKey')} does not belong to the client certificate from ${shown(origins, 'clientCert')}: set ${howToSet(origins, 'clientKey')} and ${howToSet(origins, 'clientCert')} to a matching pair`,
    );
  }
  if (new Date(cert.validTo).getTime() < Date.now()) {
    throw fail(
      `The client certificate from ${shown(origins, 'clientCert')} expired on ${cert.validTo}: issue a new one and set ${howToSet(origins, 'clientCert')} to it`,
    );
  }
}

/** One line for logs: address, namespace and how the connection authenticates; never the key itself. */
export function describeConnection(c: ResolvedConnection): string {
  const parts = [`namespace ${c.namespace}`];
  if (!c.tls) parts.push('plaintext');
  else {
    parts.push(
      c.tls.serverRootCACertificate ? `TLS (CA from ${shown(c.origins, 'serverCaCert')})` : 'TLS (system roots)',
    );
    if (c.tls.clientCertPair) parts.push(`client certificate from ${shown(c.origins, 'clientCert')}`);
  }
  if (c.apiKey) parts.push(`API key from ${shown(c.origins, 'apiKey')}`);
  if (c.profile) parts.push(`profile "${c.profile.name}" of ${c.profile.file}`);
  return `${c.address} (${parts.join(', ')})`;
}

/** What a TLS handshake with the endpoint, made with the same settings, found. */
export type ProbeResult =
  | { kind: 'ok' }
  | {
      kind:
        'unreachable' | 'untrusted-server' | 'name-mismatch' | 'not-tls' | 'tls-expected' | 'cert-refused' | 'other';
      detail: string;
    };

function hostPort(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(address);
  return { host: m?.[1] ?? address, port: Number(m?.[2] ?? 7233) };
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
]);

/**
 * Opens one TLS handshake (or, for a plaintext connection, one to see whether the server wants TLS) to find out
 * precisely why a connection failed: the gRPC clients report most of these as a bare deadline.
 */
export function probeEndpoint(c: ResolvedConnection, timeoutMs = 5000): Promise<ProbeResult> {
  const { host, port } = hostPort(c.address);
  const sni = c.tls?.serverNameOverride ?? host;
  return new Promise<ProbeResult>((resolve) => {
    let settled = false;
    const done = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const socket = tls.connect({
      host,
      port,
      ...(isIP(sni) ? {} : { servername: sni }),
      ALPNProtocols: ['h2'],
      ...(c.tls
        ? {
            ca: c.tls.serverRootCACertificate ? Buffer.from(c.tls.serverRootCACertificate) : undefined,
            cert: c.tls.clientCertPair ? Buffer.from(c.tls.clientCertPair.crt) : undefined,
            key: c.tls.clientCertPair ? Buffer.from(c.tls.clientCertPair.key) : undefined,
            checkServerIdentity: (_host: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(sni, cert),
          }
        : { rejectUnauthorized: false }),
    });
    const timer = setTimeout(
      () => done({ kind: 'unreachable', detail: `no answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
    socket.once('secureConnect', () => {
      if (!c.tls) return done({ kind: 'tls-expected', detail: 'the server completed a TLS handshake' });
      // With TLS 1.3 a server refuses a client certificate just after the handshake: give it a moment to say so.
      setTimeout(() => done({ kind: 'ok' }), 300);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? '';
      const text = `${code} ${err.message}`;
      if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT'].includes(code))
        return done({ kind: 'unreachable', detail: err.message });
      if (!c.tls) return done({ kind: 'other', detail: err.message }); // not TLS either: something else is wrong
      if (UNTRUSTED.has(code)) return done({ kind: 'untrusted-server', detail: `${code}: ${err.message}` });
      if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return done({ kind: 'name-mismatch', detail: err.message });
      const openssl = /wrong version number|packet length too long|unknown protocol|record layer failure/i.exec(text);
      if (openssl) return done({ kind: 'not-tls', detail: `TLS handshake failed: ${openssl[0]}` });
      if (/certificate required|bad certificate|unknown ca|certificate unknown|handshake failure/i.test(text))
        return done({ kind: 'cert-refused', detail: err.message });
      if (code === 'ECONNRESET')
        return done({ kind: 'not-tls', detail: 'the server closed the connection during the TLS handshake' });
      done({ kind: 'other', detail: text.trim() });
    });
  });
}

/** The gRPC status of a failed connect, from either client: 16 UNAUTHENTICATED, 7 PERMISSION_DENIED. */
function grpcStatusOf(err: unknown): { code?: number; message: string } {
  for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'number') return { code, message: (e as { details?: string }).details ?? e.message };
  }
  const text = err instanceof Error ? err.message : String(err);
  const serverSaid = /message: "([^"]*)"/.exec(text)?.[1] ?? text;
  if (/valid authentication credentials|Unauthenticated/i.test(text)) return { code: 16, message: serverSaid };
  if (/does not have permission|PermissionDenied/i.test(text)) return { code: 7, message: serverSaid };
  return { message: text };
}

/**
 * Turns a failed connect into a `PipelineError` that says what is wrong and which setting fixes it, from the
 * gRPC status when the server answered and from a TLS probe when it did not.
 */
export function connectionError(c: ResolvedConnection, err: unknown, probe: ProbeResult | undefined): PipelineError {
  const at = `Temporal at ${c.address}${c.origins.address ? ` (${c.origins.address.label})` : ''}`;
  const status = grpcStatusOf(err);
  if (status.code === 16 || status.code === 7) {
    const said = `the server said: "${status.message}"`;
    if (c.apiKey)
      return fail(
        `${at} refused the API key from ${shown(c.origins, 'apiKey')} (${said}). Set ${howToSet(c.origins, 'apiKey')} to a valid, unexpired key with access to namespace "${c.namespace}"`,
        err,
      );
    if (c.tls?.clientCertPair)
      return fail(
        `${at} refused the client certificate from ${shown(c.origins, 'clientCert')} (${said}). Set ${howToSet(c.origins, 'clientCert')} and ${howToSet(c.origins, 'clientKey')} to a certificate signed by the CA the server trusts for namespace "${c.namespace}"`,
        err,
      );
    return fail(
      `${at} requires credentials (${said}). Set ${howToSet(c.origins, 'apiKey')} for an API key, or ${howToSet(c.origins, 'clientCert')} and ${howToSet(c.origins, 'clientKey')} for mTLS`,
      err,
    );
  }
  switch (probe?.kind) {
    case 'unreachable':
      return fail(
        `No Temporal server answered at ${c.address} (${probe.detail}). Check ${howToSet(c.origins, 'address')}: it should be host:port of the frontend`,
        err,
      );
    case 'untrusted-server':
      return fail(
        c.tls?.serverRootCACertificate
          ? `The server certificate of ${at} is not signed by the CA from ${shown(c.origins, 'serverCaCert')} (${probe.detail}). Set ${howToSet(c.origins, 'serverCaCert')} to the CA certificate that signed the server's certificate`
          : `The server certificate of ${at} is not signed by a CA this machine trusts (${probe.detail}). Set ${howToSet(c.origins, 'serverCaCert')} to the CA certificate that signed it`,
        err,
      );
    case 'name-mismatch':
      return fail(
        `The server certificate of ${at} is not valid for the name "${c.tls?.serverNameOverride ?? hostPort(c.address).host}" (${probe.detail}). Set ${howToSet(c.origins, 'serverName')} to a name the certificate holds, or use that name in ${howToSet(c.origins, 'address')}`,
        err,
      );
    case 'not-tls':
      return fail(
        `${at} does not speak TLS, but TLS is on (${(c.origins.tls ?? c.origins.apiKey ?? c.origins.serverCaCert ?? c.origins.clientCert)?.label ?? 'the tls option'}): ${probe.detail}. Check ${howToSet(c.origins, 'address')}, or set TEMPORAL_TLS=false (tls.disabled = true in the profile) for a plaintext server`,
        err,
      );
    case 'tls-expected':
      return fail(
        `${at} expects TLS, but this connection is plaintext. Set TEMPORAL_TLS=true (and ${howToSet(c.origins, 'serverCaCert')} for a private CA), or ${howToSet(c.origins, 'apiKey')} / ${howToSet(c.origins, 'clientCert')} as the server requires`,
        err,
      );
    case 'cert-refused':
      return fail(
        c.tls?.clientCertPair
          ? `${at} refused the client certificate from ${shown(c.origins, 'clientCert')} (${probe.detail}). Set ${howToSet(c.origins, 'clientCert')} and ${howToSet(c.origins, 'clientKey')} to a certificate signed by the CA the server trusts`
          : `${at} requires a client certificate (${probe.detail}). Set ${howToSet(c.origins, 'clientCert')} and ${howToSet(c.origins, 'clientKey')}`,
        err,
      );
    default:
      return fail(
        `Could not connect to ${at}: ${status.message}${probe && probe.kind !== 'ok' ? ` (${probe.detail})` : ''}`,
        err,
      );
  }
}

/** The options of `@temporalio/client`'s `Connection` for a resolved connection. */
export function clientConnectionOptions(c: ResolvedConnection): TemporalConnectionOptions {
  return connectionSettings(c);
}

/** What the client's and the worker's connections share: address, TLS (explicitly on or off), API key, metadata. */
export function connectionSettings(c: ResolvedConnection) {
  return {
    address: c.address,
    // Explicitly off: the SDK would otherwise turn TLS on for an API key that was meant for a plaintext endpoint.
    tls: c.tls ?? false,
    ...(c.apiKey !== undefined ? { apiKey: c.apiKey } : {}),
    ...(c.metadata ? { metadata: c.metadata } : {}),
  };
}

/**
 * Connects a `@temporalio/client` `Connection`. A TLS problem is reported as soon as a handshake shows it,
 * instead of after the connect deadline.
 */
export async function connectClient(c: ResolvedConnection, connectTimeoutMs = 10_000): Promise<Connection> {
  const connection = Connection.lazy({ ...clientConnectionOptions(c), connectTimeout: connectTimeoutMs });
  // grpc-js reports a TLS mismatch only as a missed deadline: a handshake of our own says what it is, at once.
  const early = probeEndpoint(c);
  const definitive = (r: ProbeResult) =>
    ['untrusted-server', 'name-mismatch', 'not-tls', 'cert-refused', 'tls-expected'].includes(r.kind);
  try {
    await Promise.race([
      connection.ensureConnected(),
      early.then((r) =>
        definitive(r) ? Promise.reject(connectionError(c, new Error(r.kind), r)) : new Promise<never>(() => {}),
      ),
    ]);
    return connection;
  } catch (err) {
    // ensureConnected may still be pending when the probe decided: closing the channel ends it.
    connection.ensureConnected().catch(() => undefined);
    await connection.close().catch(() => undefined);
    if (err instanceof PipelineError) throw err;
    throw connectionError(c, err, await early);
  }
}
