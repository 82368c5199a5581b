export * from './approval.js';
export * from './backends.js';
export * from './common.js';
export * from './deploy.js';
export * from './ingest.js';
export * from './pipeline.js';
