// Where the engine keeps what it measures once per machine: kernel timings, the CPU adapters' probe.
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The engine's cache folder: $VGGPU_CACHE_DIR, else ~/.cache/vggpu. */
export function cacheDir(): string {
  return process.env.VGGPU_CACHE_DIR ?? join(homedir(), '.cache', 'vggpu');
}
