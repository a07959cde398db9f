/** File helpers: atomic writes (write-file-atomic: temp file + fsync + rename) and content hashes. */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import writeFileAtomic from 'write-file-atomic';

/** Writes `data` to `file` so that readers see the old file or the whole new one, never a part. */
export async function writeFileAtomically(file: string, data: Uint8Array | string): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
}

/** Hex SHA-256 of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** fsyncs a directory, so the files created, renamed or removed in it survive a power loss. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
