/**
 * The few Kubernetes API calls the training backend makes, over `@kubernetes/client-node` with the worker's
 * kubeconfig (`$KUBECONFIG`, `~/.kube/config`) or in-cluster service-account credentials. Errors are sorted
 * into transient (retry: 429, 5xx, network) and permanent (RBAC, invalid manifest) with a message that says
 * what to fix.
 */
import { ApiException, BatchV1Api, CoreV1Api, KubeConfig, type V1Job, type V1Pod } from '@kubernetes/client-node';

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

function describe(err: unknown, what: string): KubeApiError {
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
        ? ' (RBAC: the worker needs create/get/delete on batch jobs and list on pods, pods/log; see README "Kubernetes")'
        : status === 401
          ? ' (credentials rejected: check the kubeconfig or the service-account token)'
          : '';
    const transient = status === 429 || status >= 500;
    return new KubeApiError(`${what}: HTTP ${status} ${message}${hint}`, transient ? 'transient' : 'permanent', status);
  }
  return new KubeApiError(`${what}: ${(err as Error)?.message ?? String(err)}`, 'transient');
}

export class KubeApi {
  private constructor(
    private readonly batch: BatchV1Api,
    private readonly core: CoreV1Api,
  ) {}

  static fromDefault(context?: string): KubeApi {
    const kc = new KubeConfig();
    kc.loadFromDefault();
    if (context) {
      if (!kc.getContexts().some((c) => c.name === context))
        throw new KubeApiError(`kubeconfig has no context "${context}" (train.backend.context)`, 'permanent');
      kc.setCurrentContext(context);
    }
    return new KubeApi(kc.makeApiClient(BatchV1Api), kc.makeApiClient(CoreV1Api));
  }

  async getJob(namespace: string, name: string): Promise<V1Job | undefined> {
    try {
      return await this.batch.readNamespacedJob({ namespace, name });
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw describe(err, `reading Job ${namespace}/${name}`);
    }
  }

  async createJob(namespace: string, body: V1Job): Promise<V1Job> {
    try {
      return await this.batch.createNamespacedJob({ namespace, body });
    } catch (err) {
      throw describe(err, `creating Job ${namespace}/${body.metadata?.name}`);
    }
  }

  /** Deletes the Job and, in the background, its pods. A Job already gone is fine. */
  async deleteJob(namespace: string, name: string): Promise<void> {
    try {
      await this.batch.deleteNamespacedJob({ namespace, name, propagationPolicy: 'Background' });
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return;
      throw describe(err, `deleting Job ${namespace}/${name}`);
    }
  }

  async jobPods(namespace: string, jobName: string): Promise<V1Pod[]> {
    try {
      const list = await this.core.listNamespacedPod({
        namespace,
        labelSelector: `batch.kubernetes.io/job-name=${jobName}`,
      });
      return [...list.items].sort((a, b) =>
        String(a.metadata?.creationTimestamp ?? '').localeCompare(String(b.metadata?.creationTimestamp ?? '')),
      );
    } catch (err) {
      throw describe(err, `listing the pods of Job ${namespace}/${jobName}`);
    }
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
}
