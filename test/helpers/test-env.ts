/**
 * Set-up for every test file: quiet Temporal runtime, GCS pointed at the suite's emulator, fast polling, and temp
 * files in the suite's directory (so the global teardown finds any process a test left running).
 */
import { inject } from 'vitest';
import './quiet-runtime.js';

// Every test process talks to the suite's GCS emulator, never to Google (nor its metadata server).
process.env.MLOPS_GCS_API_ENDPOINT ??= inject('gcsEndpoint');
process.env.METADATA_SERVER_DETECTION = 'none';
// os.tmpdir() reads TMPDIR on every call, and the processes tests start inherit it.
process.env.TMPDIR = inject('suiteTmpDir');

// The documented poll intervals (15 s Vertex, 5 s Kubernetes; activities/platform/poll-intervals.ts) would make
// every remote job and deploy wait take minutes here. Set before any worker starts, so the in-process workers and
// the worker processes the tests spawn (they inherit this environment) poll fast too.
process.env.MLOPS_VERTEX_POLL_MS ??= '200';
process.env.MLOPS_KUBE_POLL_MS ??= '300';
