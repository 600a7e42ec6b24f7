#!/usr/bin/env bash
# The main job from a fresh clone: system packages, npm install (builds the addon), then a zero-shot
# classification of a sample video. Uses microsoft/xclip-base-patch32 when it is in the Hugging Face cache or
# can be downloaded; otherwise it says so and passes `--model demo`, a generated model whose scores are not
# meaningful (the CLI itself never falls back to it). `--model X` among the arguments picks the model instead.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-built.sh

# A 4-second synthetic clip (FFmpeg's test pattern): no third-party video ships with the package.
sample=.cache/sample.mp4
if [ ! -f "$sample" ]; then
  mkdir -p .cache
  ffmpeg -loglevel error -y -f lavfi -i testsrc2=size=320x240:rate=30:duration=4 -c:v libx264 -pix_fmt yuv420p "$sample"
fi

model=()
case " $* " in
  *" --model "* | *" --model="*) ;;
  *)
    # Resolving the default model downloads it when the network allows (the classification would anyway).
    if ! node -e '
      require("./dist/modelSpec").resolveModelSpec(undefined).then(
        () => process.exit(0),
        (e) => { process.stderr.write(`demo: ${e.message}\n`); process.exit(1); })'; then
      echo "demo: the default checkpoint is not cached and cannot be downloaded here, so this runs with --model demo:" \
        "a small model generated with RANDOM weights. Its scores are NOT meaningful." >&2
      model=(--model demo)
    fi
    ;;
esac

node dist/cli.js classify "$sample" --labels "${LABELS:-a test pattern,playing sports,eating spaghetti,go shopping}" "${model[@]}" "$@"
