#!/usr/bin/env bash
# Checks the kernels on a machine with a real GPU, in one go (the lent H200 has no network and
# starts bare): the kernel-correctness tests on the native backend, then the bench as JSON.
#   Here, once: `npm ci`; download the Vulkan loader debs into .gl/ (see ../.library/device/README.md)
#   and a Node.js 20 build into .node/ if the machine may lack one.
#   There: `bash tools/gpu_check.sh`, carrying node_modules, .gl and .node; results land in $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
if [ -d .gl ]; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
[ -d .node/bin ] && export PATH="$PWD/.node/bin:$PATH"
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
export VGGPU_CACHE_DIR="$OUT"              # the timings made there come back with the results
command -v node >/dev/null || { echo "gpu_check: no node on PATH (carry a Node.js 20 build in .node/)"; exit 2; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1 | tee "$OUT/gpu.txt"
npx vitest run test/kernel_variants.test.ts test/conv2d.test.ts test/linear.test.ts test/pool_norm.test.ts \
  test/loss_dropout_sgd.test.ts test/vgg.test.ts 2>&1 | tee "$OUT/tests.log" | tail -15
timeout 420 npx tsx bench/bench.ts --json "$OUT/bench.json" 2>"$OUT/bench.log" | tee "$OUT/bench.txt"
