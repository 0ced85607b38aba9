// Part of `npm run build`: the engine for web pages as one ES module with its kernels inside,
// dist/browser/vggpu.js (import it from a page, call installBrowserHost(), then init()).
import { join } from 'node:path';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
await build({
  entryPoints: [join(root, 'src/browser/index.ts')],
  outfile: join(root, 'dist/browser/vggpu.js'),
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  sourcemap: true,
  logLevel: 'warning',
});
