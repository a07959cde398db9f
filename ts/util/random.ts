/**
 * Seeded randomness for everything that must be reproducible (splits, samplers, initialisation,
 * synthetic data, demos): a xoroshiro128+ stream from pure-rand with unbiased integer draws.
 */
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

export class Random {
  private readonly rng: RandomGenerator;
  private spareNormal: number | undefined;

  constructor(seed: number) {
    this.rng = xoroshiro128plus(seed | 0);
  }

  /** Integer uniform in [from, to], both included. */
  int(from: number, to: number): number {
    return uniformInt(this.rng, from, to);
  }

  /** Float uniform in [0, 1). */
  float(): number {
    return uniformFloat64(this.rng);
  }

  /** Standard normal (Box-Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.spareNormal !== undefined) {
      const v = this.spareNormal;
      this.spareNormal = undefined;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.float();
    const v = this.float();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fisher-Yates shuffle, in place. */
  shuffle<T>(array: T[] | Int32Array | Float32Array): typeof array {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      const t = array[i];
      array[i] = array[j];
      array[j] = t;
    }
    return array;
  }

  /** An independent stream derived from this one and a label (e.g. one per user or per epoch). */
  fork(label: number): Random {
    return new Random((this.rng.next() ^ Math.imul(label + 1, 0x9e3779b1)) | 0);
  }
}
