/** Small schemas shared by the spec sections. Sandbox-safe. */
import { z } from 'zod';

/** Lowercase name usable in workflow ids, K8s names, GCS paths and Vertex labels. */
export const SlugSchema = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,39}$/,
    'must be 1-40 characters of lowercase letters, digits and dashes, starting with a letter (e.g. "churn-model")',
  );

/** A command as an argv array: `['python', 'train.py']`, never a shell string. */
export const CommandSchema = z
  .array(z.string().min(1), {
    error: 'must be an argv array of strings, e.g. ["python", "train.py"] (a shell string is not split for you)',
  })
  .min(1, 'must name at least the program to run, e.g. ["python", "train.py"]');

/**
 * Environment for a job. Values land in workflow history, so they must not be secrets: pass secrets by
 * reference with `passEnv` (names of worker environment variables copied at launch).
 */
export const EnvSchema = z.record(
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid variable name'),
  z.string(),
);

const SECRET_NAME = /(SECRET|PASSWORD|TOKEN|API_KEY|PRIVATE_KEY|CREDENTIAL)/i;

/** Rejects env entries whose names look like secrets, pointing at `passEnv`. */
export const SafeEnvSchema = EnvSchema.superRefine((env, ctx) => {
  for (const name of Object.keys(env)) {
    if (SECRET_NAME.test(name)) {
      ctx.addIssue({
        code: 'custom',
        path: [name],
        message: `looks like a secret; values in a spec are stored in workflow history. Put the name in passEnv: ["${name}"] and set it in the worker's environment instead`,
      });
    }
  }
});

/** Names of worker environment variables forwarded to a job at launch (the values never enter history). */
export const PassEnvSchema = z
  .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a variable name'))
  .default([]);

/** Training / serving parameters: JSON scalars, recorded in lineage. */
export const ParamsSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));
