// Using one kernel directly: a matrix product on the GPU, checked against the CPU and timed.
//   npx tsx examples/gemm.ts [n]
import { engine, init, matmul, Tensor } from 'vggpu';

const n = Number(process.argv[2] ?? 512);
await init();
console.log(`adapter: ${engine().rt.describe()}`);
const a = Float32Array.from({ length: n * n }, (_, i) => Math.sin(i));
const b = Float32Array.from({ length: n * n }, (_, i) => Math.cos(i));
const A = Tensor.from(a, [n, n]);
const B = Tensor.from(b, [n, n]);

const warm = matmul(A, B); // the first launch compiles the pipeline
const c = await warm.toArray();
let worst = 0;
for (const [i, j] of [
  [0, 0],
  [n - 1, n - 1],
  [n >> 1, 7 % n],
  [3 % n, n - 2],
]) {
  let s = 0;
  for (let k = 0; k < n; k++) s += a[i * n + k] * b[k * n + j];
  worst = Math.max(worst, Math.abs(s - c[i * n + j]));
}
console.log(`C = A·B for ${n}×${n}: max |GPU − CPU| over sampled entries = ${worst.toExponential(2)}`);

const reps = 5;
const t0 = performance.now();
for (let r = 0; r < reps; r++) matmul(A, B).dispose();
await engine().rt.sync();
const ms = (performance.now() - t0) / reps;
console.log(`${ms.toFixed(1)} ms per product, ${((2 * n ** 3) / ms / 1e6).toFixed(2)} GFLOPS`);
process.exit(worst < 1e-2 ? 0 : 1);
