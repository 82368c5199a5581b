/** The worker's side of the one connection path (sdk/connection.ts): a `NativeConnection` with the same settings. */
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import { connectionError, connectionSettings, probeEndpoint, type ResolvedConnection } from '../sdk/connection.js';

/** The options of `NativeConnection.connect` for a resolved connection. */
export function nativeConnectionOptions(c: ResolvedConnection): NativeConnectionOptions {
  return connectionSettings(c);
}

/**
 * Connects the worker. Failures become a `PipelineError` naming the setting to fix (see `connectionError`);
 * the worker's activities reach Temporal through this connection too, so they share its TLS and credentials.
 */
export async function connectWorker(c: ResolvedConnection): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect(nativeConnectionOptions(c));
  } catch (err) {
    throw connectionError(c, err, await probeEndpoint(c));
  }
}
