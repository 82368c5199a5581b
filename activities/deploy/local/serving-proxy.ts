/**
 * The request log of the `local` serving target: `temporal-mlops serve` (activities/monitor/serve.ts) configured
 * from the environment the local deploy sets, so that the local target logs exactly what a Vertex or KServe
 * container running `temporal-mlops serve` logs.
 * Run as: node --import tsx serving-proxy.ts <model server command...>
 * Environment: AIP_HTTP_PORT (public), AIP_PREDICT_ROUTE, MLOPS_MONITOR_STORE, MLOPS_MONITOR_MODEL,
 * MLOPS_MONITOR_VERSION, MLOPS_MONITOR_WINDOW_MS, MLOPS_MONITOR_FLUSH_MS (default 1000).
 */
import { openObjectStore } from '../../../registry/object-store.js';
import { serve } from '../../monitor/serve.js';

process.exitCode = await serve({
  store: openObjectStore(process.env.MLOPS_MONITOR_STORE!),
  model: process.env.MLOPS_MONITOR_MODEL!,
  version: process.env.MLOPS_MONITOR_VERSION ? Number(process.env.MLOPS_MONITOR_VERSION) : null,
  command: process.argv.slice(2),
  port: Number(process.env.AIP_HTTP_PORT),
  host: '127.0.0.1',
  predictRoute: process.env.AIP_PREDICT_ROUTE ?? '/predict',
  windowMs: Number(process.env.MLOPS_MONITOR_WINDOW_MS ?? 3_600_000),
  flushMs: Number(process.env.MLOPS_MONITOR_FLUSH_MS ?? 1000),
});
