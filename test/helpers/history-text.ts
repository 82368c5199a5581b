/**
 * A history (or any Temporal JSON, e.g. a schedule description) as a person with read access to the cluster sees
 * it without a codec: every plain payload decoded from base64 to text; an encrypted payload's ciphertext left
 * out (it is random bytes) and its metadata kept. What is in clear text in the history is in clear text here.
 */
const decode = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');

function isPayload(node: Record<string, unknown>): node is { metadata: Record<string, string>; data?: string } {
  return typeof node.metadata === 'object' && node.metadata !== null && 'encoding' in node.metadata;
}

/** The JSON as text a reader without the keys sees. */
export function historyText(json: unknown): string {
  const parts: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      const record = node as Record<string, unknown>;
      if (isPayload(record)) {
        const metadata = Object.entries(record.metadata).map(([k, v]) => `${k}=${decode(v)}`);
        parts.push(metadata.join(' '));
        if (record.data && decode(record.metadata.encoding!) !== 'binary/encrypted') parts.push(decode(record.data));
        return;
      }
      for (const value of Object.values(record)) {
        if (typeof value === 'string') parts.push(value);
        else walk(value);
      }
    }
  };
  walk(json);
  return parts.join('\n');
}

/** The `encryption-key-id` of every encrypted payload in the JSON. */
export function payloadKeyIds(json: unknown): Set<string> {
  const ids = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      const record = node as Record<string, unknown>;
      if (isPayload(record) && record.metadata['encryption-key-id'])
        ids.add(decode(record.metadata['encryption-key-id']));
      else Object.values(record).forEach(walk);
    }
  };
  walk(json);
  return ids;
}
