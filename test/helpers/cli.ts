/** Runs the `semrec` command line in this process (ts/cli/main.ts), capturing what it prints. */
import { main } from '../../ts/cli/main';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** `semrec ...args`; `onStdout` sees each chunk before it is captured (e.g. to inject a fault at a moment). */
export async function runSemrec(args: string[], onStdout?: (chunk: string) => void): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string) => {
    onStdout?.(String(chunk));
    return out.push(String(chunk)) > 0;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => err.push(String(chunk)) > 0) as typeof process.stderr.write;
  try {
    const code = await main(['node', 'semrec', ...args]);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeErr;
  }
}
