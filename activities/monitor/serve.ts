/**
 * `temporal-mlops serve --model <name> -- <server command...>`: the serving log in front of any HTTP model
 * server, as the entry point of a Vertex AI custom serving container, a KServe custom predictor or the `local`
 * target. It starts the server as its child on an internal port (`AIP_HTTP_PORT` set to it, the rest of the
 * environment passed on), listens on the public port itself, forwards every request unchanged, and logs each
 * prediction of a successful predict call to the model's windows (serving-log.ts). Every response carries
 * `x-mlops-request-id` (the caller's own when it sent one); requests marked `x-mlops-traffic: skew-gate|shadow`
 * are answered but not logged.
 */
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { freePort } from '../platform/free-port.js';
import type { ObjectStore } from '../../registry/object-store.js';
import { REQUEST_ID_HEADER, TRAFFIC_HEADER, UNLOGGED_TRAFFIC, WindowLog, servedPredictions } from './serving-log.js';

export interface ServeOptions {
  store: ObjectStore;
  model: string;
  version: number | null;
  /** The model server's command; it gets `AIP_HTTP_PORT` = its internal port. */
  command: string[];
  port: number;
  host: string;
  /** The route whose POSTs are predictions; KServe's `/v1/models/<name>:predict` and `/v2/.../infer` always are. */
  predictRoute: string;
  windowMs: number;
  flushMs: number;
  /** Names of positional features, for servers that take lists. */
  columns?: string[];
  log?: (line: string) => void;
}

const KSERVE_ROUTE = /^\/v[12]\/models\/[^/]+(?:\/versions\/[^/]+)?(?::predict|\/infer)$/;

/** Starts the proxy and its model server; resolves with the exit code once the server exits (after a last flush). */
export async function serve(options: ServeOptions): Promise<number> {
  const log = options.log ?? ((line: string) => console.error(line));
  const windows = new WindowLog({
    store: options.store,
    windowMs: options.windowMs,
    flushMs: options.flushMs,
    onError: (err) => log(`serve: flushing windows failed (kept for the next flush): ${err.message}`),
  }).start();
  const internalPort = await freePort();

  const isPredict = (method: string | undefined, url: string | undefined) => {
    const p = (url ?? '').split('?')[0]!;
    return method === 'POST' && (p === options.predictRoute || KSERVE_ROUTE.test(p));
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const given = req.headers[REQUEST_ID_HEADER];
      const id = (Array.isArray(given) ? given[0] : given) || randomUUID();
      const at = new Date();
      const out = http.request(
        {
          host: '127.0.0.1',
          port: internalPort,
          path: req.url,
          method: req.method,
          headers: { ...req.headers, [REQUEST_ID_HEADER]: id },
        },
        (up) => {
          const parts: Buffer[] = [];
          up.on('data', (c: Buffer) => parts.push(c));
          up.on('end', () => {
            const response = Buffer.concat(parts);
            const headers = { ...up.headers, [REQUEST_ID_HEADER]: id };
            delete headers['transfer-encoding'];
            headers['content-length'] = String(response.length);
            res.writeHead(up.statusCode ?? 502, headers);
            res.end(response);
            const traffic = String(req.headers[TRAFFIC_HEADER] ?? '');
            if (up.statusCode === 200 && isPredict(req.method, req.url) && !UNLOGGED_TRAFFIC.includes(traffic)) {
              try {
                windows.add(
                  servedPredictions(
                    { id, ts: at, model: options.model, version: options.version },
                    JSON.parse(body.toString()),
                    JSON.parse(response.toString()),
                    options.columns,
                  ),
                );
              } catch {
                // A request the model server answered but that is not a prediction batch is just not logged.
              }
            }
          });
        },
      );
      out.on('error', (err) => {
        res.writeHead(502, { 'content-type': 'application/json', [REQUEST_ID_HEADER]: id });
        res.end(JSON.stringify({ error: `model server unavailable: ${err.message}` }));
      });
      out.end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const upstream = spawn(options.command[0]!, options.command.slice(1), {
    env: { ...process.env, AIP_HTTP_PORT: String(internalPort) },
    stdio: 'inherit',
  });
  const exited = new Promise<number>((resolve) => {
    upstream.once('error', (err) => {
      log(`serve: cannot start the model server ${JSON.stringify(options.command[0])}: ${err.message}`);
      resolve(127);
    });
    upstream.once('exit', (code, signal) => resolve(code ?? (signal ? 0 : 1)));
  });
  const forward = (sig: NodeJS.Signals) => upstream.kill(sig);
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, forward);

  log(
    `serve: ${options.model} v${options.version ?? '?'} on ${options.host}:${options.port} → model server on 127.0.0.1:${internalPort}; windows in ${options.store.root}/monitoring/${options.model}/windows/`,
  );
  const code = await exited;
  server.close();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.off(sig, forward);
  // What was logged since the last flush is written before the proxy goes.
  await windows.close().catch((err: Error) => log(`serve: the last flush failed: ${err.message}`));
  return code;
}
