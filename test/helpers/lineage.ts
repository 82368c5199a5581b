/** A minimal, valid lineage for registry tests. */
import type { Lineage } from '../../registry/registry.js';

export function lineage(runId: string, modelDir: string): Lineage {
  return {
    pipeline: 'reg',
    runKey: runId,
    workflowId: `pipeline/reg/${runId}`,
    runId,
    requestedBy: 'ci@acme.com',
    trigger: { kind: 'manual' },
    params: { depth: 3 },
    snapshot: {
      uri: 'file:///data.csv',
      sha256: 'a'.repeat(64),
      bytes: 10,
      rows: 1,
      columns: ['x'],
      profileUri: 'file:///p.json',
      sampleFeatures: {},
    },
    training: {
      jobKey: `job-${runId}`,
      backend: 'local',
      metrics: { auc: 0.9 },
      modelUri: modelDir,
      startedAt: '',
      finishedAt: '',
      reattached: false,
    },
    gate: { passed: true, checks: [] },
  };
}
