/** Recorded workflow histories for replay tests: fetched in the CLI's JSON format, committed under test/replay/histories. */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ensureTemporalCli } from '../../scripts/dev-server.js';

export const HISTORIES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'replay', 'histories');
const run = promisify(execFile);

/** A history as `temporal workflow show --output json` prints it (and the Web UI downloads it). */
export async function historyJson(address: string, workflowId: string): Promise<unknown> {
  const cli = await ensureTemporalCli();
  const { stdout } = await run(
    cli,
    ['workflow', 'show', '--address', address, '--workflow-id', workflowId, '--output', 'json'],
    { maxBuffer: 64 << 20 },
  );
  return JSON.parse(stdout);
}

/** With RECORD_HISTORIES=1, saves a workflow's history as `<name>.json` for the replay test. */
export async function recordHistory(address: string, workflowId: string, name: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  await fs.writeFile(
    path.join(HISTORIES, `${name}.json`),
    JSON.stringify(await historyJson(address, workflowId), null, 1),
  );
}
