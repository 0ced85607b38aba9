// Safetensors files (the format itself: checkpoint/safetensors.ts). Writing is atomic: a
// temporary file, fsync, rename, fsync of the folder.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import {
  bytesOf,
  CheckpointError,
  encodeHeader,
  parseSafetensors,
  type SafetensorsFile,
  type StoredTensor,
} from '../../checkpoint/safetensors.js';

export {
  CheckpointError,
  parseSafetensors,
  serializeSafetensors,
  type SafetensorsFile,
  type StoredTensor,
} from '../../checkpoint/safetensors.js';

/** Reads a safetensors file, converting F16/BF16/F64 tensors to f32. */
export function readSafetensors(file: string): SafetensorsFile {
  try {
    statSync(file);
  } catch {
    throw new CheckpointError(file, 'cannot read the checkpoint (missing file?); check the path');
  }
  return parseSafetensors(readFileSync(file), file);
}

const tmpPath = (file: string) => join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);

/** Writes f32 tensors (in the order given) and string metadata atomically. */
export function writeSafetensors(
  file: string,
  tensors: Array<[string, StoredTensor]>,
  metadata: Record<string, string> = {},
): void {
  const head = encodeHeader(tensors, metadata);
  const tmp = tmpPath(file);
  const fd = openSync(tmp, 'w');
  try {
    writeAll(fd, head);
    for (const [, t] of tensors) writeAll(fd, bytesOf(t));
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, file);
  const dirFd = openSync(dirname(file), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/** writeSafetensors without blocking the thread: the same atomic write, on libuv's threads. */
export async function writeSafetensorsAsync(
  file: string,
  tensors: Array<[string, StoredTensor]>,
  metadata: Record<string, string> = {},
): Promise<void> {
  const head = encodeHeader(tensors, metadata);
  const tmp = tmpPath(file);
  const fh = await open(tmp, 'w');
  try {
    await fh.write(head);
    for (const [, t] of tensors) await fh.write(bytesOf(t));
    await fh.sync();
  } catch (e) {
    await fh.close();
    await unlink(tmp);
    throw e;
  }
  await fh.close();
  await rename(tmp, file);
  const dir = await open(dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30));
}
