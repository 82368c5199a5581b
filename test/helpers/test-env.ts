/**
 * Set-up for every test file: quiet Temporal runtime, GCS pointed at the suite's emulator, and temp files in
 * the suite's directory (so the global teardown finds any process a test left running).
 */
import { inject } from 'vitest';
import './quiet-runtime.js';

// Every test process talks to the suite's GCS emulator, never to Google (nor its metadata server).
process.env.MLOPS_GCS_API_ENDPOINT ??= inject('gcsEndpoint');
process.env.METADATA_SERVER_DETECTION = 'none';
// os.tmpdir() reads TMPDIR on every call, and the processes tests start inherit it.
process.env.TMPDIR = inject('suiteTmpDir');
