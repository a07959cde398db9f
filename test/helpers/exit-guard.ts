/**
 * Loaded by .mocharc before every run. If the process ends with code 0 before mocha has finished (code
 * under test calling process.exit(0), or Node leaving an event loop that holds only a promise which can
 * never settle), the run would look green while the remaining test files never ran. This turns such an
 * exit into a failure that says so (verified with a test that calls process.exit(0)).
 */
let finished = false;

export const mochaHooks = {
  afterAll(): void {
    finished = true;
  },
};

process.on('exit', (code) => {
  if (!finished && code === 0) {
    process.stderr.write(
      '\nsemrec tests: the process is exiting with code 0 before mocha finished the run (process.exit(0) from code ' +
        'under test, or an event loop left empty by a promise that can never settle); the remaining tests did not ' +
        'run. Failing the run.\n',
    );
    process.exitCode = 1;
  }
});
