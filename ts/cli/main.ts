#!/usr/bin/env node
/**
 * The `semrec` command line: a thin layer over the public API. Each command lives in
 * ts/cli/commands/<name>.ts and registers itself on the program.
 */
import { Command, CommanderError } from 'commander';

import { isSemrecError } from '../errors';
import { registerChat } from './commands/chat';
import { registerData } from './commands/data';
import { registerDemo } from './commands/demo';
import { registerDevice } from './commands/device';
import { registerEval } from './commands/eval';
import { registerEmbed } from './commands/embed';
import { registerExperiment } from './commands/experiment';
import { registerRecommend } from './commands/recommend';
import { registerServe } from './commands/serve';
import { registerTrain } from './commands/train';
import { registerTune } from './commands/tune';
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
  registerTrain(program);
  registerRecommend(program);
  registerServe(program);
  registerTune(program);
  return program;
}

/** Aborted by the first Ctrl-C (work stops at its next safe point); a second Ctrl-C exits at once. */
export function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  process.once('SIGINT', () => {
    process.stderr.write('\nsemrec: interrupted, stopping (Ctrl-C again to exit immediately)\n');
    controller.abort(new Error('interrupted'));
    process.once('SIGINT', () => process.exit(130));
  });
  return controller.signal;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (isSemrecError(error)) {
      process.stderr.write(`semrec: ${error.message} [${error.code}]\n`);
      return error.code === 'ERR_ABORTED' ? 130 : 1;
    }
    throw error;
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
