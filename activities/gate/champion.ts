/**
 * The champion/challenger part of the gate: compares the candidate with the version behind an alias on the
 * same evaluation data, re-evaluating the champion on the candidate's snapshot when they differ.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ChampionCheck, ChampionComparison, DataSnapshot } from '../../sdk/run-types.js';
import type { GateSpec } from '../../sdk/spec/pipeline.js';
import { getAlias } from '../../registry/aliases.js';
import { type ObjectStore } from '../../registry/object-store.js';
import { artifactsPrefix, readManifest, type Manifest } from '../../registry/registry.js';
import { readSource } from '../ingest/ingest.js';
import { readMetrics } from '../train/contract.js';
import { localPathOf } from '../../registry/object-store.js';

const run = promisify(execFile);
type ChampionGate = NonNullable<GateSpec['champion']>;

/** Compares one metric, candidate vs champion. */
export function compareMetric(
  metric: string,
  rule: ChampionGate['metrics'][string],
  candidate?: number,
  champion?: number,
): ChampionCheck {
  const base = {
    metric,
    candidate: candidate ?? null,
    champion: champion ?? null,
    minDelta: rule.minDelta,
    higherIsBetter: rule.higherIsBetter,
  };
  if (candidate === undefined || champion === undefined) {
    const missing = candidate === undefined ? 'the candidate' : 'the champion';
    return { ...base, delta: null, passed: false, reason: `${metric} is missing for ${missing}` };
  }
  const delta = rule.higherIsBetter ? candidate - champion : champion - candidate;
  const passed = delta >= rule.minDelta;
  const word = rule.higherIsBetter ? 'higher' : 'lower';
  return {
    ...base,
    delta,
    passed,
    reason: `${metric}: candidate ${candidate} vs champion ${champion} (${delta >= 0 ? '+' : ''}${Number(delta.toFixed(6))} ${word}-is-better; needs ≥ ${rule.minDelta})`,
  };
}

async function localCopy(store: ObjectStore, manifest: Manifest): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `champion-${manifest.model}-v${manifest.version}-`));
  for (const a of manifest.artifacts) {
    const key = `${artifactsPrefix(manifest.model, manifest.version)}${a.path}`;
    const obj = await store.get(key);
    if (!obj) throw new Error(`${store.uri(key)} is listed in the manifest but missing`);
    await fs.mkdir(path.dirname(path.join(dir, a.path)), { recursive: true });
    await fs.writeFile(path.join(dir, a.path), obj.data);
  }
  return dir;
}

async function reEvaluate(
  store: ObjectStore,
  manifest: Manifest,
  snapshot: DataSnapshot,
  evaluate: NonNullable<ChampionGate['evaluate']>,
): Promise<Record<string, number>> {
  const modelDir = await localCopy(store, manifest);
  let dataPath = snapshot.uri.startsWith('file://') ? localPathOf(snapshot.uri) : undefined;
  if (!dataPath) {
    dataPath = path.join(modelDir, '..', `${path.basename(modelDir)}-data.csv`);
    await fs.writeFile(dataPath, (await readSource(snapshot.uri)).data);
  }
  const outDir = await fs.mkdtemp(path.join(os.tmpdir(), 'champion-eval-'));
  const [cmd, ...args] = evaluate.command;
  await run(cmd!, args, {
    cwd: path.resolve(evaluate.cwd ?? '.'),
    env: {
      ...process.env,
      AIP_MODEL_DIR: modelDir,
      MLOPS_DATA_PATH: dataPath,
      MLOPS_DATA_URI: snapshot.uri,
      MLOPS_EVAL_OUTPUT: path.join(outDir, 'metrics.json'),
    },
    timeout: 30 * 60_000,
    maxBuffer: 16 << 20,
  }).catch((err: { stderr?: string; message: string }) => {
    throw new Error(
      `Re-evaluating ${manifest.model} v${manifest.version} failed: ${err.stderr?.trim().split('\n').slice(-5).join('\n') || err.message}`,
    );
  });
  return readMetrics(outDir);
}

/** The champion/challenger comparison for a candidate. */
export async function compareWithChampion(
  store: ObjectStore,
  model: string,
  rule: ChampionGate,
  candidate: Record<string, number>,
  snapshot: DataSnapshot,
): Promise<ChampionComparison> {
  const alias = await getAlias(store, model, rule.alias);
  if (!alias) {
    return {
      alias: rule.alias,
      version: null,
      basis: 'no-champion',
      passed: true,
      checks: [],
      reason: `no ${rule.alias} yet: the first model passes this check`,
    };
  }
  const manifest = await readManifest(store, model, alias.version);
  const same = manifest.lineage.snapshot.sha256 === snapshot.sha256;
  if (!same && !rule.evaluate) {
    return {
      alias: rule.alias,
      version: alias.version,
      basis: 'different-snapshot',
      passed: false,
      checks: [],
      reason: `${model} v${alias.version} (${rule.alias}) was evaluated on snapshot ${manifest.lineage.snapshot.sha256.slice(0, 12)}, the candidate on ${snapshot.sha256.slice(0, 12)}: configure gate.champion.evaluate to re-evaluate the champion on the same data`,
    };
  }
  const championMetrics = same ? manifest.metrics : await reEvaluate(store, manifest, snapshot, rule.evaluate!);
  const checks = Object.entries(rule.metrics).map(([metric, r]) =>
    compareMetric(metric, r, candidate[metric], championMetrics[metric]),
  );
  const passed = checks.every((c) => c.passed);
  return {
    alias: rule.alias,
    version: alias.version,
    basis: same ? 'same-snapshot' : 're-evaluated',
    passed,
    checks,
    reason: passed
      ? `beats ${model} v${alias.version} (${rule.alias})`
      : `does not beat ${model} v${alias.version} (${rule.alias}): ${checks
          .filter((c) => !c.passed)
          .map((c) => c.reason)
          .join('; ')}`,
  };
}
