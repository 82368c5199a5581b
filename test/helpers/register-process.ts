/** Registers a model version in its own process, so a test can SIGKILL it mid-upload. Args: storeUri modelDir. */
import { openObjectStore } from '../../registry/object-store.js';
import { registerModel } from '../../registry/registry.js';
import { lineage } from './lineage.js';

const [storeUri, modelDir] = process.argv.slice(2) as [string, string];
await registerModel(openObjectStore(storeUri), {
  model: 'killed',
  description: '',
  lineage: lineage('killed-run', modelDir),
});
