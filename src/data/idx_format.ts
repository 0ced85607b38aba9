// The IDX format of MNIST and Fashion-MNIST, from bytes (the Node datasets read the files; a
// browser page fetches them).
import { DatasetError } from './dataset.js';

/** Fashion-MNIST's class names in label order. */
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

/** Parses an IDX file: magic 0x0000 0x08 (unsigned byte) ndim, then ndim big-endian u32 sizes, then the data. */
export function parseIdx(bytes: Uint8Array, file: string): { dims: number[]; data: Uint8Array } {
  const fail = (why: string): never => {
    throw new DatasetError(file, `not a valid IDX file: ${why}; re-download or reinstall the dataset`);
  };
  if (bytes.length < 4) fail(`only ${bytes.length} bytes`);
  if (bytes[0] !== 0 || bytes[1] !== 0) fail('bad magic number');
  if (bytes[2] !== 0x08) fail(`element type 0x${bytes[2].toString(16)} is not unsigned byte`);
  const ndim = bytes[3];
  if (ndim < 1 || ndim > 4) fail(`${ndim} dimensions`);
  if (bytes.length < 4 + 4 * ndim) fail('truncated header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: ndim }, (_, i) => view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * ndim;
  if (bytes.length - start !== count)
    fail(`header promises ${count} values of [${dims}] but the file holds ${bytes.length - start}`);
  return { dims, data: bytes.subarray(start) };
}
