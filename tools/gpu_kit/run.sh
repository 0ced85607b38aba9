#!/usr/bin/env bash
# vggpu GPU kit: checks and times the engine on this machine's GPU, offline, in one command.
#
# What it needs: x86-64 Linux with glibc ≥ 2.34 (Ubuntu 22.04, Debian 12, RHEL 9 or newer), a GPU driver with Vulkan (NVIDIA's ships it),
# bash, coreutils and xz or python3. Nothing else: no network, no Node.js, no npm; it brings its
# own Node.js, Dawn (WebGPU) and, where the machine has none, the Vulkan loader.
#
# Build it (on any x86-64 Linux machine with the repository): `npm run gpu-kit` → gpu-kit/, ~31 MiB.
# Copy that folder to the GPU machine and run, from anywhere:
#     bash gpu-kit/run.sh                 # results in ./gpu-kit-out, or in $OUT if set
# It takes about 5–8 minutes on an H100 and stops itself by KIT_SECONDS (default 570), so a run
# and a rerun fit in 15 minutes of GPU time. In order, each phase in its own process and time limit:
#   1. info     the adapter, its features and limits, subgroup-matrix configurations (allow_unsafe_apis)
#   2. check    every kernel variant the tuner may pick here against the float64 CPU reference: small
#               odd shapes, and VGG-16's 64→64 layer at 224², batch 128 (sampled float64 values, and
#               every variant's whole output against the default variant's)
#   3. conv     every conv pass of VGG-16 at 224², batch 32, every variant: release mode (Dawn's
#               safety transforms off), then safe mode (VGGPU_SAFE=1)
#   4. step     tuned VGG-16 training steps at 224², batch 64 and 128 (images/s)
#   5. torch    torchvision's VGG-16 on the same GPU (fp32, TF32), if python3 there has PyTorch
#   6. report   a summary, and ours ÷ PyTorch's (summary.json)
# In $OUT: kit.log (everything printed), info.json, check.json, conv-release.json, conv-safe.json,
# step.json, torch.json, summary.json, cache/ (the tuned kernel choices). Exit status 0 when every
# phase ran and the self-check passed.
#
# Settings: OUT (results folder), KIT_SECONDS (the whole run's limit), KIT_SCALE (auto: the
# protocol above on a GPU, the same phases at small sizes on a CPU adapter; or gpu, cpu, smoke),
# PYTHON (the interpreter that has PyTorch, when it is not the first python3 on PATH),
# VK_DRIVER_FILES (the Vulkan driver's ICD file, when the loader does not find it: NVIDIA's under
# /usr/local/nvidia is found, and where only libGLX_nvidia.so.0 is there, a file naming it is made).
set -uo pipefail
export PATH=${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}
KIT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-$PWD/gpu-kit-out}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
START=$SECONDS
DEADLINE=${KIT_SECONDS:-570}
SCALE=${KIT_SCALE:-auto}
exec > >(tee -a "$OUT/kit.log") 2>&1
say() { echo "[kit] $*"; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vggpu-kit.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
say "vggpu GPU kit $(sed -n 's/.*"commit": "\(.*\)".*/\1/p' "$KIT/MANIFEST.json"), results in $OUT"

# Unpack Node.js and Dawn into a scratch folder (xz, else Python's lzma).
unxz_to() {
  if command -v xz >/dev/null; then xz -dc "$1" >"$2"
  elif command -v python3 >/dev/null; then python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"
  else say "neither xz nor python3 here to unpack $1"; exit 2; fi
}
mkdir -p "$WORK/node_modules/webgpu/dist/linux-x64" "$WORK/lib"
unxz_to "$KIT/node.xz" "$WORK/node" && chmod +x "$WORK/node"
cp "$KIT/webgpu/package.json" "$KIT/webgpu/index.js" "$WORK/node_modules/webgpu/"
unxz_to "$KIT/webgpu/dawn.node.xz" "$WORK/node_modules/webgpu/dist/linux-x64/dawn.node"
cp "$KIT/kit.mjs" "$WORK/" # beside node_modules/webgpu, where its import finds Dawn
NODE="$WORK/node"
"$NODE" --version >/dev/null || { say "the kit's Node.js does not run here (x86-64 Linux with glibc ≥ 2.28 needed)"; exit 2; }
# Dawn needs glibc ≥ 2.34 and GCC 12's libstdc++ (GLIBCXX_3.4.30): the kit's libstdc++ where the machine's is older.
load_dawn() { "$NODE" -e 'require(process.argv[1])' "$WORK/node_modules/webgpu/dist/linux-x64/dawn.node" 2>&1; }
if ! err=$(load_dawn); then
  if [[ $err == *GLIBCXX* ]]; then
    export LD_LIBRARY_PATH="$KIT/compat${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    say "libstdc++: the kit's (the machine's is older than Dawn needs)"
    err=$(load_dawn) || { say "Dawn does not load here: $err"; exit 2; }
  else
    say "Dawn does not load here (glibc ≥ 2.34 needed: Ubuntu 22.04, Debian 12, RHEL 9 or newer): $err"; exit 2
  fi
