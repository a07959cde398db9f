/**
 * The shape of the public API: `semrec` gives what applications need, with one name for encoders and
 * one for recommenders; building blocks for tests and converters live in `semrec/internals`; the package
 * exports map both (and nothing deeper).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import * as semrec from '../../ts';
import * as internals from '../../ts/internals';

describe('public API', () => {
  it('keeps internals off the main entry', () => {
    for (const name of ['GraphBuilder', 'tensor', 'attr', 'randomTransformerWeights', 'buildTransformerEncoder', 'L2_GRID', 'modelRegistry', 'ratioCounts', 'HfTokenizer', 'loadHubModel', 'convertTfjsGraph']) {
      assert.ok(!(name in semrec), `'${name}' is exported from semrec`);
      assert.ok(name in internals, `'${name}' is missing from semrec/internals`);
    }
  });

  it("names encoders 'encoder' and recommenders 'model'", () => {
    for (const name of ['createEncoder', 'DEFAULT_ENCODER', 'resolveEncoder', 'ENCODER_CONFIG_FILE', 'createModel', 'loadModel', 'MODEL_NAMES', 'describeParams']) {
      assert.ok(name in semrec, `'${name}' is not exported`);
    }
    for (const name of ['DEFAULT_MODEL', 'resolveModel', 'readModelConfig']) assert.ok(!(name in semrec), `'${name}' is still exported`);
  });

  it('exports the serving, retrieval and evaluation entry points', () => {
    for (const name of ['VectorIndex', 'writeAllRecommendations', 'evaluateFoldIn', 'fingerprintOf', 'semrecVersion', 'MODEL_FORMAT_VERSION']) {
      assert.equal(typeof (semrec as Record<string, unknown>)[name] === 'undefined', false, `'${name}' is not exported`);
    }
  });

  it('package.json maps semrec and semrec/internals to the built files', () => {
    const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8'));
    assert.deepEqual(Object.keys(pkg.exports), ['.', './internals', './package.json']);
    assert.equal(pkg.exports['.'].default, './dist/index.js');
    assert.equal(pkg.exports['./internals'].default, './dist/internals.js');
    assert.equal(pkg.bin.semrec, 'dist/cli/main.js');
  });
});
