/**
 * The failure converter of an encrypting worker, loaded by path (Temporal bundles it into the workflow sandbox
 * and requires it for activities): failure messages and stack traces move into an encoded attribute, so the
 * payload codec encrypts them too. A gate's "auc 0.71 < 0.8" or a refused approver's email would otherwise stay
 * in clear text in the history. Sandbox-safe: it imports only @temporalio/common.
 */
import { DefaultFailureConverter } from '@temporalio/common';

/** Picked up by name through `dataConverter.failureConverterPath`. */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
