/**
 * The workflow trusts a spec stamped with this release's `SPEC_VERSION` instead of parsing it again, so that zod
 * and the spec schemas stay out of every cached run's sandbox. That is safe while (1) the version changes with the
 * schema, (2) parsing a parsed spec changes nothing, and (3) no module the workflows import at start builds a zod
 * schema. One test each.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import vm from 'node:vm';
import { describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { breastCancerPipeline, breastCancerSweep, closedLoopPipeline } from '../../examples/breast-cancer/pipeline.js';
import { kubernetes, vertex, vertexEndpoint } from '../../sdk/factories.js';
import { PipelineSpecSchema, runSpecInput } from '../../sdk/spec/pipeline.js';
import { SPEC_VERSION } from '../../sdk/spec/version.js';
import { fixturePipeline } from '../helpers/harness.js';

describe('the spec version the workflow trusts', () => {
  it('changes whenever the spec schema does (its input and output JSON Schema, defaults included)', () => {
    const json = (io: 'input' | 'output') =>
      JSON.stringify(
        z.toJSONSchema(PipelineSpecSchema, { io, unrepresentable: 'any', cycles: 'ref', reused: 'inline' }),
      );
    const version = createHash('sha256').update(json('input')).update(json('output')).digest('hex').slice(0, 16);
    expect(version, `the spec schema changed: set SPEC_VERSION in sdk/spec/version.ts to '${version}'`).toBe(
      SPEC_VERSION,
    );
  });

  it('stamps only what the schema parsed, and parsing a stamped spec again gives the same spec', () => {
    const specs = [
      breastCancerPipeline('/data/bc.csv', ['ana@acme.com']).spec,
      closedLoopPipeline('/data/bc.csv', ['ana@acme.com'], 'file:///labels/').spec,
      breastCancerSweep('/data/bc.csv').spec,
      fixturePipeline().spec,
      fixturePipeline({
        train: {
          backend: vertex({ image: 'us-docker.pkg.dev/p/r/train:1', project: 'p', region: 'us-central1' }),
        },
        deploy: {
          target: vertexEndpoint({
            project: 'p',
            region: 'us-central1',
            endpoint: 'iris-prod',
            servingImage: 'us-docker.pkg.dev/p/r/serve:1',
            machineType: 'n1-standard-2',
          }),
        },
      }).spec,
      fixturePipeline({ train: { backend: kubernetes({ image: 'train:1', namespace: 'ml' }) } }).spec,
    ];
    for (const spec of specs) {
      // As a run's input travels: JSON.
      const stamped = JSON.parse(JSON.stringify(runSpecInput(spec))) as ReturnType<typeof runSpecInput>;
      expect(stamped.specVersion).toBe(SPEC_VERSION);
      expect(JSON.parse(JSON.stringify(PipelineSpecSchema.parse(stamped.spec)))).toEqual(stamped.spec);
    }
    const malformed = runSpecInput({ name: 'x' });
    expect(malformed.specVersion).toBeUndefined();
  });

  it('no module the workflows import at start builds a zod schema (the bundle evaluated as the SDK does)', async () => {
    const code = await fs.readFile(inject('workflowBundlePath'), 'utf8');
    // The SDK's reusable context: modules loaded while the bundle boots are shared; each workflow then gets its
    // own module cache, filled as `importWorkflows()` runs.
    const shared = new Map<string | symbol, unknown>();
    const perWorkflow = new Map<string | symbol, unknown>();
    let booting = true;
    const context = vm.createContext({ console, setTimeout, clearTimeout, TextEncoder, TextDecoder, URL });
    const cache = new Proxy(
      {},
      {
        get: (_, id) => shared.get(id) ?? perWorkflow.get(id),
        set: (_, id, value) => ((booting ? shared : perWorkflow).set(id, value), true),
      },
    );
    Object.defineProperty(context, '__webpack_module_cache__', { value: cache });
    vm.runInContext(code, context);
    booting = false;
    vm.runInContext('__TEMPORAL__.importWorkflows()', context);
    const loaded = [...perWorkflow.keys()].map(String);
    expect(loaded).toContain('./workflows/pipeline/run-state.ts');
    const schemaModules = loaded.filter(
      (id) => id.includes('node_modules/zod/') || /\/sdk\/spec\/(pipeline|approval|rollout)\.ts$/.test(id),
    );
    expect(schemaModules, 'workflow code imports a module that builds zod schemas: load it lazily').toEqual([]);
  });
});
