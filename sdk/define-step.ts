/** `defineStep`: a named custom activity with zod-checked input and output. */
import type { z } from 'zod';
import { SlugSchema } from './spec/common.js';
import { PipelineError } from './errors.js';
import { parseOrThrow } from './validate.js';
import { stepActivityName } from './step-names.js';
import type { PipelineStatus } from './run-types.js';

/** What a custom step sees of the run it belongs to. */
export type StepContext = Pick<
  PipelineStatus,
  'pipeline' | 'model' | 'runKey' | 'snapshot' | 'training' | 'gate' | 'version' | 'deployment'
>;

/** A custom step, registered as the activity `step.<name>` by `createPipelineWorker`. */
export interface StepDefinition<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly activityName: string;
  readonly input: I;
  readonly output: O;
  /** Validates input, runs, validates output. */
  readonly execute: (input: unknown, context: StepContext) => Promise<z.output<O>>;
}

export { stepActivityName } from './step-names.js';

/**
 * Defines a custom step that pipelines call by name (`steps: [{ step: 'notify', after: 'register' }]`).
 *
 * @example
 * export const notify = defineStep({
 *   name: 'notify',
 *   input: z.object({ channel: z.string() }),
 *   output: z.object({ sent: z.boolean() }),
 *   run: async ({ channel }, ctx) => ({ sent: await post(channel, `${ctx.model} v${ctx.version?.version}`) }),
 * });
 */
export function defineStep<I extends z.ZodType, O extends z.ZodType>(definition: {
  name: string;
  input: I;
  output: O;
  run: (input: z.output<I>, context: StepContext) => Promise<z.input<O>>;
}): StepDefinition<I, O> {
  const name = parseOrThrow(SlugSchema, definition.name, 'step name');
  const label = `step "${name}"`;
  return Object.freeze({
    name,
    activityName: stepActivityName(name),
    input: definition.input,
    output: definition.output,
    execute: async (rawInput: unknown, context: StepContext) => {
      const input = parseOrThrow(definition.input, rawInput, `${label} input`, 'InvalidInput');
      const raw = await definition.run(input, context);
      const checked = definition.output.safeParse(raw);
      if (!checked.success) {
        throw new PipelineError(
          'StepFailed',
          `${label} returned output that does not match its schema: ${checked.error.message}`,
        );
      }
      return checked.data;
    },
  });
}
