// The input pipeline's workers: child processes that make batches (batches.ts), each request split
// across all of them, so N workers make a batch ~N× as fast and the GPU is not kept waiting.
//
// Processes rather than threads: libvips hands every image between its own threads many times, and
// within one process those hand-offs queue on shared locks (two threads of one process decoded
// 1.4× as fast as one; two processes, 2.0×). A worker decodes one image at a time, so --workers N
// uses N cores, and a crash in a decoder fails the pipeline, not the trainer.
//
// A batch's pixels come back through a file in memory (/dev/shm, unlinked at once, one per worker):
// the worker writes its part there and says so; this process reads it straight into the batch on
// libuv's threads. Through Node's IPC channel the same floats cost this thread ~1 ms an image (a
// 64 KiB pipe read at a time, then v8 deserialisation); this way, ~0.1 ms of another thread's time.
// The channel still carries evaluation images (sizes known only once decoded), and batches when
// the file cannot grow (a container's small /dev/shm), which is said once.
import { type ChildProcess, fork } from 'node:child_process';
import { closeSync, existsSync, openSync, read, readSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { DatasetSpec, ImageDataset, RawImage } from '../../data/dataset.js';
import type { AugmentOptions, InputNorm } from '../../data/transforms.js';
import { type Batch, type Job, type JobResult, runJob } from './batches.js';
import { nativeDecoder } from './decode.js';

/** What a worker process is sent first: the datasets to open and the run's seed. */
export interface WorkerSetup {
  specs: DatasetSpec[];
  seed: number;
}

/** The descriptor under which a worker process finds its result file (the stdio slot after the IPC channel). */
export const RESULT_FD = 4;

/**
 * The result file's first bytes: the image the worker is decoding, as Int32 [set, index] ([-1, -1]
 * between jobs), so that a worker that crashes in native code can be told of by the file it was on.
 */
export const RESULT_HEADER_BYTES = 8;

/** A job for a worker process; a batch's pixels go to its result file at byte `resultAt`. */
export interface WorkerRequest {
  job: Job;
  resultAt?: number;
}

/**
 * A worker's answer: a batch's labels (its pixels are in the result file), a result sent whole
 * (`noRoom` says why, when it was meant for the file), or an error.
 */
export type WorkerReply = { labels: Int32Array } | { result: JobResult; noRoom?: string } | { error: string };

/** A worker: its process, its result file, and the requests it holds (at most two). */
interface Worker {
  proc: ChildProcess;
  /** This process's descriptor of the worker's result file. */
  fd: number;
  /** Requests sent and not yet answered, in the order the worker answers them. */
  asked: Pending[];
  /** Requests sent whose answer is not yet fully here (asked, or being read from the file). */
  held: Pending[];
}

interface Pending {
  job: Job;
  /** For batches: where the worker's part goes, and the byte range of the result file it uses. */
  into?: { x: Float32Array; labels: Int32Array; at: number };
  resolve: (r?: JobResult) => void;
  reject: (e: Error) => void;
}

let resultFiles = 0;

/**
 * A new result file, open for reading and writing, in memory where the system has /dev/shm (else
 * in the temporary folder, where the page cache serves as well while it is read at once).
 */
function openResultFile(): { fd: number; path: string } {
  const name = `vggpu-batches-${process.pid}-${++resultFiles}`;
  const folders = existsSync('/dev/shm') ? ['/dev/shm', tmpdir()] : [tmpdir()];
  let failure: unknown;
  for (const folder of folders) {
    const path = join(folder, name);
    try {
      return { fd: openSync(path, 'w+', 0o600), path };
    } catch (e) {
      failure = e;
    }
  }
  throw new Error(
    `input pipeline: cannot create a file for the workers' batches in ${folders.join(' or ')} (${(failure as Error).message}); make one writable (TMPDIR names the last), or use --workers 0`,
  );
}

/**
 * Starts a worker with `fd` as its descriptor RESULT_FD: the worker script beside this module, the
 * .js file when compiled; from source, the .ts file under tsx's loader. Warnings are the parent's
 * to give (once, not once per worker).
 */
function startWorker(fd: number): ChildProcess {
  const js = fileURLToPath(new URL('./batch_worker.js', import.meta.url));
  const stdio: Array<'ignore' | 'inherit' | 'ipc' | number> = ['ignore', 'inherit', 'inherit', 'ipc'];
  stdio[RESULT_FD] = fd;
  const options = { serialization: 'advanced' as const, stdio };
  if (existsSync(js)) return fork(js, [], { ...options, execArgv: ['--no-warnings'] });
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return fork(fileURLToPath(new URL('./batch_worker.ts', import.meta.url)), [], {
    ...options,
    execArgv: ['--no-warnings', '--import', tsx],
  });
}

/** Splits `indices` into at most `parts` contiguous runs of near-equal length. */
function shards(indices: ArrayLike<number>, parts: number): number[][] {
  const n = indices.length;
  const k = Math.max(1, Math.min(parts, n));
  return Array.from({ length: k }, (_, p) =>
    Array.from(Array.prototype.slice.call(indices, Math.floor((p * n) / k), Math.floor(((p + 1) * n) / k)) as number[]),
  );
}

/**
 * Makes batches of one or more datasets (`set` picks one; 0 by default) in `workers` processes
 * (0: on the calling thread), each request split across all of them. A worker that fails (an
 * unreadable file: the error names it) fails the requests it was part of; a worker that dies fails
 * every pending and later request, never leaving one waiting. Idle workers do not keep Node running,
 * and they leave when this process does, however it ends.
 */
export class BatchMaker {
  private sets: ImageDataset[];
  private pool: Worker[] = [];
  private queue: Pending[] = [];
  private broken: Error | null = null;
  private saidNoRoom = false;
  /** Pixel arrays handed back by recycle(), for later batches of their size. */
  private spare: Float32Array[] = [];

  constructor(
    datasets: ImageDataset | ImageDataset[],
    /** Training augmentation for make(); may be set later (once the dataset's statistics are known). */
    public augment: AugmentOptions | null,
    private seed: number,
    workers: number,
  ) {
    this.sets = Array.isArray(datasets) ? datasets : [datasets];
    if (workers > 0) nativeDecoder(); // says so here, once, if the pure-JS decoders must serve
    for (let i = 0; i < workers; i++) {
      const { fd, path } = openResultFile();
      const w: Worker = { proc: startWorker(fd), fd, asked: [], held: [] };
      unlinkSync(path); // both hold it open; it goes when both have closed it
      w.proc.send({ specs: this.sets.map((d) => d.spec), seed } satisfies WorkerSetup);
      w.proc.on('message', (msg: WorkerReply) => this.answer(w, msg));
      const die = (why: string) =>
        this.fail(new Error(`input pipeline: a worker process stopped (${why})${this.lastImage(w)}`));
      w.proc.on('error', (e) => die(e.message));
      w.proc.on(
        'exit',
        (code, signal) => this.pool.includes(w) && die(signal ? `killed by ${signal}` : `exit code ${code}`),
      );
      this.pool.push(w);
    }
    this.pump();
  }

  /** True when batches are made here: no workers asked for (a closed pipeline refuses instead). */
  private get onCallingThread(): boolean {
    return this.pool.length === 0 && !this.broken;
  }

  /** The workers' process ids (for monitoring; none when batches are made on the calling thread). */
  get pids(): number[] {
    return this.pool.map((w) => w.proc.pid!);
  }

  /** The training batch of these images (positions in dataset `set`) for `epoch`. */
  make(indices: ArrayLike<number>, epoch: number, set = 0): Promise<Batch> {
    const aug = this.augment;
    if (!aug)
      return Promise.reject(
        new Error('input pipeline: training batches need augmentation options (BatchMaker.augment)'),
      );
    return this.batch(indices, set, aug.crop, (part) => ({ kind: 'train', set, indices: part, epoch, aug }));
  }

  /** Centre crops of these images at test scale q (validation). */
  centre(indices: ArrayLike<number>, q: number, crop: number, norm: InputNorm, set = 0): Promise<Batch> {
    return this.batch(indices, set, crop, (part) => ({ kind: 'centre', set, indices: part, q, crop, norm }));
  }

  /** These images decoded and, for our own sampling, rescaled to q (the test protocols); as stored when q is null. */
  async images(
    indices: ArrayLike<number>,
    q: number | null,
    norm: InputNorm = { mean: null },
    set = 0,
  ): Promise<RawImage[]> {
    const job = (part: number[]): Job => ({ kind: 'images', set, indices: part, q, norm });
    if (this.onCallingThread) return (await runJob(this.sets, this.seed, job(Array.from(indices)), 1)) as RawImage[];
    const parts = await Promise.all(shards(indices, this.pool.length).map((part) => this.submit(job(part))));
    return (parts as RawImage[][]).flat();
  }

  /** A batch of `crop`² images, its parts made by all workers and read straight into place. */
  private async batch(
    indices: ArrayLike<number>,
    set: number,
    crop: number,
    job: (part: number[]) => Job,
  ): Promise<Batch> {
    if (this.onCallingThread) return (await runJob(this.sets, this.seed, job(Array.from(indices)), 1)) as Batch;
    const per = this.sets[set].channels * crop * crop;
    const length = indices.length * per;
    const k = this.spare.findIndex((a) => a.length === length);
    const x = k >= 0 ? this.spare.splice(k, 1)[0] : new Float32Array(length);
    const labels = new Int32Array(indices.length);
    let start = 0;
    const parts = shards(indices, this.pool.length).map((part) => {
      const into = {
        x: x.subarray(start * per, (start + part.length) * per),
        labels: labels.subarray(start, start + part.length),
        at: 0,
      };
      start += part.length;
      return this.submit(job(part), into);
    });
    await Promise.all(parts);
    return { x, labels };
  }

  /**
   * Hands back a batch whose pixels are no longer needed (uploaded to the GPU), so that a later
   * batch reuses its memory: ~10 MB of fresh pages to fault in and clear each time otherwise, a
   * few % of a core at a GPU's rates. The batch must not be used afterwards.
   */
  recycle(batch: Batch): void {
    if (this.pool.length && this.spare.length < 8) this.spare.push(batch.x);
  }

  private submit(job: Job, into?: Pending['into']): Promise<JobResult | undefined> {
    if (this.broken) return Promise.reject(this.broken);
    return new Promise((resolve, reject) => {
      this.queue.push({ job, into, resolve, reject });
      this.pump();
    });
  }

  /**
   * Gives each worker up to two requests: it starts the second while the first one's pixels are
   * on their way here. A request in flight keeps Node running until its answer comes.
   */
  private pump(): void {
    // Each worker's first request before any worker's second, so that a batch's parts go to
    // different workers and it is ready as soon as can be.
    for (const depth of [1, 2]) {
      for (const w of this.pool) {
        if (w.held.length >= depth || !this.queue.length) continue;
        const p = this.queue.shift()!;
        if (p.into) p.into.at = this.place(w, p.into.x.byteLength);
        w.asked.push(p);
        w.held.push(p);
        w.proc.send({ job: p.job, resultAt: p.into?.at } satisfies WorkerRequest);
      }
    }
    for (const w of this.pool)
      for (const handle of [w.proc, w.proc.channel]) w.held.length ? handle?.ref() : handle?.unref();
  }

  /** Where in worker w's result file (past its header) `bytes` more fit, beside the one range a held request may use. */
  private place(w: Worker, bytes: number): number {
    const other = w.held.find((p) => p.into)?.into;
    if (!other) return RESULT_HEADER_BYTES;
    return bytes <= other.at - RESULT_HEADER_BYTES ? RESULT_HEADER_BYTES : other.at + other.x.byteLength;
  }

  /** ' while decoding FILE …' when worker w's result file says it was decoding one; else ''. */
  private lastImage(w: Worker): string {
    const at = new Int32Array(2);
    try {
      if (readSync(w.fd, at, 0, RESULT_HEADER_BYTES, 0) !== RESULT_HEADER_BYTES) return '';
    } catch {
      return '';
    }
    const [set, i] = at;
    const file = this.sets[set]?.file?.(i);
    return file ? ` while decoding ${file}; if that file is damaged, remove or replace it` : '';
  }

  /** A worker's answer to its oldest request: an error, a batch part in its result file, or a result sent whole. */
  private answer(w: Worker, msg: WorkerReply): void {
    const p = w.asked.shift();
    if (!p) return; // failed or closed meanwhile: the request was rejected already
    const done = (e?: Error, r?: JobResult) => {
      const k = w.held.indexOf(p);
      if (k >= 0) w.held.splice(k, 1); // (gone already if the pipeline failed meanwhile)
      if (e) p.reject(e);
      else p.resolve(r);
      this.pump();
    };
    if ('error' in msg) {
      done(new Error(msg.error));
      return;
    }
    if ('result' in msg) {
      if (msg.noRoom && !this.saidNoRoom) {
        this.saidNoRoom = true;
        process.emitWarning(
          `input pipeline: ${msg.noRoom}; batches come through the IPC channel instead, ~1 ms of the main thread per image (in a container, give it more shared memory: docker run --shm-size=2g)`,
          { code: 'VGGPU_SHM_FULL' },
        );
      }
      if (p.into && 'x' in msg.result) {
        p.into.x.set(msg.result.x);
        p.into.labels.set(msg.result.labels);
        done();
        return;
      }
      done(undefined, msg.result);
      return;
    }
    const into = p.into!;
    into.labels.set(msg.labels);
    const bytes = new Uint8Array(into.x.buffer, into.x.byteOffset, into.x.byteLength);
    read(w.fd, bytes, 0, bytes.length, into.at, (e, n) => {
      if (e || n !== bytes.length)
        done(
          new Error(
            `input pipeline: reading a worker's batch failed (${e ? e.message : `${n} of ${bytes.length} bytes`})`,
          ),
        );
      else done();
    });
  }

  private fail(e: Error): void {
    this.broken ??= e;
    for (const p of [...this.queue, ...this.pool.flatMap((w) => w.held)]) p.reject(this.broken);
    this.queue = [];
    for (const w of this.pool) w.asked.length = w.held.length = 0;
  }

  /** Stops the worker processes; requests still pending fail. */
  async close(): Promise<void> {
    this.fail(new Error('input pipeline closed'));
    const pool = this.pool;
    this.pool = [];
    await Promise.all(
      pool.map(async (w) => {
        if (w.proc.exitCode === null && w.proc.signalCode === null) {
          await new Promise<void>((done) => {
            w.proc.once('exit', () => done());
            w.proc.ref(); // held until it has gone
            w.proc.kill('SIGKILL'); // it holds nothing worth saving, and ignores the Ctrl-C meant for us
          });
        }
        closeSync(w.fd);
      }),
    );
  }
}
