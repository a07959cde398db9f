/**
 * Hyperparameters: each model declares one zod schema whose defaults are the documented defaults (the
 * one place they live); parseParams validates user input against it with messages naming the model
 * and the hyperparameter.
 */
import { z } from 'zod';

import { SemrecError } from '../errors';

export { z };

export function parseParams<S extends z.ZodType>(model: string, schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const where = issue.path.length > 0 ? `'${issue.path.join('.')}'` : 'the hyperparameters';
    return `${where}: ${issue.message}`;
  });
  throw new SemrecError(`${model}: invalid hyperparameters: ${problems.join('; ')}`, 'ERR_INVALID_PARAMS');
}

/** Shared field builders, so every model states ranges the same way. */
export const positiveInt = (max: number) => z.number().int().min(1).max(max);
export const nonNegative = () => z.number().min(0).max(1e6);
export const learningRate = () => z.number().gt(0).max(100);
