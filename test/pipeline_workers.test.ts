// The input pipeline's worker processes: what happens when one dies, when the shared-memory file
// for batches cannot grow, and when their parent goes; and the image-size reader that spares
// libvips a second look at each file.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { BatchMaker } from '../src/node/data/batch_maker.js';
import { epochOrder } from '../src/node/data/batches.js';
import { storedSize } from '../src/node/data/decode.js';
import { ImageFolderDataset } from '../src/node/data/image_folder.js';
import type { AugmentOptions } from '../src/data/transforms.js';
import { writeImageFolder } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'vggpu-workers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const stats = {
  mean: [0.4, 0.5, 0.6],
  eigenvalues: [0.2, 0.05, 0.01],
  eigenvectors: [
    [0.58, 0.58, 0.58],
    [0.7, 0, -0.7],
    [0.4, -0.8, 0.4],
  ],
};
const aug: AugmentOptions = { crop: 32, scale: [36, 48], flip: true, colorShift: 0.1, subtractMean: true, stats };
const root = join(dir, 'folder');
writeImageFolder(root, ['ant', 'bee', 'cow'], 6);

/** True while a process with this id exists. */
const alive = (pid: number) =>
  existsSync(`/proc/${pid}`) &&
  !/^State:\s+Z/m.test(execFileSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' }));

async function gone(pids: number[], ms = 10_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!pids.some(alive)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

describe('input pipeline worker processes', () => {
  it('a worker that dies fails the pending and later requests, naming how it stopped; none is left waiting', async () => {
    const ds = new ImageFolderDataset(root, 'train');
    const maker = new BatchMaker(ds, aug, 2, 2);
    const all = Array.from({ length: ds.length }, (_, i) => i);
    expect((await maker.make(all, 0)).labels.length).toBe(ds.length);
    const [victim] = maker.pids;
    const pending = maker.make(all, 1);
    process.kill(victim, 'SIGKILL');
    await expect(pending).rejects.toThrowError(/input pipeline: a worker process stopped \(killed by SIGKILL\)/);
    await expect(maker.centre([0, 1], 40, 32, { mean: null })).rejects.toThrowError(/killed by SIGKILL/);
    await maker.close();
    expect(await gone(maker.pids)).toBe(true);
  });

  it.runIf(process.platform === 'linux')('a worker that dies while decoding an image names its file', async () => {
    const folder = join(dir, 'stuck');
    writeImageFolder(folder, ['a', 'b'], 2);
    // A FIFO named like a JPEG: reading it waits for a writer, so the worker is caught mid-decode.
    const fifo = join(folder, 'a', 'zz-stuck.jpg');
    execFileSync('mkfifo', [fifo]);
    const ds = new ImageFolderDataset(folder, 'train');
    const maker = new BatchMaker(ds, aug, 1, 1);
    const stuck = Array.from({ length: ds.length }, (_, j) => j).find((j) => ds.file(j) === fifo)!;
    const pending = maker.make([(stuck + 1) % ds.length, stuck], 0);
    pending.catch(() => {});
    // A writer's non-blocking open succeeds once the worker has the FIFO open for reading.
    let writer = -1;
    for (const until = Date.now() + 20_000; writer < 0 && Date.now() < until; ) {
      try {
        writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    expect(writer).toBeGreaterThanOrEqual(0);
    process.kill(maker.pids[0], 'SIGKILL');
    await expect(pending).rejects.toThrowError(
      /a worker process stopped \(killed by SIGKILL\) while decoding .*a\/zz-stuck\.jpg; if that file is damaged, remove or replace it/,
    );
    closeSync(writer);
    await maker.close();
  });

  it('a recycled batch lends its memory to the next batch of its size, which comes out the same', async () => {
    const ds = new ImageFolderDataset(root, 'train');
    const maker = new BatchMaker(ds, aug, 3, 2);
    try {
      const first = await maker.make([0, 1, 2, 3, 4], 0);
      const bytes = Buffer.from(first.x.slice().buffer);
      maker.recycle(first);
      const other = await maker.make([5, 6, 7], 0); // another size: a new array
      expect(other.x.buffer).not.toBe(first.x.buffer);
      const again = await maker.make([0, 1, 2, 3, 4], 0);
      expect(again.x.buffer).toBe(first.x.buffer);
      expect(Buffer.from(again.x.buffer).equals(bytes)).toBe(true);
    } finally {
      await maker.close();
    }
  });

  it.runIf(process.platform === 'linux' && existsSync('/usr/bin/prlimit'))(
    'a batch the shared-memory file has no room for comes whole through the IPC channel, the same bytes, said once',
    async () => {
      const ds = new ImageFolderDataset(root, 'train');
      const order = epochOrder(ds.length, 5, 0);
      const local = new BatchMaker(ds, aug, 5, 0);
      const expected = [await local.make(order.subarray(0, 9), 0), await local.make(order.subarray(9, 18), 0)];
      const maker = new BatchMaker(ds, aug, 5, 1);
      await maker.make(order.subarray(0, 2), 0); // started
      // Writes past 1000 bytes now fail for the worker (as on a full /dev/shm).
      execFileSync('prlimit', ['--pid', String(maker.pids[0]), '--fsize=1000']);
      const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
      try {
        const got = [await maker.make(order.subarray(0, 9), 0), await maker.make(order.subarray(9, 18), 0)];
        for (const [k, b] of got.entries()) {
          expect(Buffer.from(b.x.buffer).equals(Buffer.from(expected[k].x.buffer))).toBe(true);
          expect(Array.from(b.labels)).toEqual(Array.from(expected[k].labels));
        }
        expect(warn).toHaveBeenCalledTimes(1);
        expect(String(warn.mock.calls[0][0])).toMatch(
          /shared-memory file for batches could not grow to 0\.1 MiB .*IPC channel instead.*--shm-size/,
        );
      } finally {
        warn.mockRestore();
        await maker.close();
      }
    },
  );

  it('idle workers do not keep Node running, and leave with their parent however it ends', async () => {
    const script = join(dir, 'parent.mts');
    const maker = JSON.stringify(new URL('../src/node/data/batch_maker.ts', import.meta.url).href);
    const folder = JSON.stringify(new URL('../src/node/data/image_folder.ts', import.meta.url).href);
    writeFileSync(
      script,
      `const { BatchMaker } = await import(${maker});
const { ImageFolderDataset } = await import(${folder});
const m = new BatchMaker(new ImageFolderDataset(${JSON.stringify(root)}, 'train'), ${JSON.stringify(aug)}, 1, 2);
await m.make([0, 1, 2, 3], 0);
console.log(JSON.stringify(m.pids));
if (process.argv[2] === 'hang') setInterval(() => {}, 1000);
`,
    );
    const run = (mode: string) =>
      new Promise<{ pids: number[]; code: number | null; signal: string | null }>((resolve) => {
        const p = spawn(process.execPath, ['--import', 'tsx', script, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        p.stdout.on('data', (d) => {
          out += d;
          if (mode === 'hang' && out.includes(']')) p.kill('SIGKILL');
        });
        p.on('exit', (code, signal) => resolve({ pids: JSON.parse(out.trim()), code, signal }));
      });
    // Not closed: the process still ends by itself once its work is done, and the workers go too.
    const ended = await run('end');
    expect(ended.code).toBe(0);
    expect(ended.pids).toHaveLength(2);
    expect(await gone(ended.pids)).toBe(true);
    // Killed outright (no handler runs): the workers see the channel close and leave.
    const killed = await run('hang');
    expect(killed.signal).toBe('SIGKILL');
    expect(await gone(killed.pids)).toBe(true);
  }, 60_000);
});

describe('image sizes from file headers', () => {
  it('agree with libvips for PNG, baseline and progressive JPEG, and JPEG with EXIF; anything else is left to libvips', async () => {
    const raw = Buffer.alloc(37 * 23 * 3, 90);
    const image = () => sharp(raw, { raw: { width: 37, height: 23, channels: 3 } });
    const files = [
      await image().png().toBuffer(),
      await image().jpeg({ quality: 80 }).toBuffer(),
      await image().jpeg({ progressive: true }).toBuffer(),
      await image().jpeg().withMetadata({ orientation: 6, density: 300 }).toBuffer(),
      await image().jpeg({ mozjpeg: true }).toBuffer(),
    ];
    for (const bytes of files) {
      const meta = await sharp(bytes).metadata();
      expect(storedSize(bytes)).toEqual({ width: meta.width, height: meta.height });
      expect(storedSize(bytes)).toEqual({ width: 37, height: 23 });
    }
    expect(storedSize(await image().webp().toBuffer())).toBeNull();
    expect(storedSize(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]))).toBeNull(); // cut before its frame header
    expect(storedSize(Buffer.from('not an image at all'))).toBeNull();
  });
});
