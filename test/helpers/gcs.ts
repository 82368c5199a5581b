/** Buckets on the suite's GCS emulator. */
import { Storage } from '@google-cloud/storage';
import { inject } from 'vitest';

/** Creates a fresh bucket named `<prefix>-<time>` and returns its name. */
export async function createTestBucket(prefix: string): Promise<string> {
  const bucket = `${prefix}-${Date.now()}`;
  await new Storage({ apiEndpoint: inject('gcsEndpoint'), projectId: 'local' }).createBucket(bucket);
  return bucket;
}
