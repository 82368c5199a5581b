/** Set-up for every test file: quiet Temporal runtime, and GCS pointed at the suite's emulator. */
import { inject } from 'vitest';
import './quiet-runtime.js';

// Every test process talks to the suite's GCS emulator, never to Google (nor its metadata server).
process.env.MLOPS_GCS_API_ENDPOINT ??= inject('gcsEndpoint');
process.env.METADATA_SERVER_DETECTION = 'none';
