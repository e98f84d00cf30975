#!/usr/bin/env bash
# The GPU benchmark (issue #16), run from the pack that tools/device/pack.mjs made. On the device machine:
#
#   bash tools/device/run.sh          # webgpu rows (DiT-S, DiT-XL, DINOv3, decoder, one 25-step DiT-XL image) and the
#                                     # same in PyTorch CUDA fp32 and bf16 → $OUT/bench.md, bench.json, env.txt, progress.txt
#   bash tools/device/run.sh --models dit-S --no-torch     # any run.mjs flags instead of the defaults
#
# Here, without a GPU, the same pack runs on SwiftShader (slow; a check of the pack, not a measurement):
#   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json bash tools/device/run.sh --models dit-S --runs 1 --no-torch
set -uo pipefail
cd "$(dirname "$0")/../.."
pack=${SVG_DEVICE_PACK:-.device/pack.tar.xz}
out=${OUT:-/tmp/svg-device-out}
unpacked=${SVG_DEVICE_DIR:-/tmp/svg-device}
[ -f "$pack" ] || { echo "run.sh: no pack at $pack (run: npm run build && node tools/device/pack.mjs)" >&2; exit 2; }
mkdir -p "$out" "$unpacked"
python=${SVG_PYTHON:-$(command -v python3)}
[ -n "$python" ] || { echo "run.sh: no python3 on PATH (set SVG_PYTHON)" >&2; exit 2; }

# Unpacked with Python's tarfile: the device image may have no xz.
"$python" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$pack" "$unpacked" || exit 2
node="$unpacked/node"

# Vulkan for Dawn: the system's loader if it has one, else the packed one; the NVIDIA driver's ICD unless one is set.
if ! ldconfig -p 2>/dev/null | grep 'libvulkan\.so\.1 ' >/dev/null; then
  export LD_LIBRARY_PATH="$unpacked/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
if [ -z "${VK_ICD_FILENAMES:-}" ]; then
  icd=$(find /usr/local/nvidia /usr/share/vulkan /etc/vulkan -name 'nvidia_icd*.json' 2>/dev/null | head -1)
  if [ -n "$icd" ]; then export VK_ICD_FILENAMES="$icd" VK_DRIVER_FILES="$icd"; fi
fi

{
  date -u
  cat "$unpacked/VERSION"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 || true
  echo "python: $python ($("$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>&1 | tail -1))"
  echo "VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-unset} LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
  "$node" --version
  "$node" "$unpacked/bench/probe.mjs"
} 2>&1 | tee "$out/env.txt"

if [ $# -eq 0 ]; then
  set -- --models dit-S,dit-XL,dinov3,decoder,xl-image --backends webgpu --torch-device cuda --torch-dtypes fp32,bf16 --timeout 240
fi
"$node" "$unpacked/bench/run.mjs" --python "$python" --json "$out/bench.json" "$@" 2> >(tee "$out/progress.txt" >&2) | tee "$out/bench.md"
