/** The CLI's side of verified approvers: where the approver's ID token comes from, and the codec server's signer. */
import { execFile } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { CodecServerOptions } from '../sdk/codec-server.js';
import { PipelineError } from '../sdk/errors.js';

/**
 * The approver's ID token: `--id-token`, `--id-token-file`, `--id-token-command` (e.g. `gcloud auth
 * print-identity-token`), then `$MLOPS_ID_TOKEN`, `$MLOPS_ID_TOKEN_COMMAND`; undefined when none is given.
 */
export async function resolveIdToken(values: {
  'id-token'?: string;
  'id-token-file'?: string;
  'id-token-command'?: string;
}): Promise<string | undefined> {
  if (values['id-token']) return values['id-token'].trim();
  if (values['id-token-file']) {
    const file = values['id-token-file'];
    return (
      await fs.readFile(file, 'utf8').catch((err: Error) => {
        throw new PipelineError('InvalidInput', `--id-token-file: cannot read ${file}: ${err.message}`);
      })
    ).trim();
  }
  const command = values['id-token-command'] ?? process.env.MLOPS_ID_TOKEN_COMMAND;
  if (command) {
    try {
      const { stdout } = await promisify(execFile)('/bin/sh', ['-c', command], { timeout: 60_000 });
      return stdout.trim();
    } catch (err) {
      throw new PipelineError(
        'InvalidInput',
        `--id-token-command: "${command}" failed: ${(err as Error).message.split('\n')[0]}`,
      );
    }
  }
  return process.env.MLOPS_ID_TOKEN?.trim() || undefined;
}

/** The codec server's `approvalIdentity` from `--ui-issuer`, `--ui-audience`, `--assertion-key-file`…; undefined without `--ui-issuer`. */
export function codecApprovalIdentity(values: {
  'ui-issuer'?: string;
  'ui-audience'?: string[];
  'assertion-key-file'?: string;
  'assertion-kid'?: string;
  'assertion-issuer'?: string;
}): CodecServerOptions['approvalIdentity'] {
  const issuer = values['ui-issuer'];
  if (!issuer) return undefined;
  const keyFile = values['assertion-key-file'];
  if (!values['ui-audience']?.length || !keyFile) {
    throw new PipelineError(
      'InvalidInput',
      '--ui-issuer needs --ui-audience (the Web UI OIDC client id) and --assertion-key-file (a P-256 or Ed25519 private key, PEM)',
    );
  }
  const key = createPrivateKey(readFileSync(keyFile));
  const type = key.asymmetricKeyType;
  if (type !== 'ec' && type !== 'ed25519') {
    throw new PipelineError(
      'InvalidInput',
      `--assertion-key-file: ${keyFile} is a ${type} key; use P-256 (ES256) or Ed25519`,
    );
  }
  return {
    issuers: [{ issuer, audiences: values['ui-audience'], kind: 'oidc' }],
    signer: {
      key,
      alg: type === 'ec' ? 'ES256' : 'EdDSA',
      kid: values['assertion-kid'] ?? 'codec-1',
      issuer: values['assertion-issuer'] ?? 'temporal-mlops-codec-server',
    },
  };
}
