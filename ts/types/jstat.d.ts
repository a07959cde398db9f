/** The part of jStat (https://github.com/jstat/jstat, no bundled types) that ts/eval/statistics.ts and ts/tuning/tpe.ts use. */
declare module 'jstat' {
  interface Distribution {
    cdf(x: number, ...params: number[]): number;
    pdf(x: number, ...params: number[]): number;
    inv(p: number, ...params: number[]): number;
  }
  const jStat: {
    studentt: Distribution;
    normal: Distribution;
  };
  export default jStat;
}
