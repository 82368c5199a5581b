/**
 * The request log of the `local` serving target: a small HTTP proxy that starts the model server as its child
 * (on an internal port, same Vertex serving contract), forwards every request, and records each predicted
 * instance with its prediction into serving windows in the object store:
 * `monitoring/<model>/windows/<window start ISO>.jsonl`, one `{ts, features, prediction}` per line.
 * Run as: node --import tsx serving-proxy.ts <model server command...>
 * Environment: AIP_HTTP_PORT (public), AIP_PREDICT_ROUTE, MLOPS_MONITOR_STORE, MLOPS_MONITOR_MODEL, MLOPS_MONITOR_WINDOW_MS.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { freePort } from '../../platform/free-port.js';
import { openObjectStore } from '../../../registry/object-store.js';

const publicPort = Number(process.env.AIP_HTTP_PORT);
const predictRoute = process.env.AIP_PREDICT_ROUTE ?? '/predict';
const store = openObjectStore(process.env.MLOPS_MONITOR_STORE!);
const model = process.env.MLOPS_MONITOR_MODEL!;
const windowMs = Number(process.env.MLOPS_MONITOR_WINDOW_MS ?? 3_600_000);
const command = process.argv.slice(2);

const internalPort = await freePort();
const upstream = spawn(command[0]!, command.slice(1), {
  env: { ...process.env, AIP_HTTP_PORT: String(internalPort) },
  stdio: 'inherit',
});
upstream.once('exit', (code) => process.exit(code ?? 1));
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => upstream.kill(sig));

/** Lines of each open window, flushed whole (objects are replaced, never appended). */
const windows = new Map<number, string[]>();
let dirty = false;

function record(body: string, response: string): void {
  try {
    const instances = (JSON.parse(body) as { instances?: unknown[] }).instances ?? [];
    const predictions = (JSON.parse(response) as { predictions?: unknown[] }).predictions ?? [];
    const now = Date.now();
    const start = Math.floor(now / windowMs) * windowMs;
    const lines = windows.get(start) ?? [];
    instances.forEach((features, i) =>
      lines.push(JSON.stringify({ ts: new Date(now).toISOString(), features, prediction: predictions[i] ?? null })),
    );
    windows.set(start, lines);
    dirty = true;
  } catch {
    // A malformed request is the model server's to answer; it just is not logged.
  }
}

async function flush(): Promise<void> {
  if (!dirty) return;
  dirty = false;
  const current = Math.floor(Date.now() / windowMs) * windowMs;
  for (const [start, lines] of windows) {
    await store.put(`monitoring/${model}/windows/${new Date(start).toISOString()}.jsonl`, lines.join('\n') + '\n');
    if (start < current) windows.delete(start);
  }
}
setInterval(
  () => void flush().catch((err: Error) => console.error(`serving-proxy: flushing windows failed: ${err.message}`)),
  1000,
).unref();

http
  .createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const out = http.request(
        { host: '127.0.0.1', port: internalPort, path: req.url, method: req.method, headers: req.headers },
        (up) => {
          const parts: Buffer[] = [];
          up.on('data', (c: Buffer) => parts.push(c));
          up.on('end', () => {
            const response = Buffer.concat(parts);
            res.writeHead(up.statusCode ?? 502, up.headers);
            res.end(response);
            if (req.method === 'POST' && req.url === predictRoute && up.statusCode === 200)
              record(body.toString(), response.toString());
          });
        },
      );
      out.on('error', (err) => {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `model server unavailable: ${err.message}` }));
      });
      out.end(body);
    });
  })
  .listen(publicPort, '127.0.0.1');
