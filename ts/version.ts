/**
 * Which semrec is running: the package version and, when it runs from a git checkout, the commit.
 * Saved models and reports record both so that a result can be traced to the code that made it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** The package root: this file is ts/version.ts under tsx and dist/version.js once built. */
const PACKAGE_ROOT = path.resolve(__dirname, '..');
/** Longest wait for `git rev-parse` (a slow network filesystem must not stall a CLI command). */
const GIT_TIMEOUT_MS = 2000;

export interface SemrecVersion {
  /** package.json's version. */
  version: string;
  /** The git commit of the checkout semrec runs from (SEMREC_COMMIT overrides), when known. */
  commit?: string;
  /** True when the checkout had uncommitted changes to tracked files. */
  dirty?: boolean;
}

let cached: SemrecVersion | undefined;

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: PACKAGE_ROOT, timeout: GIT_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8' }).trim();
  } catch {
    return undefined; // not a checkout, or no git: the commit is simply unknown
  }
}

/** The running semrec's version and commit (computed once per process). */
export function semrecVersion(): SemrecVersion {
  if (cached) return cached;
  const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  const result: SemrecVersion = { version: pkg.version };
  const fromEnv = process.env.SEMREC_COMMIT;
  if (fromEnv) {
    result.commit = fromEnv;
  } else if (fs.existsSync(path.join(PACKAGE_ROOT, '.git'))) {
    const commit = git(['rev-parse', 'HEAD']);
    if (commit && /^[0-9a-f]{40}$/.test(commit)) {
      result.commit = commit;
      const status = git(['status', '--porcelain', '--untracked-files=no']);
      if (status !== undefined) result.dirty = status.length > 0;
    }
  }
  cached = result;
  return result;
}

/** "0.1.0 (abc1234, modified)" for humans. */
export function formatVersion(v: SemrecVersion = semrecVersion()): string {
  if (!v.commit) return v.version;
  return `${v.version} (${v.commit.slice(0, 12)}${v.dirty ? ', modified' : ''})`;
}
