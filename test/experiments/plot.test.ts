/** Figures rendered without a browser: Vega-Lite -> SVG -> PNG, written atomically, bad specs refused. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { PNG_SCALE, renderVegaLite, writeFigure } from '../../ts/experiments/plot';
import { useTempDirs } from '../helpers/tempdir';

const LINES = {
  title: 'epoch time against interactions',
  width: 300,
  height: 200,
  data: { values: [1, 10, 100].flatMap((x) => [{ x, y: x * 2, model: 'bpr' }, { x, y: x * 5, model: 'llmrec' }]) },
  mark: { type: 'line', point: true },
  encoding: {
    x: { field: 'x', type: 'quantitative', scale: { type: 'log' } },
    y: { field: 'y', type: 'quantitative', scale: { type: 'log' } },
    color: { field: 'model', type: 'nominal' },
  },
};

/** Width and height from a PNG's IHDR chunk. */
function pngSize(png: Uint8Array): { width: number; height: number } {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

describe('experiments/plot', function () {
  this.timeout(60_000);
  const tempDir = useTempDirs('semrec-plot-');

  it('renders a Vega-Lite spec to an SVG with its marks and title, and a PNG at PNG_SCALE times its size', async () => {
    const figure = await renderVegaLite(LINES);
    assert.match(figure.svg, /^<svg/);
    assert.match(figure.svg, /epoch time against interactions/);
    assert.match(figure.svg, /llmrec/);
    assert.equal((figure.svg.match(/class="mark-line/g) ?? []).length >= 1, true);
    assert.deepEqual([...figure.png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const svgWidth = Number(/<svg[^>]* width="(\d+(?:\.\d+)?)"/.exec(figure.svg)![1]);
    assert.deepEqual(pngSize(figure.png), { width: figure.width, height: figure.height });
    assert.equal(figure.width, Math.round(svgWidth * PNG_SCALE));
  });

  it('draws the data: the PNG is not a blank canvas', async () => {
    const { png } = await renderVegaLite(LINES);
    // Compressed size grows with content: an empty white canvas of this size compresses to ~1 kB.
    assert.ok(png.length > 10_000, `PNG of ${png.length} bytes`);
  });

  it('writes <base>.svg and <base>.png', async () => {
    const base = path.join(tempDir(), 'fig');
    const written = await writeFigure(LINES, base);
    assert.equal(written.svg, `${base}.svg`);
    assert.ok(fs.readFileSync(`${base}.svg`, 'utf8').startsWith('<svg'));
    assert.equal(fs.readFileSync(`${base}.png`).subarray(1, 4).toString(), 'PNG');
  });

  it('refuses a spec Vega-Lite cannot compile, with a coded error', async () => {
    await assert.rejects(renderVegaLite({ mark: 'no-such-mark', data: { values: [] } }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_INVALID_ARG_VALUE');
      assert.match(e.message, /plot: the Vega-Lite spec cannot be rendered/);
      return true;
    });
  });
});
