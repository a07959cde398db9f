/**
 * LLM-Rec's CUDA kernels (cuda/fusion.cu, cuda/adapter.cu) against their CPU twins through the public
 * wrappers. Pending (not passed) without a usable GPU; the same parity cases run in the Node-free native
 * test program (native/tests), which native/gpu-check.sh runs on GPU machines without Node.
 *
 * Tolerances: the GPU sums the same terms in the same order where the CPU trainer fixes one, but its
 * GEMMs and FMA contraction round differently: 1e-4 of the largest value for one gradient, 1e-3 after an
 * epoch of Adam steps (each step's size is lr whatever the gradient's rounding).
 */
import { deviceInfo } from '../../ts';
import { adapterEpoch, adapterGradient, adapterLayout } from '../../ts/kernels/adapter';
import { fusionEpoch, fusionGradient, fusionLayout, fusionVectors, type FusionMode } from '../../ts/kernels/fusion';
import { assertAllClose, gaussianArray } from '../helpers/assert';
import { freshSeed, Random } from '../helpers/random';

describe('LLM-Rec CUDA parity @gpu', function () {
  before(function () {
    const info = deviceInfo();
    if (!info.cudaAvailable) {
      this.test!.parent!.title += ` (pending: ${info.cudaCompiled ? info.reason : 'CPU-only build'})`;
      this.skip();
    }
  });

  const seed = freshSeed();
  const rng = new Random(seed);

  for (const mode of ['early', 'late', 'hybrid'] as FusionMode[]) {
    it(`fusionGradient and fusionEpoch on the GPU match the CPU (${mode})`, async () => {
      const shape = { numUsers: 50, numItems: 120, collabDim: 16, semDim: 12, lateDim: 8, mode };
      const L = fusionLayout(shape);
      const params = gaussianArray(rng, L.total, 0.3);
      const inputs = { itemSem: gaussianArray(rng, 120 * 12, 1), userSem: gaussianArray(rng, 50 * 12, 1), userWeight: Float32Array.from({ length: 50 }, () => 3) };
      const n = 300;
      const users = Int32Array.from({ length: n }, () => rng.int(0, 49));
      const samples = {
        users,
        pos: Int32Array.from({ length: n }, () => rng.int(0, 119)),
        neg: Int32Array.from({ length: n * 4 }, () => rng.int(0, 119)),
        negatives: 4,
        pairWeight: Float32Array.from({ length: n }, () => rng.float()),
      };
      const h = { loss: 'hinge' as const, margin: 0.5, reg: 0.01, dropout: 0.1, seed: 5 };
      const cpu = await fusionGradient({ ...shape, ...inputs, params, samples, ...h, device: 'cpu' });
      const gpu = await fusionGradient({ ...shape, ...inputs, params, samples, ...h, device: 'cuda' });
      assertAllClose(gpu.grad, cpu.grad, `gradient (seed ${seed})`, 1e-4);
      const run = async (device: 'cpu' | 'cuda') => {
        const state = { params: params.slice(), adamM: new Float32Array(L.total), adamV: new Float32Array(L.total) };
        await fusionEpoch({ ...shape, ...inputs, ...state, step: 0, samples, ...h, lr: 0.01, weightDecay: 0.01, batchSize: 64, device, numThreads: 1 });
        return state.params;
      };
      assertAllClose(await run('cuda'), await run('cpu'), `parameters after an epoch (seed ${seed})`, 1e-3);
      const v = { ...shape, params, itemSem: inputs.itemSem, users, userSem: gaussianArray(rng, n * 12, 1) };
      const vc = await fusionVectors({ ...v, device: 'cpu' });
      const vg = await fusionVectors({ ...v, device: 'cuda' });
      assertAllClose(vg.users, vc.users, 'fused users', 1e-5);
      assertAllClose(vg.items!, vc.items!, 'fused items', 1e-5);
    });
  }

  it('adapterGradient and adapterEpoch on the GPU match the CPU', async () => {
    const shape = { inDim: 64, outDim: 16, experts: 3 };
    const L = adapterLayout(shape);
    const params = gaussianArray(rng, L.total, 0.1);
    const vectors = gaussianArray(rng, 200 * 64, 1);
    const viewA = Int32Array.from({ length: 100 }, (_, p) => 2 * p);
    const viewB = Int32Array.from({ length: 100 }, (_, p) => 2 * p + 1);
    const h = { temperature: 0.07, dropout: 0.1, seed: 2 };
    const cpu = await adapterGradient({ ...shape, params, vectors, viewA, viewB, ...h, device: 'cpu' });
    const gpu = await adapterGradient({ ...shape, params, vectors, viewA, viewB, ...h, device: 'cuda' });
    assertAllClose(gpu.grad, cpu.grad, `adapter gradient (seed ${seed})`, 1e-4);
    const run = async (device: 'cpu' | 'cuda') => {
      const state = { params: params.slice(), adamM: new Float32Array(L.total), adamV: new Float32Array(L.total) };
      await adapterEpoch({ ...shape, ...state, step: 0, vectors, viewA, viewB, ...h, lr: 1e-3, batchSize: 32, device });
      return state.params;
    };
    assertAllClose(await run('cuda'), await run('cpu'), `adapter after an epoch (seed ${seed})`, 1e-3);
  });
});
