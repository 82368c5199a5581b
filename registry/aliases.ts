/**
 * Aliases (`champion`, `challenger`, custom) and the deployment log, linearizable under concurrent writers.
 * Each move first claims the alias's next log entry `models/<m>/deployments/<alias>/<seq>.json` with a create-only write, then
 * moves `models/<m>/aliases/<alias>.json` with a generation precondition. Entry n is therefore exactly the
 * alias change after entry n-1: the log is complete, ordered, and agrees with the alias. A writer that died
 * between its two writes is rolled forward by the next one, so nothing waits on it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { getJson, PreconditionFailedError, type ObjectStore } from './object-store.js';

export const AliasSchema = z.object({
  alias: z.string(),
  version: z.number().int().positive(),
  seq: z.number().int().nonnegative(),
  movedAt: z.string(),
});
export type Alias = z.infer<typeof AliasSchema>;

export const DeploymentLogEntrySchema = z.object({
  seq: z.number().int().positive(),
  alias: z.string(),
  /** `canary-rollback`: a staged rollout was rolled back; the alias stays where it was (`to` = `from`). */
  action: z.enum(['deploy', 'rollback', 'move', 'canary-rollback']),
  from: z.number().int().positive().nullable(),
  to: z.number().int().positive(),
  at: z.string(),
  by: z.string(),
  reason: z.string(),
  /** For deploy entries: where it was served and the run that deployed it. */
  endpoint: z.string().optional(),
  workflowId: z.string().optional(),
  report: z.unknown().optional(),
});
export type DeploymentLogEntry = z.infer<typeof DeploymentLogEntrySchema>;

const aliasKey = (model: string, alias: string) => `models/${model}/aliases/${alias}.json`;
const logKey = (model: string, alias: string, seq: number) =>
  `models/${model}/deployments/${alias}/${String(seq).padStart(8, '0')}.json`;
const LOG_ENTRY = /\/deployments\/([^/]+)\/(\d{8})\.json$/;

async function readAlias(store: ObjectStore, model: string, alias: string) {
  const found = await getJson<unknown>(store, aliasKey(model, alias));
  if (!found) return undefined;
  const parsed = AliasSchema.safeParse(found.value);
  if (!parsed.success)
    throw new Error(
      `${store.uri(aliasKey(model, alias))} is not a temporal-mlops alias: ${parsed.error.issues[0]?.message}`,
    );
  return { value: parsed.data, generation: found.generation };
}

async function readEntry(
  store: ObjectStore,
  model: string,
  alias: string,
  seq: number,
): Promise<DeploymentLogEntry | undefined> {
  const key = logKey(model, alias, seq);
  const found = await getJson<unknown>(store, key);
  if (!found) return undefined;
  const parsed = DeploymentLogEntrySchema.safeParse(found.value);
  if (!parsed.success)
    throw new Error(`${store.uri(key)} is not a deployment log entry: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** The version an alias points at, or undefined. */
export async function getAlias(store: ObjectStore, model: string, alias: string): Promise<Alias | undefined> {
  return (await readAlias(store, model, alias))?.value;
}

/** The model's deployment log (every alias move; one alias or all), oldest first. */
export async function deploymentLog(store: ObjectStore, model: string, alias?: string): Promise<DeploymentLogEntry[]> {
  const keys = await store.list(`models/${model}/deployments/${alias ? `${alias}/` : ''}`);
  const entries = await Promise.all(
    keys.flatMap((k) => {
      const m = LOG_ENTRY.exec(k);
      return m ? [readEntry(store, model, m[1]!, Number(m[2]))] : [];
    }),
  );
  return entries
    .filter((e): e is DeploymentLogEntry => e !== undefined)
    .sort((a, b) => a.at.localeCompare(b.at) || a.seq - b.seq);
}

/** `to: 'unchanged'` logs an entry that keeps the alias on its current version (read in the same attempt). */
export type MoveRequest = Omit<DeploymentLogEntry, 'seq' | 'from' | 'alias' | 'at' | 'to'> & {
  at?: string;
  to: number | 'unchanged';
};

/** Points `alias` at `request.to`, appending one log entry. Safe under any number of concurrent callers. */
export async function moveAlias(
  store: ObjectStore,
  model: string,
  alias: string,
  request: MoveRequest,
): Promise<DeploymentLogEntry> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const current = await readAlias(store, model, alias);
    const seq = (current?.value.seq ?? 0) + 1;
    const to = request.to === 'unchanged' ? current?.value.version : request.to;
    if (to === undefined) throw new Error(`${model}@${alias} does not exist: nothing to keep unchanged`);
    const entry: DeploymentLogEntry = {
      ...request,
      to,
      seq,
      alias,
      from: current?.value.version ?? null,
      at: request.at ?? new Date().toISOString(),
    };
    try {
      await store.put(logKey(model, alias, seq), JSON.stringify(entry, null, 2), { ifGeneration: 'absent' });
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
      await rollForward(store, model, alias, seq, current?.generation);
      await sleep(Math.random() * 10 * Math.min(attempt + 1, 10));
      continue;
    }
    await applyEntry(store, model, alias, entry, current?.generation);
    return entry;
  }
  throw new Error(`Could not move ${model}@${alias}: too many concurrent writers`);
}

async function applyEntry(
  store: ObjectStore,
  model: string,
  alias: string,
  entry: DeploymentLogEntry,
  generation?: string,
): Promise<void> {
  const next: Alias = { alias, version: entry.to, seq: entry.seq, movedAt: entry.at };
  try {
    await store.put(aliasKey(model, alias), JSON.stringify(next, null, 2), { ifGeneration: generation ?? 'absent' });
  } catch (err) {
    if (!(err instanceof PreconditionFailedError)) throw err;
    // Someone rolled our entry forward already; anything else would have needed our log slot.
    const now = await readAlias(store, model, alias);
    if (!now || now.value.seq < entry.seq)
      throw new Error(`Alias ${model}@${alias} diverged from its deployment log at entry ${entry.seq}`);
  }
}

/** If log entry `seq` exists for this alias but the alias has not caught up, apply it (its writer may be dead). */
async function rollForward(
  store: ObjectStore,
  model: string,
  alias: string,
  seq: number,
  generation?: string,
): Promise<void> {
  const entry = await readEntry(store, model, alias, seq);
  if (!entry) return;
  await sleep(20); // give the live writer the first chance
  const current = await readAlias(store, model, alias);
  if ((current?.value.seq ?? 0) >= seq || current?.generation !== generation) return;
  await applyEntry(store, model, alias, entry, generation).catch(() => undefined);
}

/** Which version an alias (default `champion`) served at `at`, from the deployment log. */
export async function liveAt(
  store: ObjectStore,
  model: string,
  at: Date,
  alias = 'champion',
): Promise<DeploymentLogEntry | undefined> {
  const entries = (await deploymentLog(store, model, alias)).filter((e) => new Date(e.at) <= at);
  return entries.sort((a, b) => a.seq - b.seq).at(-1);
}

/** Moves `alias` back to the version it pointed at before its latest move. */
export async function rollback(
  store: ObjectStore,
  model: string,
  options: { by: string; reason: string; alias?: string },
): Promise<DeploymentLogEntry> {
  const alias = options.alias ?? 'champion';
  const last = (await deploymentLog(store, model, alias)).sort((a, b) => a.seq - b.seq).at(-1);
  if (!last?.from) throw new Error(`${model}@${alias} has no previous version to roll back to`);
  return moveAlias(store, model, alias, { action: 'rollback', to: last.from, by: options.by, reason: options.reason });
}
