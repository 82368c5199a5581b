/**
 * Connection settings resolved like the Temporal CLI: a temporal.toml profile, the TEMPORAL_* variables over it,
 * explicit options over both; TLS files loaded, and local mistakes named by the setting the user gave.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  clientConnectionOptions,
  describeConnection,
  resolveConnectionOptions,
  type ConnectionOptions,
} from '../../sdk/connection.js';
import { nativeConnectionOptions } from '../../workers/connection.js';
import type { PipelineError } from '../../sdk/errors.js';
import { makeCertificates, type Certificates } from '../helpers/tls-proxy.js';

let certs: Certificates;
let dir: string;
let toml: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mlops-conn-'));
  certs = await makeCertificates(path.join(dir, 'certs'));
  toml = path.join(dir, 'temporal.toml');
  await fs.writeFile(
    toml,
    `[profile.default]
address = "default.example:7233"

[profile.prod]
address = "prod.acme.internal:7233"
namespace = "ml-prod"

[profile.prod.tls]
server_ca_cert_path = "${certs.caCert}"
client_cert_path = "${certs.clientCert}"
client_key_path = "${certs.clientKey}"
server_name = "temporal.internal"

[profile.cloud]
address = "us-east-1.aws.api.temporal.io:7233"
namespace = "acme.a1b2c"
api_key = "from-profile"

[profile.broken]
address = "prod.acme.internal:7233"

[profile.broken.tls]
client_cert_path = "${certs.clientCert}"
client_key_path = "${dir}/missing.key"
`,
  );
});

const resolve = (env: Record<string, string>, options: ConnectionOptions = {}) =>
  resolveConnectionOptions({ env: { HOME: dir, ...env }, ...options });

function failure(fn: () => unknown): PipelineError {
  try {
    fn();
  } catch (err) {
    return err as PipelineError;
  }
  throw new Error('expected a throw');
}

describe('resolveConnectionOptions', () => {
  it('with nothing set: the local dev server, plaintext', () => {
    const c = resolve({});
    expect(c).toMatchObject({ address: 'localhost:7233', namespace: 'default' });
    expect(c.tls).toBeUndefined();
    expect(c.apiKey).toBeUndefined();
  });

  it('reads a profile with mTLS and a server name, from the default temporal.toml location', async () => {
    const xdg = path.join(dir, 'xdg');
    await fs.mkdir(path.join(xdg, 'temporalio'), { recursive: true });
    await fs.copyFile(toml, path.join(xdg, 'temporalio', 'temporal.toml'));
    const c = resolve({ XDG_CONFIG_HOME: xdg, TEMPORAL_PROFILE: 'prod' });
    expect(c).toMatchObject({ address: 'prod.acme.internal:7233', namespace: 'ml-prod' });
    expect(c.tls?.serverNameOverride).toBe('temporal.internal');
    expect(Buffer.from(c.tls!.serverRootCACertificate!).toString()).toBe(await fs.readFile(certs.caCert, 'utf8'));
    expect(Buffer.from(c.tls!.clientCertPair!.key).toString()).toBe(await fs.readFile(certs.clientKey, 'utf8'));
    expect(describeConnection(c)).toMatch(
      /^prod\.acme\.internal:7233 \(namespace ml-prod, TLS \(CA from tls\.server_ca_cert_path in profile "prod" of .*temporal\.toml \(.*server-ca\.crt\)\), client certificate from tls\.client_cert_path/,
    );
  });

  it('variables override the profile, and explicit options override both', () => {
    const env = { TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'cloud', TEMPORAL_NAMESPACE: 'acme.zzz' };
    const fromEnv = resolve({ ...env, TEMPORAL_API_KEY: 'from-env' });
    expect(fromEnv).toMatchObject({
      address: 'us-east-1.aws.api.temporal.io:7233',
      namespace: 'acme.zzz',
      apiKey: 'from-env',
    });
    // An API key turns TLS on (system roots), as Temporal Cloud requires.
    expect(fromEnv.tls).toEqual({});
    expect(fromEnv.origins.apiKey?.label).toBe('TEMPORAL_API_KEY');
    const explicit = resolve(env, { namespace: 'acme.opt', apiKey: 'from-option', tls: { serverName: 'x.example' } });
    expect(explicit).toMatchObject({
      namespace: 'acme.opt',
      apiKey: 'from-option',
      tls: { serverNameOverride: 'x.example' },
    });
    expect(explicit.origins.apiKey?.label).toBe('the apiKey option');
    expect(resolve(env, { tls: false }).tls).toBeUndefined();
    const plaintext = resolve({ ...env, TEMPORAL_TLS: 'false' });
    expect(plaintext.tls).toBeUndefined();
    // Off means off for both clients, though an API key would make the SDK turn TLS on by itself.
    expect(clientConnectionOptions(plaintext)).toMatchObject({ tls: false, apiKey: 'from-profile' });
    expect(nativeConnectionOptions(plaintext)).toMatchObject({ tls: false, apiKey: 'from-profile' });
  });

  it('names the setting when a file is missing, a key has no certificate, or a key is not the certificate’s', () => {
    const missing = failure(() => resolve({ TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'broken' }));
    expect(missing).toMatchObject({ code: 'ConnectionFailed' });
    expect(missing.message).toMatch(
      /Cannot read the client key file named by tls\.client_key_path in profile "broken" of .*temporal\.toml \(.*missing\.key\): no such file/,
    );
    const keyOnly = failure(() => resolve({ TEMPORAL_TLS_CLIENT_KEY_PATH: certs.clientKey }));
    expect(keyOnly.message).toMatch(
      /A client key is set \(TEMPORAL_TLS_CLIENT_KEY_PATH .*\) but no certificate: set TEMPORAL_TLS_CLIENT_CERT_PATH/,
    );
    const mismatch = failure(() =>
      resolve({ TEMPORAL_TLS_CLIENT_CERT_PATH: certs.clientCert, TEMPORAL_TLS_CLIENT_KEY_PATH: certs.otherClientKey }),
    );
    expect(mismatch.message).toMatch(/does not belong to the client certificate from TEMPORAL_TLS_CLIENT_CERT_PATH/);
    const notPem = failure(() => resolve({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: toml }));
    expect(notPem.message).toMatch(
      /server CA certificate from TEMPORAL_TLS_SERVER_CA_CERT_PATH .* is not a PEM certificate/,
    );
  });

  it('an unknown profile or a missing config file is an error that says so', () => {
    expect(failure(() => resolve({ TEMPORAL_CONFIG_FILE: toml }, { profile: 'staging' })).message).toMatch(
      /Profile "staging" \(the profile option \/ --profile\) is not in .*temporal\.toml/,
    );
    expect(failure(() => resolve({ TEMPORAL_CONFIG_FILE: path.join(dir, 'nope.toml') })).message).toMatch(
      /nope\.toml \(TEMPORAL_CONFIG_FILE\) does not exist/,
    );
  });
});
