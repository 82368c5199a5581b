import { describe, expect, it } from 'vitest';
import { definePipeline } from '../../sdk/define-pipeline.js';
import { PipelineError } from '../../sdk/errors.js';
import { kubernetes, local, localServer, vertex, vertexEndpoint } from '../../sdk/factories.js';
import { fixturePipeline } from '../helpers/harness.js';
import { PipelineSpecSchema, type PipelineConfig } from '../../sdk/spec/pipeline.js';

const valid: PipelineConfig = {
  name: 'churn',
  ingest: {
    source: './data.csv',
    columns: { tenure: { type: 'number' }, churned: { type: 'integer' } },
    target: 'churned',
  },
  train: { backend: local({ command: ['python', 'train.py'] }), params: { depth: 4 } },
  gate: { metrics: { auc: { min: 0.8 } } },
  deploy: { target: localServer({ command: ['python', 'serve.py'] }) },
};

function invalid(config: unknown): PipelineError {
  try {
    definePipeline(config as PipelineConfig);
  } catch (err) {
    expect(err).toBeInstanceOf(PipelineError);
    expect((err as PipelineError).code).toBe('InvalidSpec');
    return err as PipelineError;
  }
  throw new Error('expected definePipeline to throw');
}

describe('definePipeline', () => {
  it('returns a frozen definition with defaults filled and durations in ms', () => {
    const def = definePipeline(valid);
    expect(def.model).toBe('churn');
    expect(def.spec.train.timeout).toBe(24 * 3600_000);
    expect(def.spec.approval).toMatchObject({
      required: true,
      quorum: 1,
      timeout: 7 * 86_400_000,
      separationOfDuties: true,
    });
    expect(Object.isFrozen(def.spec.train.params)).toBe(true);
    expect(() => {
      (def.spec.gate.metrics as Record<string, unknown>).x = 1;
    }).toThrow();
  });

  it('names the field, the value given and what is allowed', () => {
    const err = invalid({ ...valid, name: 'Churn Model', gate: { metrics: { auc: { minimum: 0.8 } } } });
    expect(err.message).toContain('pipeline "Churn Model"');
    expect(err.message).toMatch(/name: must be 1-40 characters of lowercase letters.*\(got "Churn Model"\)/);
    expect(err.message).toMatch(/gate\.metrics\.auc: unknown field\(s\) "minimum"/);
  });

  it('rejects a shell string as a command and tells how to write it', () => {
    const err = invalid({ ...valid, train: { backend: { kind: 'local', command: 'python train.py' } } });
    expect(err.message).toMatch(/train\.backend\.command: must be an argv array.*\(got "python train.py"\)/);
  });

  it('rejects an unknown backend kind naming the allowed ones', () => {
    const err = invalid({ ...valid, train: { backend: { kind: 'sagemaker' } } });
    expect(err.message).toMatch(/train\.backend\.kind/);
    expect(err.message).toMatch(/local|vertex|kubernetes/);
  });

  it('rejects bad durations, secrets in env and a quorum larger than the approver list', () => {
    const err = invalid({
      ...valid,
      train: { backend: { kind: 'local', command: ['x'], env: { WANDB_API_KEY: 'abc' } }, timeout: 'two hours' },
      approval: { approvers: ['a@acme.com'], quorum: 2 },
    });
    expect(err.message).toMatch(/train\.timeout: "two hours" is not a duration: write e\.g\. '90s'/);
    expect(err.message).toMatch(/train\.backend\.env\.WANDB_API_KEY: looks like a secret.*passEnv/);
    expect(err.message).toMatch(/approval\.quorum: needs 2 approvals but only 1 approvers/);
  });

  it('rejects a target column that is not declared', () => {
    const err = invalid({ ...valid, ingest: { ...valid.ingest, target: 'label' } });
    expect(err.message).toMatch(/ingest\.target: "label" is not a declared column/);
  });

  it('refuses features that are not available yet, and combinations that cannot work, instead of ignoring them', () => {
    const err = invalid({ ...valid, retrain: { onNewDataPrefix: 's3://acme/incoming' } });
    expect(err.message).toMatch(/retrain\.onNewDataPrefix: must be a gs:\/\/ or file:\/\/ prefix ending in "\/"/);
    expect(invalid({ ...valid, retrain: { onDrift: true } }).message).toMatch(
      /retrain\.onDrift: needs monitor\.enabled: true/,
    );
  });

  it('refuses a column whose min is above its max, naming the column and the fix', () => {
    const columns = { ...valid.ingest.columns, tenure: { type: 'number' as const, min: 10, max: 5 } };
    const err = invalid({ ...valid, ingest: { ...valid.ingest, columns } });
    expect(err.message).toMatch(/ingest\.columns\.tenure\.min: is above max \(5\).*swap the two bounds.*\(got 10\)/);
    const ok = { ...valid.ingest.columns, tenure: { type: 'number' as const, min: 5, max: 5 } };
    expect(
      definePipeline({ ...valid, ingest: { ...valid.ingest, columns: ok } }).spec.ingest.columns.tenure,
    ).toMatchObject({ min: 5, max: 5 });
  });

  it('keeps the two definition-time rules out of the schema the workflow re-parses (runs in flight still replay)', () => {
    const loose = {
      ...valid,
      ingest: { ...valid.ingest, columns: { x: { type: 'number', min: 10, max: 5 } } },
      retrain: { cron: 'every tuesday' },
    };
    expect(() => definePipeline(loose as PipelineConfig)).toThrow(/retrain\.cron/);
    expect(PipelineSpecSchema.safeParse(loose).success).toBe(true);
  });

  it('refuses a retrain.cron that is not a cron expression, saying how to write one', () => {
    expect(invalid({ ...valid, retrain: { cron: 'every tuesday' } }).message).toMatch(
      /retrain\.cron: is not a cron expression \(2 fields\): give 5 fields "minute hour day-of-month month day-of-week".*\(got "every tuesday"\)/,
    );
    const cases: [string, RegExp][] = [
      ['0 25 * * *', /hour field \(2nd of 5\): 25 is out of range 0-23/],
      ['* * * *', /is not a cron expression \(4 fields\)/],
      ['0 3 ? * MON', /day-of-month field .*"\?" is Quartz syntax .* write "\*"/],
      ['0 3 * * MON#2', /"MON#2" would be read as "MON": the nth-weekday form is not supported/],
      ['0 0 5-2 * *', /day-of-month field .*range "5-2": 2 is before the start of its range \(5\)/],
      ['*/0 * * * *', /minute field .*the step after "\/" must be a positive number/],
      ['0 0 1 ja *', /month field .*"ja" is not a number, or a name such as JAN/],
      ['0 0 * * 8', /day-of-week field .*8 is out of range 0-7/],
      ['0 0 1 1 * 1999', /year field \(6th of 6\): 1999 is out of range 2000-2100/],
      ['@reboot', /"@reboot" is not a known shorthand/],
      ['@every soon', /must be "@every <interval>\[\/<phase>\]"/],
      ['@every 90m/2h', /the phase "2h" must be shorter than the interval "90m"/],
    ];
    for (const [cron, message] of cases) {
      expect(invalid({ ...valid, retrain: { cron } }).message, cron).toMatch(message);
    }
    // In a list, the path names the entry that is wrong.
    expect(invalid({ ...valid, retrain: { cron: ['0 3 * * 1', '0 3 * * someday'] } }).message).toMatch(
      /retrain\.cron\[1\]: day-of-week field/,
    );
    expect(invalid({ ...valid, retrain: { cron: [] } }).message).toMatch(/retrain\.cron: give at least one/);
  });

  it('accepts the cron forms a Temporal Schedule accepts', () => {
    const crons = [
      '0 3 * * 1',
      '*/15 * * * *',
      '0 12 * * MON-WED,FRI',
      '0 9-17/2 * * mo-fr',
      '30 2 1,15 jan,JUL *',
      '0 0 * * 5-7',
      '0 0 1/2 * *',
      '15 10 * * * 2030',
      '0 0 12 * * * 2025-2030',
      '@daily',
      '@every 1h30m/15m',
      'TZ=Europe/Berlin 0 3 * * *',
      '0 3 * * * # nightly',
    ];
    for (const cron of crons) {
      expect(definePipeline({ ...valid, retrain: { cron } }).spec.retrain.cron, cron).toBe(cron);
    }
    expect(definePipeline({ ...valid, retrain: { cron: ['@hourly', '0 0 * * SUN'] } }).spec.retrain.cron).toEqual([
      '@hourly',
      '0 0 * * SUN',
    ]);
  });

  it('lists every problem, not only the first', () => {
    const err = invalid({ name: 'x' });
    const problems = (err.details as { problems: { path: string }[] }).problems.map((p) => p.path);
    expect(problems).toEqual(
      expect.arrayContaining(['pipeline "x".ingest', 'pipeline "x".train', 'pipeline "x".gate']),
    );
  });
});

