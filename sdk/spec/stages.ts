/** The pipeline's stages, in order. Free of zod: workflows import it (see `workflows/pipeline/lazy-schemas.ts`). */
export const STAGES = ['ingest', 'train', 'gate', 'register', 'approval', 'deploy'] as const;
export type Stage = (typeof STAGES)[number];
