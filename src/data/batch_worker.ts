// Worker thread: reopens the dataset from its spec and makes augmented batches on request.
import { parentPort, workerData } from 'node:worker_threads';
import { makeBatch } from './batches.js';
import { openSpec } from './open.js';

const { spec, aug, seed } = workerData;
const ds = openSpec(spec);
parentPort!.on('message', (job: { indices: number[]; epoch: number }) => {
  try {
    const b = makeBatch(ds, job.indices, aug, seed, job.epoch);
    parentPort!.postMessage({ x: b.x, labels: b.labels }, [b.x.buffer as ArrayBuffer, b.labels.buffer as ArrayBuffer]);
  } catch (e) {
    parentPort!.postMessage({ error: (e as Error).message });
  }
});
