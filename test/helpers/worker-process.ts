/**
 * A pipeline worker in its own process, so fault tests can SIGKILL it. Configured by environment: with
 * `MLOPS_HOST` it is one machine of a fleet (`createPipelineWorkers`: its own host queue too), and
 * `MLOPS_WORKFLOWS=0` makes it a training machine that runs activities only; `MLOPS_STEPS_MODULE` names a module
 * whose `steps` it registers.
 */
import './quiet-runtime.js';
import { createPipelineWorker, createPipelineWorkers } from '../../workers/index.js';

const stepsModule = process.env.MLOPS_STEPS_MODULE;
const options = {
  address: process.env.TEMPORAL_ADDRESS,
  steps: stepsModule ? (await import(stepsModule)).steps : [],
  taskQueue: process.env.MLOPS_TASK_QUEUE,
  home: process.env.MLOPS_HOME,
  workflowBundle: { codePath: process.env.MLOPS_WORKFLOW_BUNDLE as string },
};
const host = process.env.MLOPS_HOST;
const worker = host
  ? await createPipelineWorkers({ ...options, host, workflows: process.env.MLOPS_WORKFLOWS !== '0' })
  : await createPipelineWorker(options);
console.log(`worker ready pid=${process.pid}`);
await worker.run();