describe('backend factories', () => {
  it('validate GPU specs against the accelerator enum and allowed counts', () => {
    expect(() =>
      vertex({ project: 'p', region: 'us-central1', image: 'img', accelerator: { type: 'NVIDIA_TESLA_T4', count: 3 } }),
    ).toThrow(/accelerator\.count: NVIDIA_TESLA_T4 takes 1, 2, 4 per replica; got 3/);
    expect(() =>
      vertex({
        project: 'p',
        region: 'us-central1',
        image: 'img',
        accelerator: { type: 'NVIDIA_GTX_1080' as never, count: 1 },
      }),
    ).toThrow(/accelerator\.type/);
    expect(() => kubernetes({ image: '', gpus: 1 })).toThrow(/image: is required/);
    expect(() => kubernetes({ image: 'img', gpus: 17 })).toThrow(/gpus/);
    expect(() => kubernetes({ image: 'img', memory: '16 GB' })).toThrow(/memory: must be a Kubernetes quantity/);
    expect(() => kubernetes({ image: 'img', namespace: 'ML_Team' })).toThrow(
      /namespace: must be a Kubernetes namespace/,
    );
    expect(
      vertex({ project: 'p', region: 'us-central1', image: 'img', accelerator: { type: 'NVIDIA_L4', count: 1 } }).kind,
    ).toBe('vertex');
  });

  it('refuses rollouts and monitoring a remote target cannot do, naming the field', () => {
    const base = fixturePipeline();
    const target = vertexEndpoint({ project: 'p', region: 'us-central1', endpoint: 'e', servingImage: 'img' });
    expect(() =>
      definePipeline({ ...base.spec, name: 'vx', deploy: { target, rollout: {} }, monitor: { enabled: false } }),
    ).toThrow(/deploy.rollout.analysis: a vertex-endpoint rollout is analysed through Prometheus/);
    expect(() => definePipeline({ ...base.spec, name: 'vx', deploy: { target }, monitor: { enabled: true } })).toThrow(
      /monitor.enabled: needs the local deploy target's request log/,
    );
    expect(() =>
      definePipeline({
        ...base.spec,
        name: 'r',
        deploy: { ...base.spec.deploy!, rollout: { steps: [{ traffic: 50 }] } },
      }),
    ).toThrow(/the last step must send 100 % of traffic/);
    expect(() =>
      definePipeline({
        ...base.spec,
        name: 'r',
        deploy: { ...base.spec.deploy!, rollout: { steps: [{ traffic: 50 }, { traffic: 10 }, { traffic: 100 }] } },
      }),
    ).toThrow(/traffic must increase step by step/);
  });
});
