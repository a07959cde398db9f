/**
 * One dataset load in a fresh process, so that its peak RSS is the load's alone (bench/data-load.ts runs
 * it). Prints one JSON line: rows, seconds, peak RSS.
 */
import { loadDataset, type LoadDatasetOptions } from '../ts/data/load';

async function main(): Promise<void> {
  const [format, datasetPath] = process.argv.slice(2);
  const start = process.hrtime.bigint();
  const store = await loadDataset({ format: format as LoadDatasetOptions['format'], path: datasetPath });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const usage = process.resourceUsage();
  process.stdout.write(
    `${JSON.stringify({
      rows: store.load!.rowsRead,
      interactions: store.numInteractions,
      users: store.numUsers,
      items: store.numItems,
      seconds,
      peakRssMiB: usage.maxRSS / 1024,
      heapUsedMiB: process.memoryUsage().heapUsed / 2 ** 20,
    })}\n`,
  );
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
