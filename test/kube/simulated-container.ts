/**
 * The work of a training container on the test cluster's fake nodes. kwok moves pods through their phases
 * but runs no containers, so this plays the container's side of the training contract: for each Job pod that
 * starts running, it writes the model and `metrics.json` into the pod's `AIP_MODEL_DIR` (gs://, the GCS
 * emulator) before kwok's stage ends the pod, and reports `resumed_from_checkpoint` = 1 when an earlier pod
 * left a checkpoint in `AIP_CHECKPOINT_DIR`, as a real resumable training script would. A pod whose params
 * (`MLOPS_PARAMS`) have `report_steps` plays a sweep trial instead: one line of intermediate metrics to
 * `MLOPS_METRICS_FILE` every `step_seconds` (rising to the `auc` param, as test/fixtures/train_fixture.py writes
 * them) while the pod lives, then metrics.json with `auc`; the pod's `mlops.test/run-for` must outlast the steps.
 */
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { Storage } from '@google-cloud/storage';

function gs(uri: string) {
  const m = /^gs:\/\/([^/]+)\/(.*)$/.exec(uri);
  if (!m) throw new Error(`not a gs:// URI: ${uri}`);
  return { bucket: m[1]!, key: m[2]! };
}

export interface SimulatedContainers {
  /** Pods whose container work was done, by pod name. */
  ran: string[];
  stop(): void;
}

export function simulateTrainingContainers(
  kubeconfig: string,
  gcsEndpoint: string,
  namespace = 'default',
): SimulatedContainers {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const storage = new Storage({ apiEndpoint: gcsEndpoint, projectId: 'local' });
  const seen = new Set<string>();
  const ran: string[] = [];
  let stopped = false;

  async function work(pod: V1Pod) {
    const env = Object.fromEntries((pod.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value ?? '']));
    if (!env.AIP_MODEL_DIR || !env.AIP_CHECKPOINT_DIR) return;
    const checkpoint = gs(`${env.AIP_CHECKPOINT_DIR}state.json`);
    const ckptFile = storage.bucket(checkpoint.bucket).file(checkpoint.key);
    const [resumed] = await ckptFile.exists();
    await ckptFile.save(JSON.stringify({ pod: pod.metadata?.name, epoch: 1 }));
    const model = gs(env.AIP_MODEL_DIR);
    const bucket = storage.bucket(model.bucket);
    await bucket.file(`${model.key}model.json`).save(JSON.stringify({ trainedBy: pod.metadata?.name }));
    ran.push(pod.metadata!.name!);
    const params = JSON.parse(env.MLOPS_PARAMS || '{}') as Record<string, number>;
    const auc = params.auc ?? 0.91;
    const steps = Number(params.report_steps ?? 0);
    const lines: string[] = [];
    for (let step = 1; step <= steps; step++) {
      await new Promise((r) => setTimeout(r, Number(params.step_seconds ?? 0.1) * 1000));
      if (!(await alive(pod))) return; // stopped: its Job was deleted
      const value = auc - 0.3 * (1 - step / steps);
      lines.push(JSON.stringify({ step, auc: value, loss: 1 - value }) + '\n');
      await storage
        .bucket(gs(env.MLOPS_METRICS_FILE!).bucket)
        .file(gs(env.MLOPS_METRICS_FILE!).key)
        .save(lines.join(''));
    }
    await bucket
      .file(`${model.key}metrics.json`)
      .save(JSON.stringify({ auc, resumed_from_checkpoint: resumed ? 1 : 0 }));
  }

  async function alive(pod: V1Pod): Promise<boolean> {
    const current = await core.readNamespacedPod({ name: pod.metadata!.name!, namespace }).catch(() => undefined);
    return !!current && !current.metadata?.deletionTimestamp;
  }

  void (async () => {
    while (!stopped) {
      try {
        const pods = await core.listNamespacedPod({
          namespace,
          labelSelector: 'app.kubernetes.io/managed-by=temporal-mlops',
        });
        for (const pod of pods.items) {
          const uid = pod.metadata?.uid ?? '';
          if (pod.status?.phase !== 'Running' || pod.metadata?.deletionTimestamp || seen.has(uid)) continue;
          seen.add(uid);
          // Trials report over seconds: each pod's work runs on its own, the watch goes on.
          void work(pod).catch(() => undefined);
        }
      } catch {
        /* cluster busy or stopping: try again */
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  })();
  return {
    ran,
    stop: () => {
      stopped = true;
    },
  };
}
