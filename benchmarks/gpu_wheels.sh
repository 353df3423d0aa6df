#!/usr/bin/env bash
# Prepares what benchmarks/gpu_check.sh needs on a bare GPU machine, here, where pip works:
#
#   benchmarks/gpu_wheels.sh [CARRY_DIR]        (default .gpu, ignored by git)
#
# CARRY_DIR/wheels: the Python 3.12 wheels of the packages the GPU machine lacks (the versions
# requirements.txt pins; torch, numpy, opencv, tensorboard, tqdm, matplotlib, PyYAML, packaging and
# ninja are there already). CARRY_DIR/demo: the demo scene (made with open3d, which cannot be
# carried: 400 MB). Carry CARRY_DIR, with nothing else, and run benchmarks/gpu_check.sh there.
set -euo pipefail
cd "$(dirname "$0")/.."
CARRY=${1:-.gpu}
PY=${PYTHON:-.venv/bin/python}
PACKAGES=(pytorch-ignite yacs antialiased-cnns pytorch-msssim)

[ -x "$PY" ] || { echo "gpu_wheels.sh: $PY not found: run 'make install' first" >&2; exit 2; }
pins=()
for name in "${PACKAGES[@]}"; do
  pin=$(grep -i "^$name==" requirements.txt) || { echo "gpu_wheels.sh: requirements.txt pins no $name" >&2; exit 2; }
  pins+=("$pin")
done

tmp=$(mktemp -d "$CARRY.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d "$tmp/wheels" "${pins[@]}"
"$PY" tools/make_demo_scene.py --out "$tmp/demo" --seed 0
rm -rf "$CARRY"
mv "$tmp" "$CARRY"
trap - EXIT
echo "$CARRY: $(ls "$CARRY/wheels" | tr '\n' ' ')"
echo "$CARRY: $(du -sh "$CARRY" | cut -f1) to carry; on the GPU machine run: benchmarks/gpu_check.sh RESULTS_DIR"
