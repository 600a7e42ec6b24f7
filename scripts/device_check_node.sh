#!/usr/bin/env bash
# Part 2 of the GPU work, on a machine with a CUDA PyTorch but no node, npm or apt (the device machine). Run from the
# repository root with what travels beside the tree (all ignored paths, passed as `carry`):
#   .device/node.xz       this machine's `node` binary, xz-compressed (it needs only glibc): xz -9 < $(command -v node)
#   .device/debs/*.deb    FFmpeg 5.1, utf8proc, nlohmann-json, oneDNN runtime/dev .debs (apt-get download), unpacked with dpkg -x
#   node_modules/         (or node_modules.tar.xz) from `npm ci` here: cmake-js, node-addon-api, jest, ts-jest
#   dist/                 from `npm run build:ts`
# Usage: XCLIP_FIXTURES=/path/to/fixtures bash scripts/device_check_node.sh
# Prints one line per check: "CHECK <name>: <value> (expected <bound>)", then "<n> passed, <n> failed".
#
# Expected output on an H200 with PyTorch 2.x (CUDA 12):
#   CHECK build: ok                                     the addon built with XCLIP_LIBTORCH=python, RUNPATH = torch/lib
#   CHECK info: 1 device(s), CUDA 12.x ...              `xclip-node info` names the GPU, compute capability 9.0
#   CHECK core tests: N passed, 0 failed                C++ tests, test_model_cuda among them
#   CHECK bench <dtype> batch <B> [<variant>]: V videos/s, P% of <dtype> GEMM peak   (xclip-core bench, GEMM measured
#        in the same process on the device); goal: bfloat16 at batch >= 64 with SDPA >= 40% of the bf16 peak; the eager
#        (XCLIP_ATTENTION=eager) and XCLIP_KERNELS=aten rows are the baselines, expected below the SDPA rows
#   CHECK classify e2e: E videos/s vs decode alone D videos/s: R% (expected >= 85% of min(model-only, decode))
#   CHECK jest on cuda: Tests: N passed, N total       parity, processor and e2e suites with XCLIP_TEST_DEVICE=cuda
#        (models loaded on cuda, fp32 within the CPU tolerances, bf16 within the CPU e2e bounds; preprocessing on the
#        GPU equal to the CPU loops bit for bit); the core tests above also compare preprocessing on cuda:0
set -uo pipefail
FIX=${XCLIP_FIXTURES:?set XCLIP_FIXTURES}
OUT=${OUT:-/tmp/xclip-device-node}
mkdir -p "$OUT"
passed=0; failed=0
check() { # name, ok(0|1), value, bound
  echo "CHECK $1: $3 (expected $4)"
  if [ "$2" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}
prefix=/tmp/xclip-deps
mkdir -p "$prefix/bin"
for d in .device/debs/*.deb; do [ -f "$d" ] && dpkg -x "$d" "$prefix"; done
[ -x "$prefix/bin/node" ] || xz -dc .device/node.xz > "$prefix/bin/node" && chmod +x "$prefix/bin/node"
[ -d node_modules ] || tar -xJf node_modules.tar.xz
export PATH="$prefix/bin:$PATH"
export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
export PKG_CONFIG_PATH="$prefix/usr/lib/x86_64-linux-gnu/pkgconfig:$prefix/usr/share/pkgconfig"
export CMAKE_PREFIX_PATH="$prefix/usr;$prefix/usr/share/cmake"
export XCLIP_LIBTORCH=python XCLIP_FIXTURES="$FIX" XCLIP_TEST_DEVICE=cuda
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'

# 1. The addon against PyTorch's libtorch (pkg-config finds the unpacked FFmpeg through PKG_CONFIG_PATH; its .pc
#    files say prefix=/usr, so the include and lib paths are redirected with PKG_CONFIG_SYSROOT_DIR).
start=$(date +%s)
PKG_CONFIG_SYSROOT_DIR="$prefix" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) node scripts/build-native.js > "$OUT/build.log" 2>&1
rc=$?
runpath=$(readelf -d build/Release/xclip.node 2>/dev/null | grep -o 'RUNPATH.*' | head -1)
check build "$rc" "exit $rc in $(( $(date +%s) - start )) s; $runpath" "exit 0; RUNPATH with torch/lib"
[ "$rc" = 0 ] || { tail -30 "$OUT/build.log"; echo "$passed passed, $failed failed"; exit 1; }
info=$(node dist/cli.js info 2>&1 | grep -A4 '^cuda')
echo "$info" | grep -q 'compute capability'; check info $? "$(echo "$info" | tr '\n' ' ')" "1 device(s), CUDA 12.x, NVIDIA H200, compute capability 9.0"

# 2. The core's tests and benches (the CLI carries the same core): GEMM peak measured in the same process.
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DXCLIP_WITH_FFMPEG=OFF > "$OUT/cmake-core.log" 2>&1 &&
  cmake --build build-gpu -j"$(nproc)" > "$OUT/build-core.log" 2>&1
./build-gpu/xclip_core_tests > "$OUT/core-tests.log" 2>&1
summary=$(tail -1 "$OUT/core-tests.log"); echo "$summary" | grep -q ' 0 failed'; check "core tests" $? "$summary" "0 failed"
bench() { # label, env..., -- args
  local label=$1; shift
  local line
  line=$(env "$@" 2>&1 | grep -E 'videos/s' | tail -1)
  echo "$line" >> "$OUT/bench.log"
  check "bench $label" 0 "${line:-no output}" "bf16 batch>=64 with SDPA: >= 40% of bf16 GEMM peak; baselines lower"
}
for dt in float32 bfloat16; do
  for b in 8 32 128; do
    bench "$dt batch $b" ./build-gpu/xclip-core bench --device cuda --dtype $dt --videos $b --texts 16 --iters 5
  done
  bench "$dt batch 128 eager attention" XCLIP_ATTENTION=eager ./build-gpu/xclip-core bench --device cuda --dtype $dt --videos 128 --texts 16 --iters 5
  bench "$dt batch 128 XCLIP_KERNELS=aten" XCLIP_KERNELS=aten ./build-gpu/xclip-core bench --device cuda --dtype $dt --videos 128 --texts 16 --iters 5
done

# 2b. The jest parity, processor and end-to-end suites on the GPU: test/helpers/device.ts reads XCLIP_TEST_DEVICE.
node node_modules/.bin/jest --runInBand test/model/parity.test.ts test/processing test/e2e/classifier.test.ts test/e2e/batching.test.ts \
  test/e2e/score.test.ts test/e2e/cancel.test.ts > "$OUT/jest.log" 2>&1
rc=$?
summary=$(grep -E '^Tests:' "$OUT/jest.log" | tail -1)
check "jest on cuda" "$rc" "${summary:-no summary}" "all passed"

# 3. End to end from files: classify with decoding on every core vs. decoding alone.
files=()
for i in $(seq 1 64); do files+=("$FIX/videos/h264_320x240_30fps.mp4"); done
export UV_THREADPOOL_SIZE=$(( $(nproc) + 1 ))
t0=$(date +%s.%N)
node dist/cli.js classify --model "$FIX/e2e/xclip-e2e-a" --device cuda --batch 64 --labels "a,b,c" "${files[@]}" > "$OUT/classify.log" 2>&1
rc=$?
t1=$(date +%s.%N)
e2e=$(python3 -c "print(round(64 / ($t1 - $t0), 1))")
check "classify e2e" "$rc" "$e2e videos/s (64 files, process start and model load included)" ">= 85% of min(model-only, decode capacity); decode capacity: bench:processing"
echo "$passed passed, $failed failed"
