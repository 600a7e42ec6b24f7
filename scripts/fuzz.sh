#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, ASan + UBSan, build-fuzz/) and runs each for a bounded time.
# Seeds come from the fixtures at run time (../shared/fixtures or $XCLIP_FIXTURES) into build-fuzz/seeds/; inputs
# libFuzzer finds go to build-fuzz/corpus/ and crashes to build-fuzz/crashes/. Any crash, leak or timeout fails.
#
#   FUZZ_SECONDS=40   seconds per target (5 targets: ~3.5 min in all on 2 cores)
#   FUZZ_TARGETS="fuzz_config fuzz_video"   a subset
#
# Prints one line per target ("fuzz_x: N inputs in S s, ok" or "... CRASH <file>") and ends with
# "fuzz: N passed, N failed" (one test per target).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECONDS_PER_TARGET=${FUZZ_SECONDS:-40}
TARGETS=${FUZZ_TARGETS:-"fuzz_safetensors fuzz_pickle fuzz_config fuzz_tokenizer fuzz_video"}
FIXTURES=${XCLIP_FIXTURES:-$ROOT/../shared/fixtures}
FIXTURES=$(cd "$FIXTURES" 2>/dev/null && pwd) || { echo "fuzz: fixtures not found (set XCLIP_FIXTURES)"; echo "fuzz: 0 passed, 1 failed"; exit 1; }
export XCLIP_FIXTURES=$FIXTURES
B=build-fuzz
mkdir -p "$B"

echo "fuzz: building ($B, clang, ASan + UBSan + libFuzzer)"
if ! { CC=clang CXX=clang++ cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXCLIP_BUILD_FUZZERS=ON \
         -DXCLIP_BUILD_TESTS=OFF -DXCLIP_BUILD_TOOLS=OFF -DXCLIP_WITH_FFMPEG=ON >"$B/cmake.log" 2>&1 &&
       cmake --build $B -j"${FUZZ_JOBS:-2}" >"$B/build.log" 2>&1; }; then
  tail -n 30 "$B/cmake.log" "$B/build.log"
  echo "fuzz: build failed"
  n=$(echo $TARGETS | wc -w)
  echo "fuzz: 0 passed, $n failed"
  exit 1
fi

