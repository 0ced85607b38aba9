// Dawn's native code prints warnings about the machine straight to file descriptor 2 while it
// creates instances and adapters ("Couldn't load Vulkan", "vkCreateInstance: Found no drivers!",
// limits it trims for the GLES backend). They name paths on the machine that built Dawn and
// nothing the user can act on, so adapter selection runs with fd 2 pointed at a temporary file;
// what Dawn wrote is returned (kept as `engine().rt.adapter.nativeLog`; VGGPU_VERBOSE=1 lets it
// through as it comes). Only adapter selection, a fraction of a second, is wrapped (anything else
// the process writes to stderr meanwhile lands in that text too); GPU errors later on arrive
// through WebGPU's error reporting, never this way.
//
// Node has no dup/dup2, and stderr may be a terminal, a pipe or a socket (a Node parent's
// `stdio: 'pipe'`, as in vitest's workers), so libc's are called through koffi (an FFI whose
// prebuilt binaries ship in its npm packages). Where that cannot load, nothing is diverted.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** True when VGGPU_VERBOSE is set (and not 0): engine-internal messages are shown as they come. */
export function verbose(): boolean {
  const v = process.env.VGGPU_VERBOSE;
  return v !== undefined && v !== '' && v !== '0';
}

interface Libc {
  dup(fd: number): number;
  dup2(from: number, to: number): number;
  close(fd: number): number;
}

let libc: Libc | null | undefined;

function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  const name = process.platform === 'linux' ? 'libc.so.6' : process.platform === 'darwin' ? 'libSystem.B.dylib' : null;
  if (!name) return libc;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const lib = koffi.load(name);
    libc = { dup: lib.func('int dup(int)'), dup2: lib.func('int dup2(int, int)'), close: lib.func('int close(int)') };
  } catch {
    // No FFI on this platform: Dawn's messages stay visible, which is harmless.
  }
  return libc;
}

/**
 * Runs `fn` with whatever native code writes to stderr diverted to a temporary file, and returns
 * that text alongside fn's value (also when fn throws: the error then carries it as `nativeStderr`).
 * With VGGPU_VERBOSE set, or where libc cannot be reached, `fn` runs as is and the text is ''.
 */
export async function captureNativeStderr<T>(fn: () => Promise<T>): Promise<{ value: T; text: string }> {
  const c = verbose() ? null : loadLibc();
  if (!c) return { value: await fn(), text: '' };
  const saved = c.dup(2);
  if (saved < 0) return { value: await fn(), text: '' };
  const dir = mkdtempSync(join(tmpdir(), 'vggpu-'));
  const logPath = join(dir, 'native-stderr.log');
  const log = openSync(logPath, 'w');
  c.dup2(log, 2);
  closeSync(log);
  const restore = () => {
    c.dup2(saved, 2);
    c.close(saved);
    const text = readFileSync(logPath, 'utf8');
    rmSync(dir, { recursive: true, force: true });
    return text;
  };
  let value: T;
  try {
    value = await fn();
  } catch (e) {
    const text = restore();
    if (e instanceof Error) Object.assign(e, { nativeStderr: text });
    throw e;
  }
  return { value, text: restore() };
}
