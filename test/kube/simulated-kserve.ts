/**
 * The part of KServe the test cluster lacks: its controller and its model servers. The InferenceService CRD is
 * KServe's own and the API server is real; this plays the controller's status side as KServe reports it
 * (a revision per predictor change, `latestCreatedRevision` / `latestReadyRevision` / `latestRolledoutRevision`,
 * `PredictorReady`, the traffic split from `canaryTrafficPercent`), with the readiness and error share each
 * model's artifacts ask for (`model.json`: `never_healthy`, `error_share`, read from the GCS emulator). It also
 * stands in for the served traffic: ~50 requests/s split by the current percentages, counted per revision as
 * Knative's queue-proxy does (`revision_app_request_count{revision_name, response_code_class}`), on a
 * `/metrics` endpoint a real Prometheus scrapes. Every spec change it sees is kept in `history`.
 * With KServe's tag routing (annotation `serving.kserve.io/enable-tag-routing: "true"`), each traffic target also
 * gets its `tag` (`latest` for the newest revision, `prev` for the rolled-out one) and a `url` of its own, as
 * KServe reports them; behind that URL runs the revision's real model server (test/fixtures/serve_fixture.py on
 * the revision's `model.json`, KServe's v1 protocol `POST /v1/models/<name>:predict`), so requests to a tag URL
 * reach that revision alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../activities/platform/free-port.js';
import { pollUntil } from '../../activities/platform/poll.js';
import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Storage } from '@google-cloud/storage';
import { TAG_ROUTING_ANNOTATION, type InferenceService } from '../../activities/deploy/kserve.js';

const SERVE_FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'serve_fixture.py');

interface Revision {
  name: string;
  storageUri: string;
  ready: boolean;
  errorShare: number;
  /** Its model server, once tag routing asked for one. */
  url?: string;
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
  const servers: ChildProcess[] = [];
  let stopped = false;

  /** Starts the revision's model server (serve_fixture.py on its model.json) and returns its base URL. */
  async function revisionServer(isvc: string, rev: Revision): Promise<string | undefined> {
    const m = /^gs:\/\/([^/]+)\/(.*)$/.exec(rev.storageUri);
    if (!m || !rev.ready) return undefined;
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), `${rev.name}-`));
    await storage
      .bucket(m[1]!)
      .file(`${m[2]}model.json`)
      .download({ destination: path.join(dir, 'model.json') });
    const port = await freePort();
    const route = `/v1/models/${isvc}`;
    servers.push(
      spawn('python3', [SERVE_FIXTURE], {
        env: {
          ...process.env,
          AIP_HTTP_PORT: String(port),
          AIP_HEALTH_ROUTE: route,
          AIP_PREDICT_ROUTE: `${route}:predict`,
          AIP_STORAGE_URI: dir,
          AIP_DEPLOYED_MODEL_ID: rev.name,
        },
        stdio: 'ignore',
      }),
    );
    const url = `http://127.0.0.1:${port}`;
    const up = await pollUntil(
      () =>
        fetch(url + route).then(
          (r) => r.ok || undefined,
          () => undefined,
        ),
      { intervalMs: 100, timeoutMs: 20_000 },
    );
    return up ? url : undefined;
  }

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
    const tagged = isvc.metadata.annotations?.[TAG_ROUTING_ANNOTATION] === 'true';
    if (tagged)
      for (const rev of revs)
        if (rev.ready && !rev.url && (rev === latest || traffic.has(rev.name)))
          rev.url = await revisionServer(name, rev);
    const tagOf = (revisionName: string) =>
      revisionName === latest.name ? 'latest' : revisionName === previous ? 'prev' : undefined;
    const targets = new Map(traffic);
    // Tag routing lists the latest revision even at 0 %, so it can be reached by its tag URL.
    if (tagged && latest.ready && !targets.has(latest.name)) targets.set(latest.name, 0);
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
          traffic: [...targets].map(([revisionName, percent]) => {
            const rev = revs.find((r) => r.name === revisionName);
            const tag = tagged ? tagOf(revisionName) : undefined;
            return {
              revisionName,
              percent,
              latestRevision: revisionName === latest.name,
              ...(tag && rev?.url ? { tag, url: rev.url } : {}),
            };
          }),
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
      for (const child of servers) child.kill('SIGTERM');
      await new Promise((r) => server.close(r));
    },
  } satisfies SimulatedKServe;
}
