#!/usr/bin/env bash
# The whole test suite from a fresh clone: system packages, npm dependencies, native builds, then the C++ core
# tests, the same tests under ASan + UBSan, the fuzzers (bounded) and the jest suites. Each step runs even when an
# earlier one failed. Ends with one line "N passed, N failed[, N skipped]" over all of them.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
LOGDIR="$ROOT/.cache/test"
# playwright-core (the search page test drives Debian's chromium with it) has no install script; this keeps any
# Playwright package from fetching browsers of its own, should one ever be added.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
mkdir -p "$LOGDIR"

bash scripts/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

# Reads "N passed, N failed[, N skipped]" (the last such line) from a log into the variables named by $2..$4; a log
# without one (the runner crashed, a sanitizer aborted it) counts as one failure.
read_counts() {
  local line p=0 f=1 s=0
  line=$(grep -E '^(fuzz: )?[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$1" | tail -n 1 | sed 's/^fuzz: //')
  if [ -n "$line" ]; then
    p=$(echo "$line" | awk '{print $1}'); f=$(echo "$line" | awk '{print $3}' | tr -d ,)
    s=$(echo "$line" | awk '{print ($5 == "" ? 0 : $5)}')
  fi
  printf -v "$2" '%s' "$p"; printf -v "$3" '%s' "$f"; printf -v "$4" '%s' "$s"
}
step_time() { echo "[$1: $(( $(date +%s) - $2 )) s]"; }

# Core: plain CMake, no Node involved (the same build a GPU machine without Node uses).
t=$(date +%s)
cmake -S . -B build-core -G Ninja -DCMAKE_BUILD_TYPE=Release >"$LOGDIR/cmake.log" 2>&1 &&
  cmake --build build-core -j"$(nproc)" 2>&1 | tail -n 3
core_build=${PIPESTATUS[0]}

cpp_passed=0; cpp_failed=0; cpp_skipped=0
if [ "$core_build" -eq 0 ] && [ -x build-core/xclip_core_tests ]; then
  ./build-core/xclip_core_tests 2>&1 | tee "$LOGDIR/cpp.log"
  read_counts "$LOGDIR/cpp.log" cpp_passed cpp_failed cpp_skipped
else
  echo "core build failed (see $LOGDIR/cmake.log)"; cpp_failed=1
fi
step_time "core build + tests" "$t"

# The same C++ tests under AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer (separate build directory).
# Any report aborts the runner, which then has no summary line and counts as a failure. No suppressions: libtorch's
# and FFmpeg's static allocations stay reachable, so LeakSanitizer reports none of them.
t=$(date +%s)
asan_passed=0; asan_failed=0; asan_skipped=0
if cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXCLIP_SANITIZE=ON -DXCLIP_BUILD_TOOLS=OFF \
     >"$LOGDIR/cmake-asan.log" 2>&1 &&
   cmake --build build-asan -j"$(nproc)" >"$LOGDIR/build-asan.log" 2>&1; then
  ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1:check_initialization_order=1" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
    ./build-asan/xclip_core_tests >"$LOGDIR/asan.log" 2>&1
  asan_rc=$?
  read_counts "$LOGDIR/asan.log" asan_passed asan_failed asan_skipped
  # LeakSanitizer reports after the summary line, at exit: a clean summary with a failing exit status is a leak.
  if [ "$asan_rc" -ne 0 ] && [ "$asan_failed" -eq 0 ]; then echo "ASan+UBSan: exit status $asan_rc after the tests"; asan_failed=1; fi
  grep -E '^FAIL|ERROR: .*Sanitizer|runtime error:|SUMMARY:' -A3 "$LOGDIR/asan.log" | head -n 40
  echo "ASan+UBSan: $(tail -n 1 "$LOGDIR/asan.log")"
else
  tail -n 20 "$LOGDIR/cmake-asan.log" "$LOGDIR/build-asan.log"; echo "ASan build failed"; asan_failed=1
fi
step_time "ASan+UBSan build + tests" "$t"

# libFuzzer harnesses, each for a bounded time (FUZZ_SECONDS, default 40); each target counts as one test.
t=$(date +%s)
fuzz_passed=0; fuzz_failed=0; fuzz_skipped=0
bash scripts/fuzz.sh 2>&1 | tee "$LOGDIR/fuzz.log"
read_counts "$LOGDIR/fuzz.log" fuzz_passed fuzz_failed fuzz_skipped
step_time "fuzzers" "$t"

# Counts from a jest --json report: "passed failed skipped"; suites that failed to run (compile errors) have no
# test results, so each counts as one failure. A missing report (jest crashed) is one failure.
jest_counts() {
  if [ -f "$1" ]; then
    node -e '
      const r = require(process.argv[1]);
      const broken = r.testResults.filter(t => t.status === "failed" && t.assertionResults.length === 0).length;
      console.log(r.numPassedTests, r.numFailedTests + broken, r.numPendingTests);' "$1"
  else
    echo "0 1 0"
  fi
}

# Node: npm ci runs the package's install script, which builds the addon with cmake-js.
js_passed=0; js_failed=0; js_skipped=0
pkg_passed=0; pkg_failed=0; pkg_skipped=0
if [ -f package.json ]; then
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund >"$LOGDIR/npm.log" 2>&1 || { echo "npm ci failed:"; tail -n 30 "$LOGDIR/npm.log"; }
  fi
  npm run --silent build >"$LOGDIR/build.log" 2>&1 || { echo "npm run build failed:"; tail -n 30 "$LOGDIR/build.log"; }
  rm -f "$LOGDIR/jest.json"
  t=$(date +%s)
  npx jest --json --outputFile="$LOGDIR/jest.json" 2>&1 | tee "$LOGDIR/jest.log" | grep -vE '^\s*$' | tail -n 40
  read -r js_passed js_failed js_skipped < <(jest_counts "$LOGDIR/jest.json")
  step_time "jest" "$t"

  # The package as npm users get it (test/package/): npm pack, whose prepack makes the prebuilt addon (reusing the
  # build/ made above), npm install of the tarball into an empty folder with no compiler on PATH and npm offline,
  # classification from CommonJS and ESM there; the install script's cases; the Debian runtime line against what
  # the addon loads. After the other jest files, not beside them: packing rewrites dist/ and prebuilds/.
  rm -f "$LOGDIR/jest-package.json"
  t=$(date +%s)
  npx jest -c test/package/jest.config.js --json --outputFile="$LOGDIR/jest-package.json" 2>&1 |
    tee "$LOGDIR/jest-package.log" | grep -vE '^\s*$' | tail -n 30
  read -r pkg_passed pkg_failed pkg_skipped < <(jest_counts "$LOGDIR/jest-package.json")
  step_time "package (pack, install, classify)" "$t"
fi

echo "C++ core: $cpp_passed passed, $cpp_failed failed, $cpp_skipped skipped; ASan+UBSan: $asan_passed passed, $asan_failed failed, $asan_skipped skipped; fuzz: $fuzz_passed passed, $fuzz_failed failed; jest: $js_passed passed, $js_failed failed, $js_skipped skipped; package: $pkg_passed passed, $pkg_failed failed"
passed=$((cpp_passed + asan_passed + fuzz_passed + js_passed + pkg_passed))
failed=$((cpp_failed + asan_failed + fuzz_failed + js_failed + pkg_failed))
skipped=$((cpp_skipped + asan_skipped + fuzz_skipped + js_skipped + pkg_skipped))
# Skipped tests are those that need hardware this machine lacks (CUDA); each prints why.
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
