/**
 * A drift check of a 1,000,000-row serving window (20 segments, as the serving proxy writes them) runs in its
 * own process under 1 GiB peak RSS, and still finds the columns that moved.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { ingestSource } from '../../activities/ingest/ingest.js';
import { openObjectStore } from '../../registry/object-store.js';
import { fixturePipeline } from '../helpers/harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
let dir: string | undefined;
afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

const FEATURES = Array.from({ length: 10 }, (_, i) => `x${i}`);
const SEGMENTS = ['a', 'b', 'c', 'd'];
/** Deterministic pseudo-normal values: the sum of three uniforms from a small LCG, centred. */
function generator(seed: number) {
  let s = seed;
  const u = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  return () => u() + u() + u() - 1.5;
}

it('checks a 1,000,000-row window under 1 GiB RSS', { timeout: 300_000 }, async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'monitor-scale-'));
  const storeUri = pathToFileURL(path.join(dir, 'store')).href;
  const store = openObjectStore(storeUri);
  const next = generator(7);
  const reference = [[...FEATURES, 'segment'].join(',')];
  for (let i = 0; i < 20_000; i++)
    reference.push([...FEATURES.map(() => next().toFixed(5)), SEGMENTS[i % 4]].join(','));
  await fs.writeFile(path.join(dir, 'reference.csv'), reference.join('\n') + '\n');
  const spec = fixturePipeline({
    name: 'window-scale',
    ingest: {
      source: path.join(dir, 'reference.csv'),
      columns: { ...Object.fromEntries(FEATURES.map((f) => [f, { type: 'number' }])), segment: { type: 'string' } },
    },
  }).spec;
  const snapshot = await ingestSource(store, { pipeline: 'window-scale', runKey: 'r', ingest: spec.ingest });

  // Half the features move by one standard deviation (0.5); the rest and the segment mix stay. Two distinct
  // segment bodies, alternating, keep generation short; the check still reads 1,000,000 lines.
  const window = '2026-02-01T00:00:00.000Z';
  const bodies = [0, 1].map(() => {
    const lines: string[] = [];
    for (let i = 0; i < 50_000; i++) {
      const features: Record<string, number | string> = {};
      FEATURES.forEach((f, k) => (features[f] = Number((next() + (k < 5 ? 0.5 : 0)).toFixed(5))));
      features.segment = SEGMENTS[i % 4]!;
      lines.push(JSON.stringify({ ts: window, features, prediction: 0 }));
    }
    return lines.join('\n') + '\n';
  });
  for (let seg = 0; seg < 20; seg++) {
    const key = `monitoring/window-scale/windows/${window}/seg-${String(seg).padStart(3, '0')}.jsonl`;
    await store.put(key, bodies[seg % 2]!);
  }
  const inputFile = path.join(dir, 'input.json');
  await fs.writeFile(inputFile, JSON.stringify({ model: 'window-scale', version: 1, snapshot, spec }));
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', path.join(here, '..', 'helpers', 'drift-check-process.ts'), storeUri, window, inputFile],
    { maxBuffer: 1 << 24 },
  );
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    rows: number;
    problems: string[];
    columns: { column: string; test?: string; drifted: boolean; error?: string }[];
    seconds: number;
    maxRssMiB: number;
  };
  console.log(`1M-row window: ${result.seconds.toFixed(1)} s, peak RSS ${result.maxRssMiB.toFixed(0)} MiB`);
  expect(result.rows).toBe(1_000_000);
  expect(result.problems).toEqual([]);
  expect(result.columns.filter((c) => c.drifted).map((c) => c.column)).toEqual(FEATURES.slice(0, 5));
  expect(result.columns.find((c) => c.column === 'segment')).toMatchObject({ test: 'jensenshannon', drifted: false });
  expect(result.maxRssMiB).toBeLessThan(1024);
});
