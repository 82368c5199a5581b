/** A pipeline worker in its own process, so fault tests can SIGKILL it. Configured by environment. */
import './quiet-runtime.js';
import { createPipelineWorker } from '../../workers/index.js';

const worker = await createPipelineWorker({
  address: process.env.TEMPORAL_ADDRESS,
  taskQueue: process.env.MLOPS_TASK_QUEUE,
  home: process.env.MLOPS_HOME,
  workflowBundle: { codePath: process.env.MLOPS_WORKFLOW_BUNDLE as string },
});
console.log(`worker ready pid=${process.pid}`);
await worker.run();
