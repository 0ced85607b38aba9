// The Node host (see host.ts): adapters through Dawn's Node bindings (`webgpu`), the cache as files
// under $VGGPU_CACHE_DIR or ~/.cache/vggpu (written atomically), settings from the environment.
// Importing the package in Node installs it.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Host, setHost } from '../host.js';
import { chooseAdapter, moreAdapters } from './gpu/adapter.js';
import { cacheDir } from './gpu/cache.js';

/** The Node host. */
export const nodeHost: Host = {
  chooseAdapter,
  moreAdapters,
  readCache(name) {
    try {
      return readFileSync(join(cacheDir(), name), 'utf8');
    } catch {
      return null; // missing or unreadable
    }
  },
  writeCache(name, text) {
    const file = join(cacheDir(), name);
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  },
  cachePath: (name) => join(cacheDir(), name),
  setting: (name) => process.env[name],
  warn: (message) => process.emitWarning(message),
};

setHost(nodeHost);
