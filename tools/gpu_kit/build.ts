// `npm run gpu-kit`: builds gpu-kit/ (ignored by git), what a bare x86-64 Linux machine with an
// NVIDIA (or any Vulkan) driver and no network needs to check and time the engine on its GPU:
//   run.sh            the one script (tools/gpu_kit/run.sh; its header says how to use the kit)
//   kit.mjs           the self-check, conv timing, training-step timing and report, bundled by esbuild
//   node.xz           this Node.js binary (the official builds link nothing beyond glibc and libstdc++)
//   webgpu/           Dawn's linux-x64 dawn.node (xz) and the `webgpu` package's loader
//   lib/              the Vulkan loader and libglvnd's dispatcher, used where the machine has none
//   compat/           libstdc++ (GCC 12), used where the machine's is older than Dawn needs
//   torch_vgg16.py    the same-GPU PyTorch baseline (bench/peers/)
//   MANIFEST.json     versions, sizes and checksums
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';

const root = join(dirname(new URL(import.meta.url).pathname), '..', '..');
const kit = join(root, 'gpu-kit');
const started = performance.now();
const fail = (msg: string): never => {
  console.error(`gpu-kit: ${msg}`);
  process.exit(1);
};
if (process.platform !== 'linux' || process.arch !== 'x64')
  fail(
    `builds for x86-64 Linux GPU machines from an x86-64 Linux machine; this is ${process.platform}-${process.arch}`,
  );

rmSync(kit, { recursive: true, force: true });
mkdirSync(join(kit, 'webgpu'), { recursive: true });
mkdirSync(join(kit, 'lib'));

// The program: everything but Dawn's native module (and the optional native helpers, which the
// engine does without: koffi only keeps Dawn's start-up messages off the terminal, sharp decodes images).
await build({
  entryPoints: [join(root, 'tools/gpu_kit/kit.ts')],
  outfile: join(kit, 'kit.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['webgpu', 'koffi', 'sharp'],
  // CommonJS dependencies (pngjs, jpeg-js) call require(); an ES module has none of its own.
  banner: {
    js: "import { createRequire as __kitRequire } from 'node:module'; const require = __kitRequire(import.meta.url);",
  },
  legalComments: 'none',
  logLevel: 'warning',
});

const xz = (from: string, to: string) =>
  writeFileSync(to, execFileSync('xz', ['-6', '-T0', '-c', from], { maxBuffer: 1 << 30 }));
// Node: the running binary, compressed (~99 MB → ~25 MB).
const node = realpathSync(process.execPath);
xz(node, join(kit, 'node.xz'));
// Dawn: the package's loader as it is, its linux-x64 binary compressed.
const webgpu = join(root, 'node_modules/webgpu');
for (const f of ['package.json', 'index.js', 'LICENSE.md']) copyFileSync(join(webgpu, f), join(kit, 'webgpu', f));
xz(join(webgpu, 'dist/linux-x64/dawn.node'), join(kit, 'webgpu', 'dawn.node.xz'));

// The Vulkan loader (libvulkan1) and libglvnd's dispatcher (libglvnd0; NVIDIA's Vulkan driver,
// libGLX_nvidia, links it): the files of the installed Debian packages (`npm run setup` installs
// them), else of the packages downloaded with apt-get. Shipped as the libraries themselves, so
// the GPU machine needs no dpkg and nothing is written to its system folders.
const packages: Record<string, string> = { libvulkan1: 'libvulkan.so.1', libglvnd0: 'libGLdispatch.so.0' };
const libs: Record<string, string> = {};
for (const [pkg, soname] of Object.entries(packages)) {
  let version = '';
  let file = '';
  try {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
    version = execFileSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8' });
    file =
      execFileSync('dpkg', ['-L', pkg], { encoding: 'utf8' })
        .split('\n')
        .find((l) => l.endsWith(`/${soname}`)) ?? '';
  } catch {
    const tmp = mkdtempSync(join(tmpdir(), 'gpu-kit-'));
    try {
      execFileSync('apt-get', ['download', pkg], { cwd: tmp, stdio: 'pipe' });
      const deb = readdirSync(tmp).find((f) => f.endsWith('.deb'))!;
      version = deb.split('_')[1];
      execFileSync('dpkg-deb', ['-x', deb, 'x'], { cwd: tmp });
      file = execFileSync('find', [join(tmp, 'x'), '-name', soname], { encoding: 'utf8' })
        .trim()
        .split('\n')[0];
    } catch (e) {
      fail(
        `${pkg} is neither installed nor downloadable (${(e as Error).message.split('\n')[0]}); run \`npm run setup\`, which installs it`,
      );
    }
  }
  if (!file) fail(`${pkg} ${version} has no ${soname}`);
  copyFileSync(realpathSync(file), join(kit, 'lib', soname));
  libs[soname] = `${pkg} ${version}`;
}

// Dawn's binary needs GLIBCXX_3.4.30 (GCC 12's libstdc++): this machine's, for GPU machines with an older one.
mkdirSync(join(kit, 'compat'));
const libstdcxx = ['/usr/lib/x86_64-linux-gnu/libstdc++.so.6', '/usr/lib64/libstdc++.so.6'].find((f) =>
  statSync(f, { throwIfNoEntry: false }),
);
if (!libstdcxx) fail('no libstdc++.so.6 here to carry for GPU machines with an older one');
copyFileSync(realpathSync(libstdcxx!), join(kit, 'compat', 'libstdc++.so.6'));

copyFileSync(join(root, 'tools/gpu_kit/run.sh'), join(kit, 'run.sh'));
copyFileSync(join(root, 'bench/peers/torch_vgg16.py'), join(kit, 'torch_vgg16.py'));
cpSync(join(root, 'LICENSE'), join(kit, 'LICENSE'));

const files: Record<string, { bytes: number; sha256: string }> = {};
const walk = (dir: string, rel = ''): void => {
  for (const f of readdirSync(dir).sort()) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) walk(p, `${rel}${f}/`);
    else
      files[`${rel}${f}`] = {
        bytes: statSync(p).size,
        sha256: createHash('sha256').update(readFileSync(p)).digest('hex'),
      };
  }
};
walk(kit);
const git = (() => {
  try {
    return execFileSync('git', ['-C', root, 'describe', '--always', '--dirty'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();
const total = Object.values(files).reduce((a, f) => a + f.bytes, 0);
const manifest = {
  built: new Date().toISOString(),
  commit: git,
  node: process.version,
  webgpu: JSON.parse(readFileSync(join(webgpu, 'package.json'), 'utf8')).version,
  libraries: libs,
  bytes: total,
  files,
};
writeFileSync(join(kit, 'MANIFEST.json'), `${JSON.stringify(manifest, null, 2)}\n`);
const mib = (total / 2 ** 20).toFixed(1);
console.log(
  `gpu-kit: built ${kit} in ${((performance.now() - started) / 1000).toFixed(0)} s: ${mib} MiB (Node ${process.version}, webgpu ${manifest.webgpu}, commit ${git})`,
);
console.log(
  'gpu-kit: copy the folder to the GPU machine and run `bash gpu-kit/run.sh` there (results in ./gpu-kit-out, or $OUT); see the header of run.sh',
);
if (total > 50 * 2 ** 20) fail(`the kit is ${mib} MiB, over its 50 MiB budget`);
