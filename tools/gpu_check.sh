#!/usr/bin/env bash
# Checks the kernels on a machine with a real GPU, in one go: the kernel-correctness tests on the
# GPU's native backend (Vulkan on Linux), then the bench as JSON. On the GPU machine, in the
# repository's root:
#     npm run setup            # the Vulkan loader (libvulkan1) and the npm dependencies
#     bash tools/gpu_check.sh  # results in $OUT (default /tmp/gpu_check)
# On a machine without network, bring what setup would install: node_modules from `npm ci` on
# another x86-64 Linux machine, the Vulkan loader's .deb files in .gl/ (unpacked here), and a
# Node.js 20 build in .node/ if the machine has none. VK_DRIVER_FILES may name the driver's ICD
# file where the loader does not find it (NVIDIA's file under /usr/local/nvidia is used when present).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
if [ -d .gl ]; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
[ -d .node/bin ] && export PATH="$PWD/.node/bin:$PATH"
nv_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nv_icd" ] && export VK_DRIVER_FILES="$nv_icd"
export VGGPU_CACHE_DIR="$OUT"              # the timings made there come back with the results
command -v node >/dev/null || { echo "gpu_check: no node on PATH (carry a Node.js 20 build in .node/)"; exit 2; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1 | tee "$OUT/gpu.txt"
npx vitest run test/kernel_variants.test.ts test/conv2d.test.ts test/linear.test.ts test/pool_norm.test.ts \
  test/loss_dropout_sgd.test.ts test/vgg.test.ts 2>&1 | tee "$OUT/tests.log" | tail -15
timeout 420 npx tsx bench/bench.ts --json "$OUT/bench.json" 2>"$OUT/bench.log" | tee "$OUT/bench.txt"
