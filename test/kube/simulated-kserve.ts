/**
 * The part of KServe the test cluster lacks: its controller and its model servers. The InferenceService CRD is
 * KServe's own and the API server is real; this plays the controller's status side as KServe reports it
 * (a revision per predictor change, `latestCreatedRevision` / `latestReadyRevision` / `latestRolledoutRevision`,
 * `PredictorReady`, the traffic split from `canaryTrafficPercent`), with the readiness and error share each
 * model's artifacts ask for (`model.json`: `never_healthy`, `error_share`, read from the GCS emulator). It also
 * stands in for the served traffic: ~50 requests/s split by the current percentages, counted per revision as
 * Knative's queue-proxy does (`revision_app_request_count{revision_name, response_code_class}`), on a
 * `/metrics` endpoint a real Prometheus scrapes. Every spec change it sees is kept in `history`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Storage } from '@google-cloud/storage';
import type { InferenceService } from '../../activities/deploy/kserve.js';

interface Revision {
  name: string;
  storageUri: string;
  ready: boolean;
  errorShare: number;
}

export interface SimulatedKServe {
  metricsUrl: string;
  /** Each observed generation: storage URI and canary percent, in order. */
  history: { name: string; generation: number; storageUri?: string; canaryTrafficPercent?: number }[];
  stop(): Promise<void>;
}

export async function simulateKServe(kubeconfig: string, gcsEndpoint: string, namespace = 'default') {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const api = kc.makeApiClient(CustomObjectsApi);
  const storage = new Storage({ apiEndpoint: gcsEndpoint, projectId: 'local' });
  const revisions = new Map<string, Revision[]>(); // by InferenceService
  const rolledOut = new Map<string, string>();
  const split = new Map<string, Map<string, number>>(); // isvc → revision → percent
  const counts = new Map<string, number>(); // `${revision}|${class}` → n
  const served = new Map<string, number>();
  const history: SimulatedKServe['history'] = [];
  let stopped = false;

  async function behaviour(uri: string) {
    const m = /^gs:\/\/([^/]+)\/(.*)$/.exec(uri);
    if (!m) return { never_healthy: false, error_share: 0 };
    const [data] = await storage.bucket(m[1]!).file(`${m[2]}model.json`).download();
    return JSON.parse(data.toString()) as { never_healthy?: boolean; error_share?: number };
  }

  async function reconcile(isvc: InferenceService) {
    const name = isvc.metadata.name;
    const gen = isvc.metadata.generation ?? 1;
    if ((isvc.status?.observedGeneration ?? 0) >= gen) return;
    const uri = isvc.spec.predictor.model?.storageUri ?? '';
    const canary = isvc.spec.predictor.canaryTrafficPercent;
    history.push({ name, generation: gen, storageUri: uri, canaryTrafficPercent: canary });
    const revs = revisions.get(name) ?? [];
    revisions.set(name, revs);
    let latest = revs.at(-1);
    if (!latest || latest.storageUri !== uri) {
      const b = await behaviour(uri);
      latest = {
        name: `${name}-predictor-${String(revs.length + 1).padStart(5, '0')}`,
        storageUri: uri,
        ready: !b.never_healthy,
        errorShare: b.error_share ?? 0,
      };
      revs.push(latest);
    }
    const latestReady = [...revs].reverse().find((r) => r.ready);
    const previous = rolledOut.get(name);
    const traffic = new Map<string, number>();
    if (latest.ready && canary !== undefined && previous && previous !== latest.name) {
      if (canary > 0) traffic.set(latest.name, canary);
      traffic.set(previous, 100 - canary);
    } else if (latest.ready) {
      rolledOut.set(name, latest.name);
      traffic.set(latest.name, 100);
    } else if (previous) {
      traffic.set(previous, 100);
    }
    split.set(name, traffic);
    const status = {
      observedGeneration: gen,
      url: `http://${name}.${namespace}.example.com`,
      conditions: [
        {
          type: 'PredictorReady',
          status: latest.ready ? 'True' : 'False',
          ...(latest.ready
            ? {}
            : {
                reason: 'RevisionFailed',
                message: `Revision "${latest.name}" failed with message: container exited with code 1`,
              }),
        },
        { type: 'Ready', status: traffic.size > 0 ? 'True' : 'False' },
      ],
      components: {
        predictor: {
          latestCreatedRevision: latest.name,
          ...(latestReady ? { latestReadyRevision: latestReady.name } : {}),
          ...(rolledOut.get(name) ? { latestRolledoutRevision: rolledOut.get(name) } : {}),
          traffic: [...traffic].map(([revisionName, percent]) => ({
            revisionName,
            percent,
            latestRevision: revisionName === latest.name,
          })),
        },
      },
    };
    await api.patchNamespacedCustomObjectStatus(
      {
        group: 'serving.kserve.io',
        version: 'v1beta1',
        namespace,
        plural: 'inferenceservices',
        name,
        body: { status },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  /** ~5 requests per tick, spread by the current split, failing as each revision's model says. */
  function serve() {
    for (const [name, traffic] of split) {
      const revs = revisions.get(name) ?? [];
      for (const [rev, percent] of traffic) {
        const r = revs.find((x) => x.name === rev);
        const n = (5 * percent) / 100;
        const before = served.get(rev) ?? 0;
        const after = before + n;
        served.set(rev, after);
        const whole = Math.floor(after) - Math.floor(before);
        for (let i = 0; i < whole; i++) {
          const k = Math.floor(before) + i;
          const share = r?.errorShare ?? 0;
          const cls = Math.floor((k + 1) * share) > Math.floor(k * share) ? '5xx' : '2xx';
          counts.set(`${rev}|${cls}`, (counts.get(`${rev}|${cls}`) ?? 0) + 1);
        }
      }
    }
  }

  const server = http.createServer((_req, res) => {
    const lines = ['# TYPE revision_app_request_count counter'];
    for (const [key, n] of counts) {
      const [rev, cls] = key.split('|');
      lines.push(`revision_app_request_count{revision_name="${rev}",response_code_class="${cls}"} ${n}`);
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(lines.join('\n') + '\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const ticker = setInterval(serve, 100);

  void (async () => {
    while (!stopped) {
      try {
        const list = (await api.listNamespacedCustomObject({
          group: 'serving.kserve.io',
          version: 'v1beta1',
          namespace,
          plural: 'inferenceservices',
        })) as { items: InferenceService[] };
        for (const isvc of list.items) await reconcile(isvc);
      } catch {
        /* cluster busy or stopping */
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  })();

  return {
    metricsUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    history,
    stop: async () => {
      stopped = true;
      clearInterval(ticker);
      await new Promise((r) => server.close(r));
    },
  } satisfies SimulatedKServe;
}
