#!/usr/bin/env bash
# The real-GPU check: on a machine with an NVIDIA GPU and its Vulkan driver, set up Dawn, print `fergpu info`,
# run every kernel and model case, then the matmul, conv and models suites, and write bench/results/gpu-*.json.
#
#   here:   node scripts/gpu-kit.mjs        # .gpu-kit/: Node (xz), Dawn's binding, self-contained bundles
#           (Vulkan loader, once) see below: .gl/*.deb
#   there:  bash bench/gpu-check.sh [--quick] [OUTDIR]   (default OUTDIR: bench/results)
#
# On a machine with Node and `npm ci` done, the kit is optional: the script uses dist/ and node_modules instead.
# The device machines of this workplace have no Vulkan loader: download it here once into .gl/
#   o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
#   mkdir -p .gl /tmp/amd64/partial; apt-get $o update; (cd .gl && apt-get $o download libvulkan1)
# and carry .gl and .gpu-kit; this script unpacks them.
set -uo pipefail
cd "$(dirname "$0")/.."
quick=()
if [ "${1:-}" = "--quick" ]; then quick=(--quick); shift; fi
out="${1:-bench/results}"
mkdir -p "$out"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

# Vulkan loader and the NVIDIA driver's manifest.
if ! ldconfig -p | grep -q libvulkan.so.1; then
  if ls .gl/*.deb >/dev/null 2>&1; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  else
    echo "gpu-check: no Vulkan loader (libvulkan.so.1) and no .gl/*.deb to unpack; see the header of $0" >&2
    exit 2
  fi
fi
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi

# Node and the bundles: the kit if present, else this checkout's own build.
if [ -f .gpu-kit/node.xz ]; then
  [ -x /tmp/fergpu-node ] || { xz -dc .gpu-kit/node.xz > /tmp/fergpu-node && chmod +x /tmp/fergpu-node; }
  node=/tmp/fergpu-node
  dist=.gpu-kit/dist
else
  node="$(command -v node || true)"
  [ -n "$node" ] || { echo "gpu-check: no node and no .gpu-kit (run 'node scripts/gpu-kit.mjs' where Node is)" >&2; exit 2; }
  "$node" scripts/build.mjs cli bench >/dev/null || exit 2
  dist=dist
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

status=0
echo "== fergpu info"
"$node" "$dist/cli.js" info | tee "$out/gpu-info.txt" || status=1
if grep -qi 'llvmpipe\|swiftshader\|software' "$out/gpu-info.txt"; then
  echo "gpu-check: Dawn chose a software adapter; is the NVIDIA Vulkan driver visible (VK_DRIVER_FILES)?" >&2
  status=1
fi

echo "== kernel and model cases"
if [ -f "$dist/cases.js" ]; then
  "$node" "$dist/cases.js" --out "$out" || status=1
else
  npx vitest run test/kernels.test.ts || status=1
fi

echo "== benchmarks: matmul conv models"
tmp="$(mktemp -d)"
"$node" "$dist/bench.js" matmul conv models --wait busy "${quick[@]}" --out "$tmp" || status=1
for f in "$tmp"/*.json; do
  [ -f "$f" ] && cp "$f" "$out/gpu-$(basename "$f")"
done
ls -1 "$out"/gpu-* 2>/dev/null
exit "$status"
