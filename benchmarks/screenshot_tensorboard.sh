#!/usr/bin/env bash
# Screenshot TensorBoard's time-series page (SVG charts, as headless Chromium has no WebGL) for the
# docs: benchmarks/screenshot_tensorboard.sh LOGDIR OUT.png. Needs Debian's chromium package.
set -euo pipefail
logdir=$1 out=$2 port=${PORT:-6123}
tmp=$(mktemp -d)
.venv/bin/tensorboard --logdir "$logdir" --port "$port" --host 127.0.0.1 >"$tmp/tb.log" 2>&1 &
tb=$!
trap 'kill $tb; rm -rf "$tmp"' EXIT
until curl -sf "http://127.0.0.1:$port/" >/dev/null; do sleep 1; done
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$tmp/profile" --window-size=1500,1000 --virtual-time-budget=30000 \
  --screenshot="$out" \
  "http://127.0.0.1:$port/?forceSVG=true&tagFilter=val%7Ctrain%2Floss%7Cpreview#timeseries"
