/**
 * The one Kubernetes client of the activities (the training Job launcher and the KServe deploy target), over
 * `@kubernetes/client-node` with the worker's kubeconfig (`$KUBECONFIG`, `~/.kube/config`) or in-cluster
 * service-account credentials. Every failed call becomes a `KubeApiError`, sorted once here into transient
 * (retry: 429, 5xx, network) and permanent (RBAC, invalid manifest, missing CRD) with a message that says what
 * to fix; each caller turns a permanent one into its own failure type (`TrainingFailed`, `DeployFailed`).
 */
import {
  ApiException,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Job,
  type V1Service,
  type V1Pod,
} from '@kubernetes/client-node';

/** A failed Kubernetes API call: `transient` ones may succeed when retried, `permanent` ones need a fix. */
export class KubeApiError extends Error {
  constructor(
    message: string,
    readonly kind: 'transient' | 'permanent',
    readonly status?: number,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

/** What a call did, for messages and the RBAC hint: `verb` on `resource` in `namespace`. */
interface Call {
  what: string;
  verb: string;
  resource: string;
  namespace: string;
}

function describe(err: unknown, call: Call): KubeApiError {
  if (err instanceof ApiException) {
    const status = err.code;
    const body = typeof err.body === 'string' ? err.body : JSON.stringify(err.body);
    let message: string = body;
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      /* not JSON */
    }
    const hint =
      status === 403
        ? ` (RBAC: the worker's identity may not ${call.verb} ${call.resource} in namespace ${call.namespace}; see README "Kubernetes")`
        : status === 401
          ? ' (credentials rejected: check the kubeconfig or the service-account token)'
          : '';
    const transient = status === 429 || status >= 500;
    return new KubeApiError(
      `${call.what}: HTTP ${status} ${message.slice(0, 500)}${hint}`,
      transient ? 'transient' : 'permanent',
      status,
    );
  }
  return new KubeApiError(`${call.what}: ${(err as Error)?.message ?? String(err)}`, 'transient');
}

/** Runs one API call; any failure becomes a `KubeApiError`. */
async function call<T>(run: () => Promise<T>, c: Call): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw describe(err, c);
  }
}

/** Like `call`, but a 404 (the object does not exist) is `undefined`. */
async function callUnlessMissing<T>(run: () => Promise<T>, c: Call): Promise<T | undefined> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw describe(err, c);
  }
}

/** A namespaced custom resource: its API group, version and plural (e.g. serving.kserve.io/v1beta1 inferenceservices). */
export interface CustomResource {
  group: string;
  version: string;
  plural: string;
}

const clients = new Map<string, KubeApi>();

/** The Kubernetes calls the activities make; get one with `KubeApi.forContext`. */
export class KubeApi {
  private constructor(
    private readonly batch: BatchV1Api,
    private readonly core: CoreV1Api,
    private readonly custom: CustomObjectsApi,
  ) {}

  /**
   * The client for a kubeconfig context (default: the current one), made once per worker process: the
   * kubeconfig is read on the first call, not on every call.
   */
  static forContext(context?: string): KubeApi {
    const key = context ?? '';
    let api = clients.get(key);
    if (!api) {
      const kc = new KubeConfig();
      kc.loadFromDefault();
      if (context) {
        if (!kc.getContexts().some((c) => c.name === context))
          throw new KubeApiError(`the kubeconfig has no context "${context}": fix the spec's context`, 'permanent');
        kc.setCurrentContext(context);
      }
      api = new KubeApi(kc.makeApiClient(BatchV1Api), kc.makeApiClient(CoreV1Api), kc.makeApiClient(CustomObjectsApi));
      clients.set(key, api);
    }
    return api;
  }

  /** The Job, or undefined when there is none. */
  getJob(namespace: string, name: string): Promise<V1Job | undefined> {
    const c = { what: `reading Job ${namespace}/${name}`, verb: 'get', resource: 'jobs.batch', namespace };
    return callUnlessMissing(() => this.batch.readNamespacedJob({ namespace, name }), c);
  }

  createJob(namespace: string, body: V1Job): Promise<V1Job> {
    const what = `creating Job ${namespace}/${body.metadata?.name}`;
    const c = { what, verb: 'create', resource: 'jobs.batch', namespace };
    return call(() => this.batch.createNamespacedJob({ namespace, body }), c);
  }

