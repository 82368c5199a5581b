/**
 * Runs one drift check in its own process and prints its summary and peak RSS, so a test can hold the
 * monitor to a memory bound. Args: storeUri model window inputJsonFile (a DriftCheckInput).
 */
import { promises as fs } from 'node:fs';
import { computeDriftReport, type DriftCheckInput } from '../../activities/monitor/monitoring.js';
import { openObjectStore } from '../../registry/object-store.js';

const [storeUri, window, inputFile] = process.argv.slice(2) as [string, string, string];
const input = JSON.parse(await fs.readFile(inputFile, 'utf8')) as DriftCheckInput;
const started = performance.now();
const report = await computeDriftReport(openObjectStore(storeUri), input, window);
console.log(
  JSON.stringify({
    rows: report.rows,
    problems: report.problems,
    columns: report.columns.map((c) => ({ column: c.column, test: c.test, drifted: c.drifted, error: c.error })),
    seconds: (performance.now() - started) / 1000,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
  }),
);
