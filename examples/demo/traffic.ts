/**
 * The demo's callers: a steady stream of single-instance predictions to the model's stable endpoint, cycling
 * through the rows of a CSV file (features only), until told to switch files or stop.
 */
import { promises as fs } from 'node:fs';

export type Instance = Record<string, number>;

/**
 * Reads a numeric CSV into one object per row, leaving out `drop` (the label), in a seeded shuffled order: the
 * file is sorted by diagnosis in places, and callers arrive in no such order.
 */
export async function readInstances(file: string, drop: string, seed = 7): Promise<Instance[]> {
  const [header, ...rows] = (await fs.readFile(file, 'utf8')).trim().split('\n');
  const names = header!.split(',');
  const instances = rows.map((line) => {
    const values = line.split(',');
    return Object.fromEntries(names.flatMap((n, i) => (n === drop ? [] : [[n, Number(values[i])]])));
  });
  let state = seed;
  const random = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = instances.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [instances[i], instances[j]] = [instances[j]!, instances[i]!];
  }
  return instances;
}

export class Traffic {
  sent = 0;
  failed = 0;
  private rows: Instance[] = [];
  private next = 0;
  private stopped = false;
  private loop?: Promise<void>;

  constructor(
    private readonly url: string,
    private readonly perSecond: number,
  ) {}

  /** Starts sending (or switches to) these rows. */
  send(rows: Instance[]): void {
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
      const instance = this.rows[this.next++ % this.rows.length]!;
      await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ instances: [instance] }),
        signal: AbortSignal.timeout(5000),
      }).then(
        (res) => (res.ok ? this.sent++ : this.failed++),
        () => this.failed++,
      );
      await new Promise((r) => setTimeout(r, gapMs));
    }
  }
}
