/** Seeded parameter initialisation shared by the models. */
import type { Random } from '../util/random';

/** n values from N(0, std^2). */
export function gaussian(rng: Random, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal() * std;
  return out;
}

/** n values uniform in [-bound, bound). */
export function uniform(rng: Random, n: number, bound: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng.float() * 2 - 1) * bound;
  return out;
}

/** Glorot & Bengio (2010) normal initialisation of a fanOut x fanIn weight matrix. */
export function xavierNormal(rng: Random, fanIn: number, fanOut: number): Float32Array {
  return gaussian(rng, fanIn * fanOut, Math.sqrt(2 / (fanIn + fanOut)));
}
