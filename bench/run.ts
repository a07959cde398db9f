/**
 * `npm run bench [-- --quick] [-- --suite kernels,...]`: runs the benchmark suites and merges their
 * results into bench/results/<machine>-<date>.json (see harness.ts). Quick runs use small sizes and
 * write <machine>-<date>-quick.json, which is not committed.
 */
import { type Suite, writeSuiteResults } from './harness';
import { dataLoadSuite } from './data-load';
import { kernelSuite } from './kernels';
import { modelSuite } from './models';
import { recboleGeneratedSuite, recboleSuite } from './recbole';
import { retrievalSuite } from './retrieval';
import { semanticSuite } from './semantic';

const SUITES: Suite[] = [kernelSuite, dataLoadSuite, modelSuite, semanticSuite, retrievalSuite, recboleSuite, recboleGeneratedSuite];

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const suiteArg = argv.indexOf('--suite');
  const wanted = suiteArg >= 0 ? argv[suiteArg + 1].split(',') : SUITES.map((s) => s.name);
  const unknown = wanted.filter((w) => !SUITES.some((s) => s.name === w));
  if (unknown.length) throw new Error(`unknown suite(s) ${unknown.join(', ')}; known: ${SUITES.map((s) => s.name).join(', ')}`);
  for (const suite of SUITES.filter((s) => wanted.includes(s.name))) {
    console.log(`\n== ${suite.name}: ${suite.description}${quick ? ' (quick)' : ''}`);
    // A run limited to some models (SEMREC_BENCH_MODELS) gets its own key beside the suite's full figures.
    const models = process.env.SEMREC_BENCH_MODELS;
    const key = models ? `${suite.name} (${models})` : suite.name;
    const results = await suite.run({
      quick,
      log: (line) => console.log(line),
      checkpoint: async (partial) => {
        await writeSuiteResults(key, { incomplete: true, ...partial }, quick);
      },
    });
    console.log(`-> ${await writeSuiteResults(key, results, quick)}`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
