/**
 * The request log of the `local` serving target: a small HTTP proxy that starts the model server as its child
 * (on an internal port, same Vertex serving contract), forwards every request, and records each predicted
 * instance with its prediction into serving windows in the object store. Each flush appends the lines logged
 * since the last one as a new segment object, `monitoring/<model>/windows/<window start ISO>/<segment>.jsonl`
 * (one `{ts, features, prediction}` per line); no object is ever rewritten, so a busy hour costs one write per
 * flush, not a rewrite of everything logged so far.
 * Run as: node --import tsx serving-proxy.ts <model server command...>
 * Environment: AIP_HTTP_PORT (public), AIP_PREDICT_ROUTE, MLOPS_MONITOR_STORE, MLOPS_MONITOR_MODEL, MLOPS_MONITOR_WINDOW_MS,
 * MLOPS_MONITOR_FLUSH_MS (default 1000).
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
const flushMs = Number(process.env.MLOPS_MONITOR_FLUSH_MS ?? 1000);
const command = process.argv.slice(2);

const internalPort = await freePort();
const upstream = spawn(command[0]!, command.slice(1), {
  env: { ...process.env, AIP_HTTP_PORT: String(internalPort) },
  stdio: 'inherit',
});
// What was logged since the last flush is written before the proxy goes.
upstream.once('exit', (code) => void flush().finally(() => process.exit(code ?? 1)));
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => upstream.kill(sig));

/** Lines logged since the last flush, by window start. */
const pending = new Map<number, string[]>();
let segments = 0;
let flushing: Promise<void> | undefined;

function record(body: string, response: string): void {
  try {
    const instances = (JSON.parse(body) as { instances?: unknown[] }).instances ?? [];
    const predictions = (JSON.parse(response) as { predictions?: unknown[] }).predictions ?? [];
    const now = Date.now();
    const start = Math.floor(now / windowMs) * windowMs;
    const lines = pending.get(start) ?? [];
    instances.forEach((features, i) =>
      lines.push(JSON.stringify({ ts: new Date(now).toISOString(), features, prediction: predictions[i] ?? null })),
    );
    pending.set(start, lines);
  } catch {
    // A malformed request is the model server's to answer; it just is not logged.
  }
}

/** Segment names sort in write order within a window, and never collide between proxies (pid, sequence). */
function segmentName(): string {
  return `${new Date().toISOString()}-${process.pid}-${String(segments++).padStart(8, '0')}.jsonl`;
}

async function writeSegments(): Promise<void> {
  for (const [start, lines] of [...pending]) {
    pending.delete(start);
    const key = `monitoring/${model}/windows/${new Date(start).toISOString()}/${segmentName()}`;
    try {
      await store.put(key, lines.join('\n') + '\n', { ifGeneration: 'absent' });
    } catch (err) {
      // Kept for the next flush, ahead of what arrived meanwhile.
      pending.set(start, [...lines, ...(pending.get(start) ?? [])]);
      throw err;
    }
  }
}

/** One flush at a time: a slow store delays the next segment instead of racing it. */
function flush(): Promise<void> {
  flushing ??= writeSegments().finally(() => (flushing = undefined));
  return flushing;
}
setInterval(
  () => void flush().catch((err: Error) => console.error(`serving-proxy: flushing windows failed: ${err.message}`)),
  flushMs,
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
