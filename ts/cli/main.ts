#!/usr/bin/env node
/**
 * The `semrec` command line: a thin layer over the public API. Each command lives in
 * ts/cli/commands/<name>.ts and registers itself on the program.
 */
import { Command, CommanderError } from 'commander';

import { isSemrecError } from '../errors';
import { registerBatch } from './commands/batch';
import { registerChat } from './commands/chat';
import { registerData } from './commands/data';
import { registerDemo } from './commands/demo';
import { registerDevice } from './commands/device';
import { registerEval } from './commands/eval';
import { registerEmbed } from './commands/embed';
import { registerExperiment } from './commands/experiment';
import { registerQuickstart } from './commands/quickstart';
import { registerRecommend } from './commands/recommend';
import { registerServe } from './commands/serve';
import { registerTrain } from './commands/train';
import { registerTune } from './commands/tune';
import { registerWorker } from './commands/worker';
import { formatVersion } from '../version';

export function buildProgram(): Command {
  const program = new Command('semrec')
    .description('Semantic recommendation engine: LLM-Rec, Chat-REC and classic baselines on native CPU/CUDA kernels')
    .version(formatVersion(), '-V, --version', 'print the semrec version (and git commit when run from a checkout)')
    .showHelpAfterError()
    .exitOverride()
    // Options after a command's name belong to that command (chat and its subcommands share names).
    .enablePositionalOptions();
  registerChat(program);
  registerData(program);
  registerDemo(program);
  registerDevice(program);
  registerEval(program);
  registerEmbed(program);
  registerExperiment(program);
  registerQuickstart(program);
  registerTrain(program);
  registerRecommend(program);
  registerServe(program);
  registerTune(program);
  registerBatch(program);
  registerWorker(program);
  return program;
}

/** The running command's interruption: set up by main() for the duration of one command. */
let running: AbortController | undefined;

/**
 * Aborted by the first Ctrl-C (work stops at its next safe point); a second Ctrl-C exits at once. Commands
 * that never ask for it keep Node's default (Ctrl-C exits); main() removes the listener when done.
 */
export function interruptSignal(): AbortSignal {
  if (!running) {
    running = new AbortController();
    process.once('SIGINT', onInterrupt);
  }
  return running.signal;
}

function onInterrupt(): void {
  process.stderr.write('\nsemrec: interrupted, stopping (Ctrl-C again to exit immediately)\n');
  running?.abort(new Error('interrupted'));
  process.once('SIGINT', () => process.exit(130));
}

/** Exit status of an error that is not a SemrecError: a bug in semrec (sysexits' EX_SOFTWARE). */
const EXIT_INTERNAL = 70;

/** Runs the command line; resolves to the exit status and never rejects (every failure is reported on stderr). */
export async function main(argv: string[] = process.argv): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (isSemrecError(error)) {
      process.stderr.write(`semrec: ${error.message} [${error.code}]\n`);
      // 3: a batch ended incomplete (scripts resume it); 130: stopped by Ctrl-C.
      return error.code === 'ERR_ABORTED' ? 130 : error.code === 'ERR_BATCH_INCOMPLETE' ? 3 : 1;
    }
    // Every expected failure is a SemrecError; anything else is a bug. Say so once, with the stack
    // for the report, rather than as an unhandled rejection.
    const stack = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`semrec: internal error (please report it): ${stack}\n`);
    return EXIT_INTERNAL;
  } finally {
    process.removeListener('SIGINT', onInterrupt);
    running = undefined;
  }
}

if (require.main === module) {
  // `semrec ... | head` closes our stdout early: that ends the command quietly, not with a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw error;
    });
  }
  main().then((code) => {
    process.exitCode = code;
  });
}
