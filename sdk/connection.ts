/** Where to find Temporal: explicit options, then `TEMPORAL_ADDRESS` / `TEMPORAL_NAMESPACE`, then the local dev server. */

export const DEFAULT_TASK_QUEUE = 'temporal-mlops';

export interface ConnectionOptions {
  address?: string;
  namespace?: string;
}

/** Resolves the Temporal address and namespace. */
export function resolveConnectionOptions(options: ConnectionOptions = {}): Required<ConnectionOptions> {
  return {
    address: options.address ?? process.env.TEMPORAL_ADDRESS ?? 'localhost:7233',
    namespace: options.namespace ?? process.env.TEMPORAL_NAMESPACE ?? 'default',
  };
}
