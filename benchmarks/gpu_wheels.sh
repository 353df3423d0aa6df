#!/usr/bin/env bash
# Prepares what benchmarks/gpu_check.sh needs on a bare GPU machine, here, where pip works:
#
#   benchmarks/gpu_wheels.sh [CARRY_DIR] [--capture PHOTOS]     (default .gpu, ignored by git)
#
# CARRY_DIR/wheels: the Python 3.12 wheels of the packages the GPU machine lacks (the versions
# requirements.txt pins; torch, numpy, opencv, tensorboard, tqdm, matplotlib, PyYAML, packaging,
# ninja, jaxtyping and rich are there already) and gsplat's (pure Python: it compiles its CUDA
# kernels on first use), the capture step's anchor. CARRY_DIR/demo: the demo scene (made with
# open3d, which cannot be carried: 400 MB). With --capture PHOTOS, CARRY_DIR/capture: PHOTOS
# processed at their own size (up to 1008 px) by tools/process_capture.py, as the capture step
# trains on it (pycolmap cannot be carried either): scene/ (photos as JPEG, quality 95, to keep the
# carried tree small; dense points) and sfm_points.txt (the structure-from-motion points gsplat
# starts from). Carry CARRY_DIR, with nothing else, and run benchmarks/gpu_check.sh there.
set -euo pipefail
cd "$(dirname "$0")/.."
CARRY=.gpu
PHOTOS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --capture) [ $# -ge 2 ] || { echo "gpu_wheels.sh: --capture needs a folder of photos" >&2; exit 2; }
               PHOTOS=$2; shift ;;
    -*) echo "usage: benchmarks/gpu_wheels.sh [CARRY_DIR] [--capture PHOTOS]" >&2; exit 2 ;;
    *) CARRY=$1 ;;
  esac
  shift
done
PY=${PYTHON:-.venv/bin/python}
PACKAGES=(pytorch-ignite yacs antialiased-cnns pytorch-msssim)
ANCHOR=gsplat==1.5.3

[ -x "$PY" ] || { echo "gpu_wheels.sh: $PY not found: run 'make install' first" >&2; exit 2; }
[ -z "$PHOTOS" ] || [ -d "$PHOTOS" ] || { echo "gpu_wheels.sh: $PHOTOS is not a folder" >&2; exit 2; }
pins=()
for name in "${PACKAGES[@]}"; do
  pin=$(grep -i "^$name==" requirements.txt) || { echo "gpu_wheels.sh: requirements.txt pins no $name" >&2; exit 2; }
  pins+=("$pin")
done

tmp=$(mktemp -d "$CARRY.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d "$tmp/wheels" "${pins[@]}" \
  "$ANCHOR"
"$PY" tools/make_demo_scene.py --out "$tmp/demo" --seed 0
if [ -n "$PHOTOS" ]; then
  "$PY" tools/process_capture.py "$PHOTOS" "$tmp/sparse" --points sparse --max-size 1008
  "$PY" tools/process_capture.py "$tmp/sparse" "$tmp/capture/scene" --points dense
  cp "$tmp/sparse/pointclouds/frame1.txt" "$tmp/capture/sfm_points.txt"
  rm -rf "$tmp/sparse"
  "$PY" - "$tmp/capture/scene/img/0" <<'PYEOF'
import sys
from pathlib import Path

import cv2

for png in sorted(Path(sys.argv[1]).glob("img_????.png")):  # photos, not their masks
    if not cv2.imwrite(str(png.with_suffix(".jpg")), cv2.imread(str(png)),
                       [cv2.IMWRITE_JPEG_QUALITY, 95]):
        sys.exit(f"cannot write {png.with_suffix('.jpg')}")
    png.unlink()
PYEOF
fi
rm -rf "$CARRY"
mv "$tmp" "$CARRY"
trap - EXIT
echo "$CARRY: $(ls "$CARRY/wheels" | tr '\n' ' ')"
echo "$CARRY: $(du -sh "$CARRY" | cut -f1) to carry; on the GPU machine run: benchmarks/gpu_check.sh RESULTS_DIR"
[ -z "$PHOTOS" ] || echo "and for the capture step: benchmarks/gpu_check.sh --steps capture --budget 570 RESULTS_DIR"
