/** Factory functions for training backends and deploy targets: validated eagerly, frozen. */
import type { z } from 'zod';
import { KubernetesBackendSchema, LocalBackendSchema, VertexBackendSchema } from './spec/backends.js';
import { KServeTargetSchema, LocalServerTargetSchema, VertexEndpointTargetSchema } from './spec/deploy.js';
import { deepFreeze, parseOrThrow } from './validate.js';

type WithoutKind<S extends z.ZodType> = Omit<z.input<S>, 'kind'>;

/**
 * Train in a subprocess on the worker's machine (development, CI, or a GPU box running the worker).
 *
 * @example local({ command: ['python', 'train.py'], cwd: 'examples/breast-cancer' })
 */
export function local(options: WithoutKind<typeof LocalBackendSchema>) {
  return deepFreeze(parseOrThrow(LocalBackendSchema, { kind: 'local', ...options }, 'local() backend'));
}

/**
 * Train as a Vertex AI CustomJob (v1 REST, Application Default Credentials). Outputs go to
 * `baseOutputDirectory` or under a gs:// `register.store`.
 *
 * @example vertex({ project: 'acme-ml', region: 'us-central1', image: 'us-docker.pkg.dev/acme/train:1', accelerator: { type: 'NVIDIA_L4', count: 1 } })
 */
export function vertex(options: WithoutKind<typeof VertexBackendSchema>) {
  return deepFreeze(parseOrThrow(VertexBackendSchema, { kind: 'vertex', ...options }, 'vertex() backend'));
}

/**
 * Train as a Kubernetes batch/v1 Job (the worker's kubeconfig or in-cluster credentials). Outputs go to
 * `baseOutputDirectory` or under a gs:// `register.store`.
 *
 * @example kubernetes({ image: 'ghcr.io/acme/train:1', gpus: 1, nodeSelector: { 'cloud.google.com/gke-accelerator': 'nvidia-l4' } })
 */
export function kubernetes(options: WithoutKind<typeof KubernetesBackendSchema>) {
  return deepFreeze(parseOrThrow(KubernetesBackendSchema, { kind: 'kubernetes', ...options }, 'kubernetes() backend'));
}

/**
 * Serve the model on this machine with Vertex AI's serving contract.
 *
 * @example localServer({ command: ['python', 'serve.py'], cwd: 'examples/breast-cancer' })
 */
export function localServer(options: WithoutKind<typeof LocalServerTargetSchema>) {
  return deepFreeze(parseOrThrow(LocalServerTargetSchema, { kind: 'local', ...options }, 'localServer() target'));
}

/**
 * Serve on a Vertex AI Endpoint: the version's gs:// artifacts are uploaded as a Model with this serving
 * container and deployed with a traffic split; with `deploy.rollout`, traffic moves step by step.
 * For the monitor, make `temporal-mlops serve --model <name> --store <registry> -- <server command>` the image's
 * entry point: it logs every prediction to the model's windows (the version from `AIP_STORAGE_URI`).
 *
 * @example vertexEndpoint({ project: 'acme-ml', region: 'us-central1', endpoint: 'churn-prod', servingImage: 'us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-5:latest' })
 */
export function vertexEndpoint(options: WithoutKind<typeof VertexEndpointTargetSchema>) {
  return deepFreeze(
    parseOrThrow(VertexEndpointTargetSchema, { kind: 'vertex-endpoint', ...options }, 'vertexEndpoint() target'),
  );
}

/**
 * Serve as a KServe InferenceService (the worker's kubeconfig or in-cluster credentials); with
 * `deploy.rollout`, traffic moves through `canaryTrafficPercent`. For the monitor, either `logger: { url }`
 * (KServe's payload logger, `mode: all`, to a `temporal-mlops collect` at that URL), or a custom predictor whose
 * command is `temporal-mlops serve --model <name> --store <registry> -- <server command>`.
 *
 * @example kserve({ namespace: 'serving', modelFormat: 'sklearn', logger: { url: 'http://mlops-collect.monitoring' } })
 */
export function kserve(options: WithoutKind<typeof KServeTargetSchema>) {
  return deepFreeze(parseOrThrow(KServeTargetSchema, { kind: 'kserve', ...options }, 'kserve() target'));
}
