// A worker process of the input pipeline (batch_maker.ts): opens the datasets it is sent first, then
// runs the jobs it is sent, one at a time, one image at a time (so a worker is one core's work).
// A batch's pixels go to the result file the parent gave it (descriptor RESULT_FD) where the
// parent said; everything else, and a batch the file has no room for, through the IPC channel.
import { writeSync } from 'node:fs';
import type { ImageDataset } from '../../data/dataset.js';
import {
  RESULT_FD,
  RESULT_HEADER_BYTES,
  type WorkerReply,
  type WorkerRequest,
  type WorkerSetup,
} from './batch_maker.js';
import { runJob } from './batches.js';
import { openSpec } from './open.js';

// Ctrl-C and SIGTERM reach the whole process group; the parent decides when its workers stop.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
process.on('disconnect', () => process.exit(0)); // the parent is gone, however it ended

/** Says in the result file's header which image is being decoded ([-1, -1]: none); best effort. */
function decoding(set: number, i: number): void {
  try {
    writeSync(RESULT_FD, new Int32Array([set, i]), 0, RESULT_HEADER_BYTES, 0);
  } catch {
    // A crash would then name no file: no reason to fail the image.
  }
}

/** Dataset `set`, saying which image it is decoding before each one (for a crash in native code). */
function announcing(ds: ImageDataset, set: number): ImageDataset {
  const load = ds.load?.bind(ds);
  if (!load) return ds; // in memory: nothing native to crash in
  return {
    name: ds.name,
    length: ds.length,
    channels: ds.channels,
    classNames: ds.classNames,
    spec: ds.spec,
    image: (i) => ds.image(i),
    label: (i) => ds.label(i),
    load: (i, smallestSide, window) => {
      decoding(set, i);
      return load(i, smallestSide, window);
    },
  };
}

let setup: Promise<{ sets: ImageDataset[]; seed: number }> | null = null;
let done: Promise<void> = Promise.resolve();
const reply = (r: WorkerReply) => void process.send!(r);

// A batch's pixels are written to the result file straight away, so one array serves every job
// (a fresh one would be ~10 MB of new pages to fault in and clear each time).
let scratch = new Float32Array(0);
/** Why the result file had no room, once it had none: later batches go whole through the channel. */
let noRoom: string | undefined;
const reuse = (length: number) => {
  if (scratch.length < length) scratch = new Float32Array(length);
  return scratch.subarray(0, length);
};

async function serve({ job, resultAt }: WorkerRequest): Promise<WorkerReply> {
  const { sets, seed } = await setup!;
  let result: Awaited<ReturnType<typeof runJob>>;
  try {
    result = await runJob(sets, seed, job, 0, resultAt === undefined ? undefined : reuse);
  } finally {
    decoding(-1, -1);
  }
  if (resultAt === undefined || !('x' in result)) return { result };
  if (noRoom) return { result, noRoom }; // not written again only to fail again
  try {
    const written = writeSync(RESULT_FD, result.x, 0, result.x.byteLength, resultAt);
    if (written !== result.x.byteLength) throw new Error(`${written} of ${result.x.byteLength} bytes written`);
  } catch (e) {
    noRoom = `the shared-memory file for batches could not grow to ${((resultAt + result.x.byteLength) / 2 ** 20).toFixed(1)} MiB (${(e as Error).message})`;
    return { result, noRoom };
  }
  return { labels: result.labels };
}

process.on('message', (msg: WorkerSetup | WorkerRequest) => {
  if (!setup) {
    const { specs, seed } = msg as WorkerSetup;
    setup = Promise.resolve().then(() => ({ sets: specs.map((spec, k) => announcing(openSpec(spec), k)), seed }));
    setup.catch(() => {}); // answered to each job
    return;
  }
  // Jobs run one after another, in the order they came, whatever they await.
  done = done.then(() => serve(msg as WorkerRequest).then(reply, (e: Error) => reply({ error: e.message })));
});
