/**
 * A TLS-terminating gRPC proxy in front of the dev server, the way a production Temporal endpoint looks to a
 * client: Debian's nginx with `grpc_pass` (installed by scripts/setup.mjs), certificates made with openssl at
 * set-up, loopback ports only. Two endpoints: one requires a client certificate (mTLS, like a self-hosted
 * cluster), one requires `authorization: Bearer <key>` (like Temporal Cloud's API keys). A refused client is
 * answered the way Temporal answers it: gRPC status UNAUTHENTICATED with a message, not an HTML page.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../activities/platform/free-port.js';

const run = promisify(execFile);
const NGINX = process.env.NGINX_PATH ?? '/usr/sbin/nginx';

/** Paths of the PEM files `makeCertificates` wrote. */
export interface Certificates {
  dir: string;
  /** The CA that signed the proxy's server certificate (what a client trusts). */
  caCert: string;
  /** A client certificate and key signed by the CA the mTLS endpoint trusts. */
  clientCert: string;
  clientKey: string;
  /** A CA nobody uses, and a client certificate and key it signed (a "wrong certificate"). */
  otherCaCert: string;
  otherClientCert: string;
  otherClientKey: string;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  await run('openssl', args, { cwd: dir, timeout: 30_000 });
}

/** A new P-256 key for `name`, unencrypted, written to `<name>.key` (openssl req arguments). */
function newKey(name: string): string[] {
  return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`];
}

async function ca(dir: string, name: string): Promise<void> {
  await openssl(dir, [
    'req',
    '-x509',
    ...newKey(name),
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

/** A leaf certificate signed by `issuer`; rustls (the worker) rejects a leaf marked CA, so it says CA:FALSE. */
async function leaf(dir: string, name: string, issuer: string, usage: 'serverAuth' | 'clientAuth'): Promise<void> {
  await openssl(dir, ['req', ...newKey(name), '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  const ext = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    `extendedKeyUsage=${usage}`,
    ...(usage === 'serverAuth' ? ['subjectAltName=DNS:localhost,DNS:temporal.internal,IP:127.0.0.1'] : []),
  ];
  await fs.writeFile(path.join(dir, `${name}.ext`), ext.join('\n') + '\n');
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${issuer}.crt`,
    '-CAkey',
    `${issuer}.key`,
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.crt`,
  ]);
}

/** Writes a server CA, a server certificate for 127.0.0.1/localhost, a client CA with a client, and a stray CA. */
export async function makeCertificates(dir: string): Promise<Certificates> {
  await fs.mkdir(dir, { recursive: true });
  await Promise.all([ca(dir, 'server-ca'), ca(dir, 'client-ca'), ca(dir, 'other-ca')]);
  await Promise.all([
    leaf(dir, 'server', 'server-ca', 'serverAuth'),
    leaf(dir, 'client', 'client-ca', 'clientAuth'),
    leaf(dir, 'other-client', 'other-ca', 'clientAuth'),
  ]);
  const p = (f: string) => path.join(dir, f);
  return {
    dir,
    caCert: p('server-ca.crt'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
    otherCaCert: p('other-ca.crt'),
    otherClientCert: p('other-client.crt'),
    otherClientKey: p('other-client.key'),
  };
}

/** The running proxy: one mTLS endpoint and one API-key endpoint, both forwarding to the dev server. */
export interface GrpcProxy {
  /** `127.0.0.1:<port>`: TLS, requires a client certificate signed by the client CA. */
  mtlsAddress: string;
  /** `127.0.0.1:<port>`: TLS, requires `authorization: Bearer <apiKey>`. */
  apiKeyAddress: string;
  apiKey: string;
  stop(): Promise<void>;
}

/**
 * Starts nginx with `grpc_pass` to `upstream` (host:port of the plain dev server). Long polls last about a
 * minute, so the proxy's timeouts are longer than that.
 */
export async function startGrpcProxy(upstream: string, certs: Certificates, apiKey: string): Promise<GrpcProxy> {
  const dir = path.join(certs.dir, 'nginx');
  await fs.mkdir(path.join(dir, 'tmp'), { recursive: true });
  const [mtlsPort, apiKeyPort] = [await freePort(), await freePort()];
  const p = (f: string) => path.join(certs.dir, f);
  // A refused client gets what Temporal sends: grpc-status 16 (UNAUTHENTICATED) and a message, in a
  // trailers-only response. 495/496 are nginx's internal statuses for a bad or missing client certificate.
  const unauthenticated = (message: string) =>
    `default_type application/grpc; add_header grpc-status 16 always; add_header grpc-message "${message}" always; return 200;`;
  const conf = `
worker_processes 1;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  client_max_body_size 0;
  keepalive_timeout 600s;
  keepalive_requests 1000000;
  grpc_read_timeout 600s;
  grpc_send_timeout 600s;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_certificate ${p('server.crt')};
  ssl_certificate_key ${p('server.key')};
  server {
    listen 127.0.0.1:${mtlsPort} ssl http2;
    ssl_client_certificate ${p('client-ca.crt')};
    ssl_verify_client on;
    error_page 495 = @bad_cert;
    error_page 496 = @no_cert;
    location / { grpc_pass grpc://${upstream}; }
    location @bad_cert { ${unauthenticated('Request unauthorized: client certificate not trusted')} }
    location @no_cert { ${unauthenticated('Request unauthorized: client certificate required')} }
  }
  server {
    listen 127.0.0.1:${apiKeyPort} ssl http2;
    location / {
      if ($http_authorization != "Bearer ${apiKey}") { return 418; }
      grpc_pass grpc://${upstream};
    }
    error_page 418 = @bad_key;
    location @bad_key { ${unauthenticated('Request unauthorized: invalid API key')} }
  }
}
`;
  const confFile = path.join(dir, 'nginx.conf');
  await fs.writeFile(confFile, conf);
  const child: ChildProcess = spawn(
    NGINX,
    ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', confFile, '-g', 'daemon off;'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  let exited = false;
  child.once('exit', () => (exited = true));
  await waitForPort(mtlsPort, () => exited).catch((err: unknown) => {
    throw new Error(`nginx did not start: ${(err as Error).message}\n${stderr}`);
  });
  await waitForPort(apiKeyPort, () => exited);
  return {
    mtlsAddress: `127.0.0.1:${mtlsPort}`,
    apiKeyAddress: `127.0.0.1:${apiKeyPort}`,
    apiKey,
    async stop() {
      if (exited) return;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await done;
    },
  };
}

async function waitForPort(port: number, dead: () => boolean, timeoutMs = 15_000): Promise<void> {
  const net = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (dead()) throw new Error('the process exited');
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`port ${port} did not open within ${timeoutMs} ms`);
}
