/**
 * `npm run server`: a Temporal dev server in the foreground, state in `.mlops/temporal.db`, Web UI on port+1000.
 * With `TEMPORAL_CODEC_ENDPOINT` (e.g. `temporal-mlops codec-server`'s URL) the UI shows encrypted payloads decoded.
 */
import path from 'node:path';
import { startDevServer } from './dev-server.js';

const port = Number(process.env.TEMPORAL_PORT ?? 7233);
const server = await startDevServer({
  port,
  dbFile: path.resolve('.mlops', 'temporal.db'),
  uiCodecEndpoint: process.env.TEMPORAL_CODEC_ENDPOINT,
});
console.log(`Temporal dev server: ${server.address}  Web UI: ${server.uiUrl}  (Ctrl-C stops it)`);
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => void server.stop().then(() => process.exit(0)));
await new Promise(() => undefined);
