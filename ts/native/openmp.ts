/**
 * OpenMP's idle threads spin by default. Both native libraries semrec loads pull in libgomp (the addon
 * and faiss-node), and on a machine shared with other work spinning made faiss's exact search ten times
 * slower than the same search on one thread (bench/retrieval.ts, busy 2-core machine). Unless the
 * caller chose a policy, idle OpenMP threads sleep instead, as semrec's onnxruntime sessions do unless
 * `spinThreads`. libgomp reads the setting when it is first loaded, so every native loader calls this
 * before its require(); once OpenMP is loaded, later changes have no effect.
 */
export function preferSleepingOpenMpThreads(): void {
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
}
