/** A real Prometheus server (Debian's `prometheus` package) scraping the given targets every second. */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../activities/platform/free-port.js';

export const PROMETHEUS_BIN = process.env.PROMETHEUS_PATH ?? '/usr/bin/prometheus';

export async function startPrometheus(targets: string[]) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mlops-prometheus-'));
  const config = path.join(dir, 'prometheus.yml');
  await fs.writeFile(
    config,
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      '  - job_name: mlops-router',
      `    static_configs: [{ targets: [${targets.map((t) => JSON.stringify(new URL(t).host)).join(', ')}] }]`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr!.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const up = await fetch(`${url}/api/v1/query?query=${encodeURIComponent('min(up{job="mlops-router"})')}`)
      .then(async (r) => ((await r.json()) as { data?: { result: { value: [number, string] }[] } }).data?.result[0])
      .catch(() => undefined);
    if (up?.value[1] === '1') break;
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`Prometheus did not scrape ${targets.join(', ')} within 30 s:\n${log}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    stop: async () => {
      // Wait until it has exited: the suite's leak check runs right after the last file.
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}
