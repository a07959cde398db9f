/** `semrec device`: what the native engine can run on. */
import type { Command } from 'commander';

import { deviceInfo } from '../../native/device';

export function registerDevice(program: Command): void {
  program
    .command('device')
    .description('show the native engine build, CPU threads and CUDA devices')
    .option('--json', 'print one JSON object')
    .action((options: { json?: boolean }) => {
      const info = deviceInfo();
      if (options.json) {
        process.stdout.write(`${JSON.stringify(info)}\n`);
        return;
      }
      process.stdout.write(`CPU threads: ${info.numThreads} of ${info.cpuThreads}\n`);
      process.stdout.write(`CUDA kernels: ${info.cudaCompiled ? 'compiled' : 'not compiled (CPU-only build)'}\n`);
      if (info.cudaAvailable) {
        for (const g of info.gpus) {
          process.stdout.write(
            `GPU ${g.index}: ${g.name}, ${(g.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB, compute ${g.computeCapability}\n`,
          );
        }
      } else {
        process.stdout.write(`CUDA: unavailable (${info.reason}); device 'auto' runs on the CPU\n`);
      }
    });
}
