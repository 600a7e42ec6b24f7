#!/bin/bash
# Device check (GPU machine with a pip torch 2.x): compiles the core + its C++ tests straight against that
# libtorch (no CMake, no FFmpeg/utf8proc needed) and runs them; test_model_cuda then runs on the GPU.
# Usage from the repository root: XCLIP_FIXTURES=/path/to/fixtures bash scripts/device_check_core.sh
FIX=${XCLIP_FIXTURES:-$PWD/shared/fixtures}
T=$(python3 -c "import torch,os;print(os.path.dirname(torch.__file__))")
O=/tmp/xo; mkdir -p $O
STD=${STD:-c++17}
FL="-std=$STD -O1 -D_GLIBCXX_USE_CXX11_ABI=1 -I$T/include -I$T/include/torch/csrc/api/include -Inative/core/include -Inative/core/tests -DXCLIP_DEFAULT_FIXTURES=\"$FIX\" -w"
SRCS=$(ls native/core/src/*.cc native/core/tests/*.cc | grep -v /video | grep -v /test_video | grep -v tokeni)
start=$(date +%s)
for f in $SRCS; do (g++ $FL -c $f -o $O/$(basename $f).o 2> $O/$(basename $f).err || echo "COMPILE FAIL $f") & done; wait
echo "compile took $(( $(date +%s) - start )) s"
for e in $O/*.err; do [ -s $e ] && { echo "== $e"; head -c 3000 $e; }; done
g++ -o $O/tests $O/*.o -L$T/lib -Wl,--no-as-needed -ltorch -ltorch_cuda -ltorch_cpu -lc10_cuda -lc10 -Wl,--as-needed -Wl,-rpath,$T/lib -lpthread 2>&1 | head -30
XCLIP_FIXTURES=$FIX timeout 300 $O/tests 2>&1 | tail -${TAIL:-40}
