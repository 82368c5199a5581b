import { describe, expect, it } from 'vitest';
import { definePipeline } from '../../sdk/define-pipeline.js';
import { PipelineError } from '../../sdk/errors.js';
import { kubernetes, vertex } from '../../sdk/factories.js';
import type { PipelineConfig } from '../../sdk/spec/pipeline.js';
import { machineAcceleratorProblem } from '../../sdk/spec/vertex-machines.js';
import { jobManifest, serviceManifest } from '../../activities/train/kubernetes.js';
import { customJobBody } from '../../activities/train/vertex.js';

const base: PipelineConfig = {
  name: 'llm',
  ingest: { source: 'gs://acme/data.csv', columns: { text: { type: 'string' } } },
  train: { backend: kubernetes({ image: 'img' }) },
  gate: { metrics: { loss: { max: 2 } } },
};

const vx = { project: 'acme-ml', region: 'us-central1', image: 'us-docker.pkg.dev/acme/train:1' };

function refused(backend: () => unknown): string {
  try {
    definePipeline({ ...base, train: { backend: backend() } } as PipelineConfig);
  } catch (err) {
    expect(err).toBeInstanceOf(PipelineError);
    return (err as PipelineError).message;
  }
  throw new Error('expected definePipeline to refuse the backend');
}

describe('vertex({ workerPools })', () => {
  it('accepts chief + 2 workers and builds one CustomJob with both pools', () => {
    const def = definePipeline({
      ...base,
      train: {
        backend: vertex({
          ...vx,
          workerPools: [
            { machineType: 'a3-highgpu-8g', accelerator: { type: 'NVIDIA_H100_80GB', count: 8 } },
            { machineType: 'a3-highgpu-8g', accelerator: { type: 'NVIDIA_H100_80GB', count: 8 }, replicaCount: 2 },
          ],
        }),
      },
    });
    const backend = def.spec.train.backend;
    if (backend.kind !== 'vertex') throw new Error('vertex expected');
    const body = customJobBody({
      jobKey: 'mlops-llm-0123456789abcdef',
      backend,
      outputDirectory: 'gs://acme/jobs/k/',
      preemptions: 0,
      contract: { dataUri: 'gs://acme/d.csv', runKey: 'r', pipeline: 'llm', params: {} },
    });
    const pools = body.jobSpec.workerPoolSpecs as { machineSpec: { machineType: string }; replicaCount: string }[];
    expect(pools.map((p) => [p.machineSpec.machineType, p.replicaCount])).toEqual([
      ['a3-highgpu-8g', '1'],
      ['a3-highgpu-8g', '2'],
    ]);
  });

  it('refuses an accelerator count the machine type does not have, naming the pool and field', () => {
    const message = refused(() =>
      vertex({
        ...vx,
        workerPools: [
          { machineType: 'a2-highgpu-8g', accelerator: { type: 'NVIDIA_TESLA_A100', count: 8 } },
          { machineType: 'a2-highgpu-4g', accelerator: { type: 'NVIDIA_TESLA_A100', count: 8 }, replicaCount: 2 },
        ],
      }),
    );
    expect(message).toMatch(
      /train\.backend\.workerPools\[1\]\.accelerator\.count: the workers pool: a2-highgpu-4g has exactly 4 NVIDIA_TESLA_A100; got 8/,
    );
  });

  it('refuses a chief pool of several replicas and a count Vertex never allows', () => {
    const message = refused(() =>
      vertex({
        ...vx,
        workerPools: [
          { machineType: 'g2-standard-8', accelerator: { type: 'NVIDIA_L4', count: 1 }, replicaCount: 3 },
          { machineType: 'n1-standard-8', accelerator: { type: 'NVIDIA_TESLA_T4', count: 3 } },
        ],
      }),
    );
    expect(message).toMatch(/workerPools\[0\]\.replicaCount: the chief pool runs exactly 1 replica/);
    expect(message).toMatch(/workerPools\[1\]\.accelerator\.count: the workers pool: NVIDIA_TESLA_T4 takes 1, 2, 4/);
  });

  it('knows which accelerators each machine family takes', () => {
    expect(machineAcceleratorProblem('g2-standard-48', { type: 'NVIDIA_L4', count: 4 })).toBeUndefined();
    expect(machineAcceleratorProblem('g2-standard-8', { type: 'NVIDIA_L4', count: 2 })?.field).toBe(
      'accelerator.count',
    );
    expect(machineAcceleratorProblem('a3-highgpu-8g', { type: 'NVIDIA_TESLA_A100', count: 8 })?.field).toBe(
      'accelerator.type',
    );
    expect(machineAcceleratorProblem('a2-ultragpu-1g', undefined)?.message).toMatch(/comes with 1 NVIDIA_A100_80GB/);
    expect(machineAcceleratorProblem('n1-standard-16', { type: 'NVIDIA_TESLA_T4', count: 1 })).toBeUndefined();
    expect(machineAcceleratorProblem('n1-standard-32', { type: 'NVIDIA_TESLA_V100', count: 1 })?.field).toBe(
      'machineType',
    );
    expect(machineAcceleratorProblem('n1-standard-8', { type: 'NVIDIA_L4', count: 1 })?.field).toBe('accelerator.type');
    expect(machineAcceleratorProblem('e2-standard-8', { type: 'NVIDIA_TESLA_T4', count: 1 })?.field).toBe(
      'accelerator',
    );
    expect(machineAcceleratorProblem('n1-standard-8', undefined)).toBeUndefined();
  });
});

describe('kubernetes({ replicas })', () => {
  it('an indexed Job of one pod per replica with the rendezvous variables, and its headless Service', () => {
    const def = definePipeline({ ...base, train: { backend: kubernetes({ image: 'img', replicas: 4, gpus: 8 }) } });
    const backend = def.spec.train.backend;
    if (backend.kind !== 'kubernetes') throw new Error('kubernetes expected');
    const job = {
      jobKey: 'mlops-llm-0123456789abcdef',
      backend,
      outputDirectory: 'gs://acme/jobs/k/',
      contract: { dataUri: 'gs://acme/d.csv', runKey: 'r', pipeline: 'llm', params: {} },
    };
    const manifest = jobManifest(job);
    expect(manifest.spec).toMatchObject({ completionMode: 'Indexed', completions: 4, parallelism: 4 });
    const pod = manifest.spec!.template.spec!;
    expect(pod.subdomain).toBe('mlops-llm-0123456789abcdef');
    const env = pod.containers[0]!.env!;
    expect(env).toEqual(
      expect.arrayContaining([
        { name: 'MASTER_ADDR', value: 'mlops-llm-0123456789abcdef-0.mlops-llm-0123456789abcdef.default.svc' },
        { name: 'MASTER_PORT', value: '29500' },
        { name: 'WORLD_SIZE', value: '4' },
        {
          name: 'RANK',
          valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } },
        },
      ]),
    );
    const service = serviceManifest(job, { ...manifest, metadata: { ...manifest.metadata, uid: 'u-1' } });
    expect(service.spec).toMatchObject({
      clusterIP: 'None',
      selector: { 'batch.kubernetes.io/job-name': pod.subdomain },
    });
    expect(service.metadata!.ownerReferences![0]).toMatchObject({ kind: 'Job', uid: 'u-1' });

    const single = jobManifest({ ...job, backend: { ...backend, replicas: 1 } });
    expect(single.spec!.completionMode).toBeUndefined();
    expect(single.spec!.template.spec!.containers[0]!.env!.map((e) => e.name)).not.toContain('RANK');
  });
});
