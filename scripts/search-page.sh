#!/usr/bin/env bash
# The search page on sample data, from a fresh clone: system packages and the build (as scripts/demo.sh), six
# generated sample clips (FFmpeg's test sources, 4 s each), an index of them in one-second segments with the demo
# model, then `xclip-node serve --db` on http://127.0.0.1:${PORT:-8080}/ until Ctrl-C. Uses --model demo unless
# `--model X` is given: the generated model's weights are RANDOM, so the page works but its ranking means nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-built.sh

model=(--model demo)
case " $* " in *" --model "* | *" --model="*) model=() ;; esac
dir=.cache/search-page
videos="$dir/videos"
mkdir -p "$videos"
for src in testsrc2 smptebars rgbtestsrc mandelbrot life cellauto; do
  out="$videos/$src.mp4"
  [ -f "$out" ] || ffmpeg -loglevel error -y -f lavfi -i "$src=size=320x240:rate=25" -t 4 -c:v libx264 -pix_fmt yuv420p "$out"
done
if [ ! -f "$dir/index/index.json" ]; then
  node dist/cli.js index add "$videos"/*.mp4 --db "$dir/index" --clip-seconds 1 "${model[@]}" "$@"
fi
echo "search-page: open http://127.0.0.1:${PORT:-8080}/?q=a%20test%20pattern (Ctrl-C stops the server)" >&2
exec node dist/cli.js serve --db "$dir/index" --media-root "$videos" --port "${PORT:-8080}" "${model[@]}" "$@"
