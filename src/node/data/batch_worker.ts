// Worker thread of the input pipeline: reopens the dataset from its spec and runs the jobs it is
// sent (batches.ts), one at a time, handing the pixel buffers back without copying them.
import { parentPort, workerData } from 'node:worker_threads';
import { type Job, runJob } from './batches.js';
import { openSpec } from './open.js';

const { spec, aug, seed } = workerData;
const ds = openSpec(spec);
parentPort!.on('message', (job: Job) => {
  runJob(ds, aug, seed, job).then(
    (result) => {
      if (Array.isArray(result)) {
        // In-memory datasets hand out views of one big buffer (or Node Buffers, whose slice() is
        // a view too): send copies of those.
        const own = result.map((img) => (img.data.byteLength === img.data.buffer.byteLength && !Buffer.isBuffer(img.data) ? img : { ...img, data: new Uint8Array(img.data) }));
        parentPort!.postMessage({ result: own }, own.map((img) => img.data.buffer as ArrayBuffer));
      } else parentPort!.postMessage({ result }, [result.x.buffer as ArrayBuffer, result.labels.buffer as ArrayBuffer]);
    },
    (e: Error) => parentPort!.postMessage({ error: e.message }),
  );
});
