/** What the native engine can run on, and how many CPU threads it uses. */
import { addon, type RawDeviceInfo } from './addon';
import { checkInteger } from '../kernels/validate';

export type DeviceInfo = RawDeviceInfo;

/**
 * CUDA availability, GPU names and memory, CPU threads. Never throws for a missing GPU or driver:
 * `cudaAvailable` is false and `reason` says why ('auto' then runs on the CPU; 'cuda' throws
 * ERR_CUDA_UNAVAILABLE).
 */
export function deviceInfo(): DeviceInfo {
  return addon().deviceInfo();
}

/** CPU worker threads for native ops started from this thread (default: all hardware threads). */
export function setNumThreads(numThreads: number): void {
  addon().setNumThreads(checkInteger(numThreads, 'setNumThreads: numThreads', 1, 1024));
}
