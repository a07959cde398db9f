/**
 * Figures without a browser: a Vega-Lite spec is compiled to Vega (vega-lite), rendered to SVG by a
 * headless Vega view, and rasterised to PNG by resvg (@resvg/resvg-js, a prebuilt binary shipped inside
 * its npm package). Both files are written atomically. vega 6 is an ES module with top-level await, so it
 * is loaded with a dynamic import (kept as import() by the node16 module setting), once.
 */
import { SemrecError } from '../errors';
import { writeFileAtomically } from '../util/fs';

/** A Vega-Lite (v6) specification; its data inline (`data.values`). */
export type VegaLiteSpec = Record<string, unknown>;

export interface RenderedFigure {
  svg: string;
  png: Uint8Array;
  width: number;
  height: number;
}

/** PNG pixels per SVG pixel: 2 keeps text sharp on high-density screens and in README. */
export const PNG_SCALE = 2;

/** The defaults every semrec figure shares: white background, readable fonts, padding. */
const BASE_CONFIG = {
  background: 'white',
  padding: 12,
  font: 'DejaVu Sans, Arial, sans-serif',
  axis: { labelFontSize: 11, titleFontSize: 12, gridOpacity: 0.6 },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 320 },
  title: { fontSize: 14, anchor: 'start' },
};

type Vega = typeof import('vega', { with: { 'resolution-mode': 'import' } });
type VegaLite = typeof import('vega-lite', { with: { 'resolution-mode': 'import' } });
let modules: Promise<{ vega: Vega; vegaLite: VegaLite; resvg: typeof import('@resvg/resvg-js') }> | undefined;

function load() {
  modules ??= Promise.all([import('vega'), import('vega-lite'), import('@resvg/resvg-js')]).then(([vega, vegaLite, resvg]) => ({
    vega,
    vegaLite,
    resvg,
  }));
  return modules;
}

/** Renders a Vega-Lite spec to SVG text and PNG bytes. */
export async function renderVegaLite(spec: VegaLiteSpec): Promise<RenderedFigure> {
  const { vega, vegaLite, resvg } = await load();
  let svg: string;
  try {
    const withConfig = { ...spec, config: { ...BASE_CONFIG, ...((spec.config as object | undefined) ?? {}) } };
    const compiled = vegaLite.compile(withConfig as never).spec;
    const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
    svg = await view.toSVG();
    view.finalize();
  } catch (cause) {
    throw new SemrecError(`plot: the Vega-Lite spec cannot be rendered: ${(cause as Error).message}`, 'ERR_INVALID_ARG_VALUE', { cause });
  }
  const rendered = new resvg.Resvg(svg, { fitTo: { mode: 'zoom', value: PNG_SCALE }, font: { loadSystemFonts: true } }).render();
  return { svg, png: rendered.asPng(), width: rendered.width, height: rendered.height };
}

/** Renders `spec` and writes `<base>.svg` and `<base>.png`; returns their paths. */
export async function writeFigure(spec: VegaLiteSpec, base: string): Promise<{ svg: string; png: string; width: number; height: number }> {
  const figure = await renderVegaLite(spec);
  await writeFileAtomically(`${base}.svg`, figure.svg);
  await writeFileAtomically(`${base}.png`, figure.png);
  return { svg: `${base}.svg`, png: `${base}.png`, width: figure.width, height: figure.height };
}