  /** Deletes the Job and, in the background, its pods. A Job already gone is fine. */
  async deleteJob(namespace: string, name: string): Promise<void> {
    const c = { what: `deleting Job ${namespace}/${name}`, verb: 'delete', resource: 'jobs.batch', namespace };
    await callUnlessMissing(
      () => this.batch.deleteNamespacedJob({ namespace, name, propagationPolicy: 'Background' }),
      c,
    );
  }

  /** The Service, or undefined when there is none. */
  getService(namespace: string, name: string): Promise<V1Service | undefined> {
    const c = { what: `reading Service ${namespace}/${name}`, verb: 'get', resource: 'services', namespace };
    return callUnlessMissing(() => this.core.readNamespacedService({ namespace, name }), c);
  }

  createService(namespace: string, body: V1Service): Promise<V1Service> {
    const what = `creating Service ${namespace}/${body.metadata?.name}`;
    return call(() => this.core.createNamespacedService({ namespace, body }), {
      what,
      verb: 'create',
      resource: 'services',
      namespace,
    });
  }

  /** Deletes the Service; one already gone is fine. */
  async deleteService(namespace: string, name: string): Promise<void> {
    const c = { what: `deleting Service ${namespace}/${name}`, verb: 'delete', resource: 'services', namespace };
    await callUnlessMissing(() => this.core.deleteNamespacedService({ namespace, name }), c);
  }

  /** The Job's pods, oldest first. */
  async jobPods(namespace: string, jobName: string): Promise<V1Pod[]> {
    const c = { what: `listing the pods of Job ${namespace}/${jobName}`, verb: 'list', resource: 'pods', namespace };
    const labelSelector = `batch.kubernetes.io/job-name=${jobName}`;
    const list = await call(() => this.core.listNamespacedPod({ namespace, labelSelector }), c);
    return [...list.items].sort((a, b) =>
      String(a.metadata?.creationTimestamp ?? '').localeCompare(String(b.metadata?.creationTimestamp ?? '')),
    );
  }

  /** The container log's last lines, or undefined when the log cannot be read (node gone, no log API). */
  async logTail(namespace: string, pod: string, container: string, lines: number): Promise<string | undefined> {
    try {
      const text = await this.core.readNamespacedPodLog({ namespace, name: pod, container, tailLines: lines });
      return text || undefined;
    } catch {
      return undefined;
    }
  }

  /** A custom object, or undefined when there is none. */
  async getObject<T>(r: CustomResource, namespace: string, name: string): Promise<T | undefined> {
    const c = { what: `reading ${r.plural} ${namespace}/${name}`, verb: 'get', resource: resourceName(r), namespace };
    return (await callUnlessMissing(() => this.custom.getNamespacedCustomObject({ ...r, namespace, name }), c)) as
      T | undefined;
  }

  async createObject<T>(r: CustomResource, namespace: string, body: { metadata: { name: string } }): Promise<T> {
    const what = `creating ${r.plural} ${namespace}/${body.metadata.name}`;
    const c = { what, verb: 'create', resource: resourceName(r), namespace };
    return (await call(() => this.custom.createNamespacedCustomObject({ ...r, namespace, body }), c)) as T;
  }

  /** Deletes a custom object; one already gone is fine. */
  async deleteObject(r: CustomResource, namespace: string, name: string): Promise<void> {
    const c = {
      what: `deleting ${r.plural} ${namespace}/${name}`,
      verb: 'delete',
      resource: resourceName(r),
      namespace,
    };
    await callUnlessMissing(() => this.custom.deleteNamespacedCustomObject({ ...r, namespace, name }), c);
  }

  /** A JSON merge patch of a custom object (a `null` removes a field). */
  async mergePatchObject<T>(r: CustomResource, namespace: string, name: string, body: unknown): Promise<T> {
    const c = {
      what: `patching ${r.plural} ${namespace}/${name}`,
      verb: 'patch',
      resource: resourceName(r),
      namespace,
    };
    const patch = () =>
      this.custom.patchNamespacedCustomObject(
        { ...r, namespace, name, body },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    return (await call(patch, c)) as T;
  }
}

const resourceName = (r: CustomResource) => `${r.plural}.${r.group}`;
