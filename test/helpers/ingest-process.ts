/**
 * Ingests one source in its own process (tests start it with a Node heap limit) and prints the snapshot, the
 * profile and the peak RSS. Args: storeUri pipeline ingestSpecJsonFile.
 */
import { promises as fs } from 'node:fs';
import { ingestSource } from '../../activities/ingest/ingest.js';
import { openObjectStore } from '../../registry/object-store.js';
import type { IngestSpec } from '../../sdk/spec/ingest.js';

const [storeUri, pipeline, specFile] = process.argv.slice(2) as [string, string, string];
const ingest = JSON.parse(await fs.readFile(specFile, 'utf8')) as IngestSpec;
const store = openObjectStore(storeUri);
const started = performance.now();
const snapshot = await ingestSource(store, { pipeline, runKey: 'scale', ingest });
const seconds = (performance.now() - started) / 1000;
const profile = JSON.parse(
  (await store.get(snapshot.profileUri.slice(store.root.length + 1)))!.data.toString(),
) as unknown;
console.log(
  JSON.stringify({
    snapshot,
    profile,
    seconds,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    heapLimitMiB: (await import('node:v8')).getHeapStatistics().heap_size_limit / 2 ** 20,
  }),
);