fi

# The Vulkan loader and libglvnd's dispatcher: the machine's own where it has them, else the kit's.
have_lib() { ldconfig -p 2>/dev/null | grep -q " $1 " || [ -e "/usr/lib/x86_64-linux-gnu/$1" ] || [ -e "/usr/lib64/$1" ]; }
for lib in "$KIT"/lib/*; do
  name=$(basename "$lib")
  if have_lib "$name"; then say "$name: the machine's"; else ln -s "$lib" "$WORK/lib/$name"; say "$name: the kit's (the machine has none)"; fi
done
LIBS="$WORK/lib"
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do [ -d "$d" ] && LIBS="$LIBS:$d"; done
export LD_LIBRARY_PATH="$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# NVIDIA's Vulkan driver: its ICD file where the loader would not look, or one made for its library.
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then
  std=$(ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json 2>/dev/null | head -1)
  if [ -z "$std" ]; then
    for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/local/share/vulkan/icd.d/nvidia_icd.json; do
      [ -f "$f" ] && export VK_DRIVER_FILES="$f" && break
    done
    if [ -z "${VK_DRIVER_FILES:-}" ]; then
      glx=$( (ls /usr/local/nvidia/lib64/libGLX_nvidia.so.0 2>/dev/null; ldconfig -p 2>/dev/null | sed -n 's/.*libGLX_nvidia.so.0 .*=> //p') | head -1)
      if [ -n "$glx" ]; then
        printf '{"file_format_version": "1.0.1", "ICD": {"library_path": "%s", "api_version": "1.3"}}\n' "$glx" >"$WORK/nvidia_icd.json"
        export VK_DRIVER_FILES="$WORK/nvidia_icd.json"
      fi
    fi
  fi
  [ -n "${VK_DRIVER_FILES:-}" ] && export VK_ICD_FILENAMES="$VK_DRIVER_FILES" # loaders before 1.3.207 read this one
fi
say "Vulkan driver file: ${VK_DRIVER_FILES:-${VK_ICD_FILENAMES:-none named (the loader searches its default folders)}}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/[kit] GPU: /'

export VGGPU_CACHE_DIR="$OUT/cache" # the tuned kernel choices come back with the results
FAILED=()
# phase NAME LIMIT_SECONDS COMMAND…: runs within min(LIMIT, what is left of KIT_SECONDS).
phase() {
  local name=$1 limit=$2 left=$((DEADLINE - (SECONDS - START)))
  shift 2
  ((left < limit)) && limit=$left
  if ((limit < 15)); then say "$name: not run (KIT_SECONDS=$DEADLINE spent)"; FAILED+=("$name"); return; fi
  say "$name (at most $limit s)"
  local t0=$SECONDS
  timeout -k 5 "$limit" "$@"
  local rc=$?
  ((rc == 124 || rc == 137)) && say "$name: stopped at its $limit s limit"
  ((rc != 0)) && FAILED+=("$name")
  say "$name: $((SECONDS - t0)) s, exit $rc"
}
KIT_JS=("$NODE" "$WORK/kit.mjs")
ARGS=(--out "$OUT" --scale "$SCALE")

phase info 60 "${KIT_JS[@]}" info "${ARGS[@]}"
phase check 150 "${KIT_JS[@]}" check "${ARGS[@]}" --budget 100
phase conv-release 120 "${KIT_JS[@]}" conv "${ARGS[@]}" --budget 80
phase conv-safe 90 env VGGPU_SAFE=1 "${KIT_JS[@]}" conv "${ARGS[@]}" --budget 50
phase step 180 "${KIT_JS[@]}" step "${ARGS[@]}" --budget 120

# The PyTorch baseline: the first python3 that has torch (PYTHON first), at the same sizes as ours.
PY=""
for p in ${PYTHON:-} $(IFS=:; for d in $PATH; do [ -x "$d/python3" ] && echo "$d/python3"; done) /usr/bin/python3; do
  [ -x "$p" ] || continue
  [ -z "$PY" ] && PY=$p
  if "$p" -c 'import torch, torchvision' 2>/dev/null; then PY=$p; break; fi
done
if [ -z "$PY" ]; then
  echo '{"skipped": "no python3 on this machine"}' >"$OUT/torch.json"; say "torch: skipped (no python3)"
else
  case "$SCALE" in smoke) targs=(--batch 1 --size 32 --steps 1 --warmup 1) ;; *) targs=() ;; esac
  phase torch 120 "$PY" "$KIT/torch_vgg16.py" --budget 60 --json "$OUT/torch.json" "${targs[@]}"
fi

"${KIT_JS[@]}" report --out "$OUT" || FAILED+=(report)
say "done in $((SECONDS - START)) s; results in $OUT"
if ((${#FAILED[@]})); then say "FAILED: ${FAILED[*]}"; exit 1; fi
