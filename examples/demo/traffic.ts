/**
 * The demo's callers: a steady stream of single-instance predictions to the model's stable endpoint, cycling
 * through the rows of a CSV file, and the outcomes that arrive later: for part of the answered requests, the true
 * diagnosis is written as a label file under the monitor's `labels.prefix`, joined by the request id the model
 * server returned (`x-mlops-request-id`).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { seededRandom } from '../../sdk/seeded-random.js';

export type Instance = Record<string, number>;
export interface Row {
  instance: Instance;
  label: number;
}

/**
 * Reads a numeric CSV into rows of features and their `target` label, in a seeded shuffled order: the file is
 * sorted by diagnosis in places, and callers arrive in no such order.
 */
export async function readRows(file: string, target: string, seed = 7): Promise<Row[]> {
  const [header, ...lines] = (await fs.readFile(file, 'utf8')).trim().split(/\r?\n/);
  const names = header!.split(',');
  const rows = lines.map((line) => {
    const values = line.split(',').map(Number);
    const instance = Object.fromEntries(names.flatMap((n, i) => (n === target ? [] : [[n, values[i]!]])));
    return { instance, label: values[names.indexOf(target)]! };
  });
  const random = seededRandom(seed);
  for (let i = rows.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [rows[i], rows[j]] = [rows[j]!, rows[i]!];
  }
  return rows;
}

export class Traffic {
  sent = 0;
  failed = 0;
  /** Answered requests whose outcome is still to be reported: request id, true label, when it was answered. */
  readonly answered: { requestId: string; label: number; at: number }[] = [];
  private rows: Row[] = [];
  private next = 0;
  private stopped = false;
  private loop?: Promise<void>;

  constructor(
    private readonly url: string,
    private readonly perSecond: number,
  ) {}

  /** Starts sending (or switches to) these rows. */
  send(rows: Row[]): void {
    this.rows = rows;
    this.next = 0;
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async run(): Promise<void> {
    const gapMs = 1000 / this.perSecond;
    while (!this.stopped) {
      const row = this.rows[this.next++ % this.rows.length]!;
      const res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ instances: [row.instance] }),
        signal: AbortSignal.timeout(5000),
      }).catch(() => undefined);
      await res?.arrayBuffer().catch(() => undefined);
      if (res?.ok) {
        this.sent++;
        const requestId = res.headers.get('x-mlops-request-id');
        if (requestId) this.answered.push({ requestId, label: row.label, at: Date.now() });
      } else this.failed++;
      await new Promise((r) => setTimeout(r, gapMs));
    }
  }
}

/**
 * Writes the outcomes of `traffic`'s answered requests as JSONL label files into `dir`, each `delayMs` after the
 * answer and only for `share` of them (every request whose position falls in that share of each ten): the
 * diagnoses of the other patients never come back, as in a clinic.
 */
export class LabelFeed {
  labelled = 0;
  private files = 0;
  private position = 0;
  private readonly timer: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly traffic: Traffic,
    private readonly dir: string,
    private readonly delayMs: number,
    private readonly share: number,
  ) {
    this.timer = setInterval(() => (this.writing = this.writing.then(() => this.flush())), 1000);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.writing;
  }

  private async flush(): Promise<void> {
    const due = Date.now() - this.delayMs;
    const lines: string[] = [];
    while (this.traffic.answered.length > 0 && this.traffic.answered[0]!.at <= due) {
      const { requestId, label } = this.traffic.answered.shift()!;
      if (this.position++ % 10 < this.share * 10) lines.push(JSON.stringify({ request_id: requestId, label }));
    }
    if (lines.length === 0) return;
    const name = `labels-${String(this.files++).padStart(5, '0')}.jsonl`;
    // Written beside the prefix and renamed into it, so the monitor never reads half a file.
    const staging = `${this.dir}.staging`;
    await fs.mkdir(staging, { recursive: true });
    await fs.mkdir(this.dir, { recursive: true });
    await fs.writeFile(path.join(staging, name), lines.join('\n') + '\n');
    await fs.rename(path.join(staging, name), path.join(this.dir, name));
    this.labelled += lines.length;
  }
}
