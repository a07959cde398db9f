/**
 * Where the licensed datasets and model files live: never in this repository (their licences forbid
 * redistribution), but in ../shared beside the checkout, or wherever SEMREC_SHARED_DIR points.
 */
import fs from 'node:fs';
import path from 'node:path';

export const sharedDir = process.env.SEMREC_SHARED_DIR ?? path.resolve(__dirname, '..', '..', '..', 'shared');

/** Absolute path of a file or folder under ../shared/datasets (e.g. 'ml-100k'). */
export function sharedDataset(relative: string): string {
  return path.join(sharedDir, 'datasets', relative);
}

/** Absolute path of a file or folder under ../shared/models. */
export function sharedModel(relative: string): string {
  return path.join(sharedDir, 'models', relative);
}

/** Marks the calling test pending (not passed) when the shared file is absent, saying which. */
export function requireShared(context: Mocha.Context, absolutePath: string): void {
  if (!fs.existsSync(absolutePath)) {
    context.test!.title += ` (pending: ${absolutePath} is not present; set SEMREC_SHARED_DIR)`;
    context.skip();
  }
}
