// Image files for the input pipeline: decoded (and, where asked, isotropically rescaled) by libvips
// through sharp, several times faster than the pure-JS decoders, with JPEG shrink-on-load when a
// large photo is reduced a lot. Where sharp cannot load, the pure-JS decoders (jpeg-js, pngjs)
// take over, said once; they also serve synchronous reads (ImageDataset.image).
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type SharpType from 'sharp';
import { DatasetError, type RawImage, type Window } from '../../data/dataset.js';
import { resizeWindow } from '../../data/resample.js';
import { rescaledSize } from '../../data/transforms.js';

let sharp: typeof SharpType | null | undefined;

function loadSharp(): typeof SharpType | null {
  if (sharp !== undefined) return sharp;
  try {
    sharp = createRequire(import.meta.url)('sharp') as typeof SharpType;
    // One libvips thread per call: each input-pipeline worker process runs one call at a time, so
    // --workers is what sets the parallelism.
    sharp.concurrency(1);
    sharp.cache(false);
  } catch (e) {
    sharp = null;
    process.emitWarning(
      `sharp (libvips) could not load (${(e as Error).message.split('\n')[0]}); decoding images with the slower pure-JS decoders`,
      { code: 'VGGPU_NO_SHARP' },
    );
  }
  return sharp;
}

/** True when images are decoded by libvips (sharp); false on the pure-JS fallback. */
export function nativeDecoder(): boolean {
  return loadSharp() !== null;
}

/**
 * Reads a PNG or JPEG as 8-bit RGB. With `smallestSide`, the image is rescaled to the size
 * rescaledSize gives (aspect ratio kept; bilinear, antialiased when shrinking, by libvips); with
 * `window` too, only the window that `window(w, h)` chooses of the rescaled w×h image comes back,
 * and only that part is computed. A file that cannot be read, or is truncated, is a DatasetError
 * naming it; never a partial image. On the pure-JS fallback the same is computed by resample.ts.
 */
export async function readImage(
  file: string,
  smallestSide?: number,
  window?: (w: number, h: number) => Window,
): Promise<RawImage> {
  const s = loadSharp();
  if (!s) return rescaleInJs(decodeImage(file), smallestSide, window);
  try {
    const bytes = await readFile(file);
    let pipeline = s(bytes, { failOn: 'truncated' }).removeAlpha().toColourspace('srgb');
    if (smallestSide) {
      const size = storedSize(bytes) ?? (await s(bytes).metadata());
      const [w, h] = rescaledSize({ width: size.width!, height: size.height! }, smallestSide);
      pipeline = pipeline.resize(w, h, { fit: 'fill', kernel: 'linear' });
      if (window) {
        const r = window(w, h);
        pipeline = pipeline.extract({ left: r.x0, top: r.y0, width: r.width, height: r.height });
      }
    }
    const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`${info.channels} channels after conversion to sRGB`);
    // A copy the image owns (sharp's buffer is native memory, which cannot move between threads).
    return { width: info.width, height: info.height, channels: 3, data: new Uint8Array(data) };
  } catch (e) {
    throw new DatasetError(file, `unreadable image (${(e as Error).message.split('\n')[0]}); remove or replace it`);
  }
}

/**
 * Width and height as a PNG's IHDR or a JPEG's start-of-frame segment gives them (as stored, which
 * is what sharp decodes: EXIF orientation is not applied); null for anything else, which libvips
 * is then asked about. A few microseconds, where libvips opening the image once more costs ~0.3 ms.
 */
export function storedSize(bytes: Uint8Array): { width: number; height: number } | null {
  const u16 = (i: number) => (bytes[i] << 8) | bytes[i + 1];
  if (bytes.length >= 24 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    const u32 = (i: number) => ((bytes[i] << 24) | (bytes[i + 1] << 16) | (bytes[i + 2] << 8) | bytes[i + 3]) >>> 0;
    return { width: u32(16), height: u32(20) };
  }
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return null;
  let i = 2;
  while (i + 9 < bytes.length) {
    if (bytes[i] !== 0xff) return null;
    const marker = bytes[i + 1];
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    // Start of frame: C0–CF but DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const height = u16(i + 5);
      const width = u16(i + 7);
      return width > 0 && height > 0 ? { width, height } : null; // height 0: given later (DNL)
    }
    if (marker === 0xd9 || marker === 0xda) return null; // end of image, or scan data before any frame
    i += marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7) ? 2 : 2 + u16(i + 2);
  }
  return null;
}

/** readImage's rescale and window on the pure-JS fallback (resample.ts: antialiased bilinear, rounded to 8 bits). */
function rescaleInJs(img: RawImage, smallestSide?: number, window?: (w: number, h: number) => Window): RawImage {
  if (!smallestSide) return img;
  const [w, h] = rescaledSize(img, smallestSide);
  return resizeWindow(img, w, h, window ? window(w, h) : { x0: 0, y0: 0, width: w, height: h });
}

/** Decodes a PNG or JPEG file to RGB in pure JS (synchronously), with an error naming the file when it cannot. */
export function decodeImage(file: string): RawImage {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new DatasetError(file, `cannot read (${(e as Error).message})`);
  }
  const ext = extname(file).toLowerCase();
  try {
    if (ext === '.png') {
      const png = PNG.sync.read(bytes);
      const rgb = new Uint8Array(png.width * png.height * 3);
      for (let p = 0; p < png.width * png.height; p++) for (let c = 0; c < 3; c++) rgb[p * 3 + c] = png.data[p * 4 + c];
      return { width: png.width, height: png.height, channels: 3, data: rgb };
    }
    const img = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      maxResolutionInMP: 200,
      maxMemoryUsageInMB: 1024,
    });
    return { width: img.width, height: img.height, channels: 3, data: img.data };
  } catch (e) {
    throw new DatasetError(
      file,
      `unreadable ${ext === '.png' ? 'PNG' : 'JPEG'} image (${(e as Error).message}); remove or replace it`,
    );
  }
}
