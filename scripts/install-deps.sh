#!/usr/bin/env bash
# Installs the Debian packages xclip-node builds and runs against. Idempotent: packages already
# present are skipped, so a second run costs one dpkg query.
set -euo pipefail

PKGS=(
  libtorch-dev libopenblas0-openmp          # libtorch; without OpenBLAS it falls back to reference BLAS (~20x slower)
  libdnnl-dev                               # headers for the oneDNN libtorch links: CPU Linear layers call it directly
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev
  nlohmann-json3-dev libutf8proc-dev
  g++ cmake pkg-config ninja-build
  ffmpeg                                    # CLI only: makes the sample video and the bench's test clips
  clang libclang-rt-14-dev llvm             # reliability checks: libFuzzer + ASan/UBSan runtimes, llvm-symbolizer
  python3                                   # scripts/fuzz.sh writes the fuzzers' seeds from the fixtures
  redis-server                              # the job queue's tests and bench start their own on 127.0.0.1
  chromium                                  # the search page's browser test drives it headless (playwright-core)
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
