/**
 * `temporal-mlops serve` and `temporal-mlops collect`: the two ways a served model's predictions reach the
 * monitor's windows from any deploy target (activities/monitor/serve.ts, activities/monitor/collect.ts).
 */
import { parseArgs } from 'node:util';
import { openObjectStore } from '../registry/object-store.js';
import { parseDuration } from '../sdk/duration.js';
import { startCollector } from '../activities/monitor/collect.js';
import { serve } from '../activities/monitor/serve.js';
import { versionInUri } from '../activities/monitor/serving-log.js';

export const SERVING_USAGE = `  temporal-mlops serve --model NAME [--version N] [--store URI] [--port P] [--window 1h] [--flush 1s]
                       [--predict-route /predict] [--columns a,b,...] -- <model server command...>
                                  log every prediction of an HTTP model server to the model's monitor windows
                                  (container entry point for Vertex AI and KServe custom predictors; the server
                                  gets AIP_HTTP_PORT = an internal port; port default $AIP_HTTP_PORT or 8080)
  temporal-mlops collect [--model NAME] [--version N] [--store URI] [--port 8080] [--window 1h] [--flush 1s]
                       [--pair-timeout 5m] [--columns a,b,...]
                                  receive KServe's logger CloudEvents, pair request and response, write the windows;
                                  GET /stats shows paired, duplicate, unpaired and malformed counts`;

function duration(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) throw new Error(`--${flag} ${value} is not a duration: write e.g. 1h, 30s, 500ms`);
  return ms;
}

function intFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${flag} ${value} is not a whole number`);
  return n;
}

const COMMON = {
  model: { type: 'string' },
  version: { type: 'string' },
  store: { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  window: { type: 'string' },
  flush: { type: 'string' },
  columns: { type: 'string' },
} as const;

/** `serve`: runs until the model server exits; the exit code is the server's. */
export async function serveCommand(argv: string[], storeUri: (flag?: string) => string): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...COMMON, 'predict-route': { type: 'string' } },
  });
  const model = values.model ?? process.env.MLOPS_MONITOR_MODEL;
  if (!model) throw new Error('serve needs --model NAME: the registered model whose windows the predictions go to');
  if (positionals.length === 0)
    throw new Error('serve needs the model server command after "--", e.g. -- python serve.py');
  const version =
    intFlag('version', values.version ?? process.env.MLOPS_MONITOR_VERSION) ??
    versionInUri(process.env.AIP_STORAGE_URI);
  return serve({
    store: openObjectStore(storeUri(values.store)),
    model,
    version: version ?? null,
    command: positionals,
    port: intFlag('port', values.port ?? process.env.AIP_HTTP_PORT) ?? 8080,
    host: values.host ?? '0.0.0.0',
    predictRoute: values['predict-route'] ?? process.env.AIP_PREDICT_ROUTE ?? '/predict',
    windowMs: duration('window', values.window ?? process.env.MLOPS_MONITOR_WINDOW, 3_600_000),
    flushMs: duration('flush', values.flush, 1000),
    columns: values.columns?.split(',').filter(Boolean),
  });
}

/** `collect`: serves until SIGINT/SIGTERM, then writes what it holds. */
export async function collectCommand(argv: string[], storeUri: (flag?: string) => string): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { ...COMMON, 'pair-timeout': { type: 'string' } } });
  const collector = await startCollector({
    store: openObjectStore(storeUri(values.store)),
    port: intFlag('port', values.port) ?? 8080,
    host: values.host ?? '0.0.0.0',
    model: values.model,
    version: intFlag('version', values.version) ?? null,
    windowMs: duration('window', values.window, 3_600_000),
    flushMs: duration('flush', values.flush, 1000),
    pairTimeoutMs: duration('pair-timeout', values['pair-timeout'], 300_000),
    columns: values.columns?.split(',').filter(Boolean),
  });
  console.log(`collect: listening on ${collector.url} for KServe logger events`);
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
  });
  await collector.close();
  console.log(`collect: stopped; ${JSON.stringify(collector.stats())}`);
  return 0;
}
