/**
 * Typed hyperparameter search spaces. A space maps hyperparameter names of one model to a domain: a
 * float or integer range (optionally searched on a log scale) or a list of choices. Spaces come from a
 * JSON file the user writes, or are derived from the model's own zod schema (the one place its
 * defaults live): every value a space can produce is checked against that schema before a trial runs.
 */
import { SemrecError } from '../errors';
import { modelRegistry, type ModelName } from '../models/registry';
import { parseParams, z } from '../models/params';

export type Choice = number | string | boolean;

export type Domain =
  | { type: 'float'; low: number; high: number; log?: boolean }
  | { type: 'int'; low: number; high: number; log?: boolean }
  | { type: 'categorical'; choices: Choice[] };

export type SearchSpace = Record<string, Domain>;
export type Assignment = Record<string, Choice>;

/** Derived ranges: a positive default d is searched on a log scale over [d / SPAN, d * SPAN]. */
export const DERIVED_FLOAT_SPAN = 10;
/** Derived integer ranges (latent dimensions, neighbour counts...): [d / 2, d * 2] on a log scale. */
export const DERIVED_INT_SPAN = 2;
/**
 * Hyperparameters a derived space leaves at their defaults: the epoch budget (early stopping on the
 * validation part decides when to stop) and the seed-like or structural settings.
 */
export const NOT_TUNED = new Set(['epochs', 'maxEpochs', 'evalEvery']);

const domainSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('float'), low: z.number(), high: z.number(), log: z.boolean().optional() }).strict(),
  z.object({ type: z.literal('int'), low: z.number().int(), high: z.number().int(), log: z.boolean().optional() }).strict(),
  z.object({ type: z.literal('categorical'), choices: z.array(z.union([z.number(), z.string(), z.boolean()])).min(1) }).strict(),
]);

function shapeOf(model: ModelName): Record<string, z.ZodType> {
  return (modelRegistry[model].schema as unknown as z.ZodObject).shape as Record<string, z.ZodType>;
}

/** Throws unless `value` is a valid value of hyperparameter `key` of `model` (named in the message). */
function checkValue(model: ModelName, key: string, value: Choice, where: string): void {
  try {
    parseParams(model, modelRegistry[model].schema, { [key]: value });
  } catch (error) {
    throw new SemrecError(`${where}: ${(error as Error).message}`, 'ERR_INVALID_ARG_VALUE');
  }
}

/**
 * Validates a space for `model`: known hyperparameter names, well-formed ranges, every bound and choice
 * accepted by the model's schema. `where` names the source (a file) in messages.
 */
export function checkSpace(model: ModelName, input: unknown, where: string): SearchSpace {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new SemrecError(`${where}: a search space is an object of hyperparameter -> domain`, 'ERR_INVALID_ARG_VALUE');
  }
  const shape = shapeOf(model);
  const space: SearchSpace = {};
  for (const [key, raw] of Object.entries(input)) {
    const at = `${where}: '${key}'`;
    if (!Object.prototype.hasOwnProperty.call(shape, key)) {
      throw new SemrecError(`${at} is not a hyperparameter of ${model} (known: ${Object.keys(shape).join(', ')})`, 'ERR_INVALID_ARG_VALUE');
    }
    const parsed = domainSchema.safeParse(raw);
    if (!parsed.success) {
      const problem = parsed.error.issues.map((i) => `${i.path.join('.') || 'domain'}: ${i.message}`).join('; ');
      throw new SemrecError(`${at}: ${problem} (a domain is {type: 'float'|'int', low, high, log?} or {type: 'categorical', choices})`, 'ERR_INVALID_ARG_VALUE');
    }
    const domain = parsed.data as Domain;
    if (domain.type !== 'categorical') {
      if (!(domain.low < domain.high)) throw new SemrecError(`${at}: low (${domain.low}) must be below high (${domain.high})`, 'ERR_INVALID_ARG_VALUE');
      if (domain.log && !(domain.low > 0)) throw new SemrecError(`${at}: a log-scale range needs low > 0, got ${domain.low}`, 'ERR_INVALID_ARG_VALUE');
      checkValue(model, key, domain.low, `${at}.low`);
      checkValue(model, key, domain.high, `${at}.high`);
    } else {
      domain.choices.forEach((c, n) => checkValue(model, key, c, `${at}.choices[${n}]`));
    }
    space[key] = domain;
  }
  if (Object.keys(space).length === 0) throw new SemrecError(`${where}: the search space is empty`, 'ERR_INVALID_ARG_VALUE');
  return space;
}

/**
 * The space derived from a model's schema: positive real defaults d on a log scale over
 * [d / DERIVED_FLOAT_SPAN, d * DERIVED_FLOAT_SPAN], positive integer defaults over [d / 2, 2 d] (log),
 * booleans and enums as choices, each clipped to the schema's bounds. Zero defaults (a switched-off
 * penalty), lists and NOT_TUNED fields stay at their defaults: give a space file to search them.
 */
export function derivedSpace(model: ModelName): SearchSpace {
  const space: SearchSpace = {};
  const defaults = modelRegistry[model].schema.parse({}) as Record<string, unknown>;
  for (const [key, field] of Object.entries(shapeOf(model))) {
    if (NOT_TUNED.has(key)) continue;
    const inner = (field as unknown as { def: { type: string; innerType?: z.ZodType } }).def.type === 'default'
      ? (field as unknown as { def: { innerType: z.ZodType } }).def.innerType
      : field;
    const d = defaults[key];
    const kind = (inner as unknown as { def: { type: string } }).def.type;
    if (kind === 'boolean') {
      space[key] = { type: 'categorical', choices: [true, false] };
    } else if (kind === 'enum') {
      space[key] = { type: 'categorical', choices: [...(inner as unknown as { options: string[] }).options] };
    } else if (kind === 'number' && typeof d === 'number' && d > 0) {
      const n = inner as unknown as { minValue: number | null; maxValue: number | null; isInt: boolean };
      const min = n.minValue ?? -Infinity;
      const max = n.maxValue ?? Infinity;
      if (n.isInt) {
        const low = Math.max(Math.ceil(min), Math.max(1, Math.round(d / DERIVED_INT_SPAN)));
        const high = Math.min(Math.floor(max), Math.round(d * DERIVED_INT_SPAN));
        if (low < high) space[key] = { type: 'int', low, high, log: true };
      } else {
        // An exclusive lower bound of 0 (a learning rate) is respected because d / SPAN > 0.
        const low = Math.max(min, d / DERIVED_FLOAT_SPAN);
        const high = Math.min(max, d * DERIVED_FLOAT_SPAN);
        if (low > 0 && low < high) space[key] = { type: 'float', low, high, log: true };
      }
    }
  }
  if (Object.keys(space).length === 0) {
    throw new SemrecError(`${model} has no hyperparameter a search space can be derived for: give --space`, 'ERR_INVALID_ARG_VALUE');
  }
  return space;
}
