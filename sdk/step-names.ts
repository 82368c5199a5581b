/** Activity names of custom steps. Free of zod: workflows import it (see `workflows/pipeline/lazy-schemas.ts`). */

/** Activity name under which a step is registered. */
export function stepActivityName(name: string): string {
  return `step.${name}`;
}
