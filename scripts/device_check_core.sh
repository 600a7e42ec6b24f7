#!/usr/bin/env bash
# GPU check of the native core on a machine without Node or apt (e.g. the device machine): builds the core, its
# tests and the CLI with CMake against the libtorch inside python3's PyTorch (2.x, CUDA), without FFmpeg, then
# runs the C++ tests (test_model_cuda runs on the GPU there), a CUDA parity check and a benchmark.
# Debian packages it lacks (utf8proc, nlohmann-json) come as .debs in $DEPS, unpacked with dpkg -x.
# Usage from the repository root: XCLIP_FIXTURES=/path/to/fixtures DEPS=.deps bash scripts/device_check_core.sh
set -uo pipefail
FIX=${XCLIP_FIXTURES:?set XCLIP_FIXTURES}
DEPS=${DEPS:-.deps}
OUT=${OUT:-/tmp/xclip-device}
mkdir -p "$OUT"
prefix=/tmp/xclip-deps
mkdir -p $prefix
for d in "$DEPS"/*.deb; do [ -f "$d" ] && dpkg -x "$d" $prefix; done
TORCH_PREFIX=$(python3 -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'
start=$(date +%s)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DXCLIP_WITH_FFMPEG=OFF \
  -DLIBTORCH="$TORCH_PREFIX" -DCMAKE_PREFIX_PATH="$prefix/usr;$prefix/usr/share/cmake" \
  -DCMAKE_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu" >"$OUT/cmake.log" 2>&1 || { tail -40 "$OUT/cmake.log"; exit 1; }
cmake --build build-gpu -j"$(nproc)" >"$OUT/build.log" 2>&1 || { grep -E "error|Error" "$OUT/build.log" | head -40; exit 1; }
echo "build took $(( $(date +%s) - start )) s"
export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
export XCLIP_FIXTURES="$FIX"
./build-gpu/xclip-core info | head -6
if [ -n "${GDB:-}" ]; then
  $GDB -batch -ex run -ex bt --args ./build-gpu/xclip_core_tests > "$OUT/tests.log" 2>&1
  grep -E "FAIL|cuda|passed|signal|^#" "$OUT/tests.log" | head -60
else
  ./build-gpu/xclip_core_tests 2>&1 | tee "$OUT/tests.log" | grep -E "FAIL|cuda|passed" | head -40
fi
[ "${BENCH:-1}" = 1 ] || exit 0
for m in xclip-tiny8 xclip-deep12; do
  ./build-gpu/xclip-core check "$FIX/models/$m" "$FIX/cases/$m" --device cuda > "$OUT/check-$m.log" 2>&1
  echo "check $m on cuda: exit $? ($(tail -1 "$OUT/check-$m.log"))"
done
for dt in float32 bfloat16; do
  ./build-gpu/xclip-core bench --device cuda --dtype $dt --videos 8 --texts 16 --iters 5 2>&1 | tee "$OUT/bench-$dt.log"
done
