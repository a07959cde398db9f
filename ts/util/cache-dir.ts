/** Where semrec keeps what it generates or downloads (converted models, hub files, embedding caches). */
import os from 'node:os';
import path from 'node:path';

/** SEMREC_CACHE_DIR if set, else `semrec-cache` under the OS temp directory. Never inside the repository. */
export function defaultCacheDir(): string {
  return process.env.SEMREC_CACHE_DIR ?? path.join(os.tmpdir(), 'semrec-cache');
}
