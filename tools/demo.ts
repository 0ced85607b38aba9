// `npm run demo [-- --port 8080] [--data DIR]`: serves the browser demo (examples/browser/) on
// 127.0.0.1 — the page, the engine bundled with it for the browser, and Fashion-MNIST's IDX files
// (Debian's dataset-fashion-mnist by default) — and says where to open it. The browser test
// starts the same server with pages of its own.
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
const DATA_FILES = [
  'train-images-idx3-ubyte',
  'train-labels-idx1-ubyte',
  't10k-images-idx3-ubyte',
  't10k-labels-idx1-ubyte',
];

/** Bundles a page script (TypeScript importing the engine) for the browser. */
export async function bundle(entry: string): Promise<string> {
  const r = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    sourcemap: 'inline',
    logLevel: 'silent',
  });
  return r.outputFiles[0].text;
}

export interface DemoServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves the demo at `url` (127.0.0.1 only), with the IDX files of `dataDir` under data/, and
 * `pages`: more paths, each an HTML text or a script to bundle ({ script: file }).
 */
export async function startDemoServer(
  o: { port?: number; dataDir?: string; pages?: Record<string, string | { script: string }> } = {},
): Promise<DemoServer> {
  const dataDir = o.dataDir ?? '/usr/share/datasets/fashion-mnist';
  const routes = new Map<string, { type: string; body: string | Uint8Array }>();
  routes.set('/', { type: 'text/html', body: readFileSync(join(root, 'examples/browser/index.html'), 'utf8') });
  routes.set('/demo.js', { type: 'text/javascript', body: await bundle(join(root, 'examples/browser/demo.ts')) });
  for (const [path, page] of Object.entries(o.pages ?? {})) {
    routes.set(
      path,
      typeof page === 'string'
        ? { type: 'text/html', body: page }
        : { type: 'text/javascript', body: await bundle(page.script) },
    );
  }
  const data = (name: string): Uint8Array | string => {
    if (!DATA_FILES.includes(name)) return `no such data file; the demo serves ${DATA_FILES.join(', ')}`;
    const plain = join(dataDir, name);
    if (existsSync(plain)) return readFileSync(plain);
    if (existsSync(`${plain}.gz`)) return gunzipSync(readFileSync(`${plain}.gz`));
    return `${plain}(.gz) is missing: install Debian's dataset-fashion-mnist (npm run setup) or pass --data DIR`;
  };
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const route = routes.get(path);
    if (route) {
      res.writeHead(200, { 'content-type': route.type, 'cache-control': 'no-store' });
      res.end(route.body);
      return;
    }
    if (path.startsWith('/data/')) {
      const body = data(path.slice('/data/'.length));
      res.writeHead(typeof body === 'string' ? 404 : 200, {
        'content-type': typeof body === 'string' ? 'text/plain' : 'application/octet-stream',
      });
      res.end(body);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((r) => server.close(() => r())) };
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const args = process.argv.slice(2);
  const flag = (n: string) => {
    const i = args.indexOf(`--${n}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const port = Number(flag('port') ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port ${flag('port')}: give a port number`);
  const s = await startDemoServer({ port, dataDir: flag('data') });
  console.log(`vggpu browser demo: open ${s.url}`);
  console.log(
    'Chrome or Edge 113+ on a machine with a GPU needs no flags. Without one (or on Linux), start Chrome with --enable-unsafe-webgpu.',
  );
  console.log('Ctrl-C stops the server.');
}
