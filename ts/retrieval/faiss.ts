/** The one place faiss-node is loaded (after choosing OpenMP's wait policy: see ts/native/openmp.ts). */
import { preferSleepingOpenMpThreads } from '../native/openmp';

preferSleepingOpenMpThreads();
// eslint-disable-next-line @typescript-eslint/no-require-imports
const faiss = require('faiss-node') as typeof import('faiss-node');

export default faiss;
