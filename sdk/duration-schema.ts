/** The zod side of `./duration.ts`, apart so that workflows can import durations without zod. */
import { z } from 'zod';
import { parseDuration } from './duration.js';

/** A zod schema for a duration; the parsed value is milliseconds. */
export const DurationSchema = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `${JSON.stringify(value)} is not a duration: write e.g. '90s', '15m', '2h', '7d' or a number of milliseconds`,
    });
    return z.NEVER;
  }
  return ms;
});
