/**
 * A small Vertex AI v1 REST client for CustomJobs: create, get, list by label, cancel. Authenticates with
 * Application Default Credentials (google-auth-library), or `MLOPS_VERTEX_ACCESS_TOKEN` when set (CI, tests).
 * `MLOPS_VERTEX_API_ENDPOINT` overrides `https://<region>-aiplatform.googleapis.com` (the tests' stand-in).
 * Errors are normalised once here: quota, transient, or permanent.
 */
import { GoogleAuth } from 'google-auth-library';

export type VertexErrorKind = 'quota' | 'transient' | 'permanent';

export class VertexApiError extends Error {
  constructor(
    readonly kind: VertexErrorKind,
    readonly httpStatus: number | undefined,
    readonly grpcStatus: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'VertexApiError';
  }
}

const TRANSIENT = new Set(['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'INTERNAL', 'ABORTED']);

/** One classification for every transport: HTTP status, the `error.status` string, or a network failure. */
export function classify(httpStatus: number | undefined, grpcStatus: string | undefined): VertexErrorKind {
  if (httpStatus === 429 || grpcStatus === 'RESOURCE_EXHAUSTED') return 'quota';
  if (httpStatus === undefined || httpStatus >= 500 || (grpcStatus && TRANSIENT.has(grpcStatus))) return 'transient';
  return 'permanent';
}

export interface CustomJob {
  name?: string;
  displayName: string;
  labels?: Record<string, string>;
  state?: string;
  error?: { code?: number; message?: string };
  jobSpec: Record<string, unknown>;
  createTime?: string;
  endTime?: string;
}

let auth: GoogleAuth | undefined;

/** Bearer headers from `MLOPS_VERTEX_ACCESS_TOKEN` or Application Default Credentials. */
export async function googleAuthHeaders(): Promise<Record<string, string>> {
  if (process.env.MLOPS_VERTEX_ACCESS_TOKEN)
    return { authorization: `Bearer ${process.env.MLOPS_VERTEX_ACCESS_TOKEN}` };
  auth ??= new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/cloud-platform'] });
  const headers = await auth.getRequestHeaders();
  return Object.fromEntries(
    headers instanceof Headers ? headers.entries() : Object.entries(headers as Record<string, string>),
  );
}

export class VertexApi {
  private readonly base: string;
  constructor(readonly region: string) {
    this.base = process.env.MLOPS_VERTEX_API_ENDPOINT ?? `https://${region}-aiplatform.googleapis.com`;
  }

  protected async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.base}/v1/${path}`, {
        method,
        headers: { ...(await googleAuthHeaders()), 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (err) {
      throw new VertexApiError(
        'transient',
        undefined,
        undefined,
        `Vertex AI ${method} ${path}: ${(err as Error).message}`,
      );
    }
    const text = await res.text();
    if (!res.ok) {
      let status: string | undefined;
      let message = text.slice(0, 500);
      try {
        const parsed = JSON.parse(text) as { error?: { status?: string; message?: string } };
        status = parsed.error?.status;
        message = parsed.error?.message ?? message;
      } catch {
        /* not JSON */
      }
      throw new VertexApiError(
        classify(res.status, status),
        res.status,
        status,
        `Vertex AI ${method} ${path}: HTTP ${res.status} ${status ?? ''} ${message}`,
      );
    }
    return (text ? JSON.parse(text) : {}) as T;
  }

  create(parent: string, job: CustomJob): Promise<CustomJob> {
    return this.request('POST', `${parent}/customJobs`, job);
  }

  get(name: string): Promise<CustomJob> {
    return this.request('GET', name);
  }

  async listByLabel(parent: string, key: string, value: string): Promise<CustomJob[]> {
    const filter = encodeURIComponent(`labels.${key}="${value}"`);
    const res = await this.request<{ customJobs?: CustomJob[] }>('GET', `${parent}/customJobs?filter=${filter}`);
    return res.customJobs ?? [];
  }

  async cancel(name: string): Promise<void> {
    await this.request('POST', `${name}:cancel`, {});
  }
}

export interface VertexOperation {
  name: string;
  done?: boolean;
  error?: { code?: number; message?: string };
  response?: Record<string, unknown>;
}

export interface DeployedModel {
  id?: string;
  model: string;
  displayName?: string;
  dedicatedResources?: Record<string, unknown>;
  serviceAccount?: string;
}

export interface VertexEndpoint {
  name?: string;
  displayName: string;
  deployedModels?: DeployedModel[];
  trafficSplit?: Record<string, number>;
  labels?: Record<string, string>;
}

/** Models, endpoints and their long-running operations (v1 REST). */
export class VertexEndpointsApi extends VertexApi {
  uploadModel(parent: string, model: Record<string, unknown>): Promise<VertexOperation> {
    return this.request('POST', `${parent}/models:upload`, { model });
  }

  async modelsByLabel(parent: string, key: string, value: string): Promise<{ name: string }[]> {
    const filter = encodeURIComponent(`labels.${key}="${value}"`);
    return (
      (await this.request<{ models?: { name: string }[] }>('GET', `${parent}/models?filter=${filter}`)).models ?? []
    );
  }

  async endpointsNamed(parent: string, displayName: string): Promise<VertexEndpoint[]> {
    const filter = encodeURIComponent(`display_name="${displayName}"`);
    return (
      (await this.request<{ endpoints?: VertexEndpoint[] }>('GET', `${parent}/endpoints?filter=${filter}`)).endpoints ??
      []
    );
  }

  createEndpoint(parent: string, endpoint: VertexEndpoint): Promise<VertexOperation> {
    return this.request('POST', `${parent}/endpoints`, endpoint);
  }

  getEndpoint(name: string): Promise<VertexEndpoint> {
    return this.request('GET', name);
  }

  deployModel(endpoint: string, deployedModel: DeployedModel, trafficSplit: Record<string, number>) {
    return this.request<VertexOperation>('POST', `${endpoint}:deployModel`, { deployedModel, trafficSplit });
  }

  setTraffic(endpoint: string, trafficSplit: Record<string, number>): Promise<VertexEndpoint> {
    return this.request('PATCH', `${endpoint}?updateMask=traffic_split`, { trafficSplit });
  }

  undeployModel(endpoint: string, deployedModelId: string, trafficSplit: Record<string, number>) {
    return this.request<VertexOperation>('POST', `${endpoint}:undeployModel`, { deployedModelId, trafficSplit });
  }

  deleteEndpoint(name: string): Promise<VertexOperation> {
    return this.request('DELETE', name);
  }

  getOperation(name: string): Promise<VertexOperation> {
    return this.request('GET', name);
  }
}

/** Console link for a job (`projects/p/locations/r/customJobs/123`). */
export function consoleUrl(name: string): string {
  const m = /^projects\/([^/]+)\/locations\/([^/]+)\/customJobs\/([^/]+)$/.exec(name);
  return m ? `https://console.cloud.google.com/vertex-ai/locations/${m[2]}/training/${m[3]}/cpu?project=${m[1]}` : name;
}
