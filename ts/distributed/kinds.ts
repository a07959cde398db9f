/** The kinds of batch, by name (the explicit registry the worker dispatches on). */
import { embedKind } from './embed';
import { evalKind } from './eval';
import type { BatchKind } from './kind';
import { recommendKind } from './recommend';
import type { BatchKindName, BatchSpec } from './spec';

const KINDS: Record<BatchKindName, BatchKind<never>> = {
  embed: embedKind,
  eval: evalKind,
  recommend: recommendKind,
};

/** The kind named by a job or spec, or undefined for a name this semrec does not know. */
export function kindOf(name: string): BatchKind<BatchSpec> | undefined {
  return Object.prototype.hasOwnProperty.call(KINDS, name) ? (KINDS[name as BatchKindName] as unknown as BatchKind<BatchSpec>) : undefined;
}