# Seeds, rebuilt from the fixtures on every run (nothing is copied into the repository).
rm -rf "$B/seeds"
mkdir -p "$B/seeds"/{fuzz_safetensors,fuzz_pickle,fuzz_config,fuzz_tokenizer,fuzz_video}
for f in "$FIXTURES"/cases/xclip-tiny3/*.safetensors "$FIXTURES"/models/xclip-tiny3/model.safetensors; do
  ln -s "$f" "$B/seeds/fuzz_safetensors/$(basename "$(dirname "$f")")-$(basename "$f")"
done
for f in "$FIXTURES"/models/*/config.json "$FIXTURES"/e2e/*/config.json; do
  ln -s "$f" "$B/seeds/fuzz_config/$(basename "$(dirname "$f")").json"
done
python3 - "$FIXTURES" "$B/seeds" <<'EOF'
import json, os, struct, sys, zipfile
fx, out = sys.argv[1], sys.argv[2]
def put(target, name, data):
    with open(os.path.join(out, target, name), 'wb') as f:
        f.write(data)
# Pickle: 'P' + data.pkl of the legacy checkpoint (the harness wraps it in an archive with data/0..9 records).
with zipfile.ZipFile(os.path.join(fx, 'models/xclip-tiny4-gelu-legacy-bin/pytorch_model.bin')) as z:
    pkl = [n for n in z.namelist() if n.endswith('data.pkl')][0]
    put('fuzz_pickle', 'tiny4-data.pkl', b'P' + z.read(pkl))
# Tokenizer: texts of the encoding fixtures ('E'), their ids ('D'), and the small JSON files ('L').
cases = json.load(open(os.path.join(fx, 'tokenizer/encodings.json')))['cases']
for i, c in enumerate(cases[::4]):
    put('fuzz_tokenizer', f'text-{i}', b'E' + c['text'].encode('utf-8'))
for i, c in enumerate(cases[:40:4]):
    put('fuzz_tokenizer', f'ids-{i}', b'D' + b''.join(struct.pack('<H', x) for x in c['fast']['input_ids']))
tok = lambda n: open(os.path.join(fx, 'tokenizer', n), 'rb').read()
put('fuzz_tokenizer', 'load-configs', b'L' + b'\0' + b'#version: 0.2\n' + b'\0' + tok('tokenizer_config.json') + b'\0' + tok('special_tokens_map.json'))
# Video: byte 0 picks sampling/threads/frames, the rest is the file.
modes = [0x06, 0x4F, 0x83, 0x0C]
videos = [os.path.join(d, n) for d in (os.path.join(fx, 'videos'), os.path.join(fx, 'videos-external'))
          for n in sorted(os.listdir(d)) if n.rsplit('.', 1)[-1] in ('mp4', 'webm', 'avi', 'mov', 'mkv')]
for i, p in enumerate(videos):
    put('fuzz_video', os.path.basename(p), bytes([modes[i % len(modes)]]) + open(p, 'rb').read())
h264 = open(os.path.join(fx, 'videos', 'h264_320x240_30fps.mp4'), 'rb').read()
# Repeated output frames (mode 0x20: indices 0, 1, 0, 1, ...; 0x0E: 8 of them).
put('fuzz_video', 'repeated-indices', bytes([0x2E]) + h264)
# The bytes change between the packet scan and the decoding passes (mode 0x10).
put('fuzz_video', 'changed-between-passes', bytes([0x10]) + h264)
# Files that name other files: nothing may be opened, whatever the mutation.
for name, text in [('hls', '#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:2.0,\nclip.mp4\n#EXT-X-ENDLIST\n'),
                   ('hls-variant', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nlist.m3u8\n'),
                   ('ffconcat', 'ffconcat version 1.0\nfile clip.mp4\n'),
                   ('sdp', 'v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video 5004 RTP/AVP 96\n')]:
    put('fuzz_video', 'list-' + name, b'\x06' + text.encode())
# MP4 sample tables claiming far more samples than the file holds (refused before FFmpeg builds an index).
def box(t, p): return struct.pack('>I', 8 + len(p)) + t + p
def full(t, vf, p): return box(t, struct.pack('>I', vf) + p)
def claims(samples, edits=0, fragment=0, data=64, in_dinf=False):
    m = struct.pack('>9I', 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    tkhd = full(b'tkhd', 3, struct.pack('>5I', 0, 0, 1, 0, samples) + b'\0' * 16 + m + struct.pack('>2I', 64 << 16, 48 << 16))
    edts = box(b'edts', full(b'elst', 0, struct.pack('>I', edits) + struct.pack('>IiI', samples, 0, 0x10000) * edits)) if edits else b''
    entry = b'\0' * 6 + struct.pack('>H', 1) + b'\0' * 16 + struct.pack('>HHIII', 64, 48, 0x480000, 0x480000, 0) \
        + struct.pack('>H', 1) + b'\0' * 32 + struct.pack('>Hh', 24, -1)
    stbl = box(b'stbl', full(b'stsd', 0, struct.pack('>I', 1) + box(b'jpeg', entry)) + full(b'stts', 0, struct.pack('>3I', 1, samples, 1))
               + full(b'stsc', 0, struct.pack('>4I', 1, 1, samples, 1)) + full(b'stsz', 0, struct.pack('>2I', 1, samples))
               + full(b'stco', 0, struct.pack('>2I', 1, 0)))
    dref = full(b'dref', 0, struct.pack('>I', 1) + full(b'url ', 1, b''))
    # FFmpeg reads a stbl wherever it sits, inside dinf too.
    minf = box(b'minf', full(b'vmhd', 1, b'\0' * 8) + (box(b'dinf', dref + stbl) if in_dinf else box(b'dinf', dref) + stbl))
    mdia = box(b'mdia', full(b'mdhd', 0, struct.pack('>5I', 0, 0, 25, samples, 0x55c40000))
               + full(b'hdlr', 0, b'\0' * 4 + b'vide' + b'\0' * 12 + b'v\0') + minf)
    mvhd = full(b'mvhd', 0, struct.pack('>5IH', 0, 0, 25, samples, 0x10000, 0x100) + b'\0' * 10 + m + b'\0' * 24 + struct.pack('>I', 2))
    mvex = box(b'mvex', full(b'trex', 0, struct.pack('>5I', 1, 1, 1, 1, 0))) if fragment else b''
    out = box(b'ftyp', b'isom' + struct.pack('>I', 512) + b'isomiso2mp41') + box(b'moov', mvhd + box(b'trak', tkhd + edts + mdia) + mvex)
    if fragment:
        out += box(b'moof', full(b'mfhd', 0, struct.pack('>I', 1)) + box(b'traf', full(b'tfhd', 0x020000, struct.pack('>I', 1))
                                                                       + full(b'trun', 0, struct.pack('>I', fragment))))
    return out + box(b'mdat', b'\xff' * data)
put('fuzz_video', 'claims-stsz', b'\x06' + claims(89000000))
put('fuzz_video', 'claims-in-dinf', b'\x06' + claims(89000000, in_dinf=True))
put('fuzz_video', 'claims-elst', b'\x06' + claims(2000, edits=500, data=2000))
put('fuzz_video', 'claims-trun', b'\x06' + claims(1, fragment=80000000))
put('fuzz_video', 'claims-fit', b'\x06' + claims(25))
# Mirrored display matrix (horizontal flip), applied (mode 0x80).
i = h264.index(b'tkhd') - 4
mirrored = bytearray(h264)
mirrored[i + 8 + 4 + 20 + 16:i + 8 + 4 + 20 + 16 + 4] = struct.pack('>i', -0x10000)
put('fuzz_video', 'mirrored', bytes([0x86]) + bytes(mirrored))
EOF

passed=0; failed=0
for t in $TARGETS; do
  rm -rf "$B/crashes/$t"  # what is there now comes from this run
  mkdir -p "$B/corpus/$t" "$B/crashes/$t"
  log="$B/$t.log"
  start=$(date +%s)
  # -timeout: one input running this long is a hang; -rss_limit_mb: libtorch alone maps ~600 MB under ASan.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
  "$B/$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=25 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$B/crashes/$t/" "$B/corpus/$t" "$B/seeds/$t" >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n 1)
  crash=$(ls -t "$B/crashes/$t" 2>/dev/null | head -n 1)
  if [ "$rc" -eq 0 ] && [ -z "$crash" ]; then
    echo "$t: ${execs:-?} inputs in ${secs} s, ok"
    passed=$((passed + 1))
  else
    echo "$t: ${execs:-?} inputs in ${secs} s, FAILED (rc $rc${crash:+, input $B/crashes/$t/$crash})"
    grep -E 'ERROR|SUMMARY|runtime error|==[0-9]+==' "$log" | head -n 15
    failed=$((failed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
