#!/usr/bin/env bash
# The whole GPU check in one command, for a bare GPU machine with no package index:
#
#   benchmarks/gpu_check.sh [--dry-run] [--budget SECONDS] [--steps a,b,...] RESULTS_DIR
#
# Steps: packages (install the carried wheels), build (pcpr_ext with CUDA for this device), tests
# (the CUDA parametrisations, CUDA-graph rendering), projection, network (the U-Net alone), demo
# (train the demo scene with autocast off and on, render its turntable, time frames at 128² and
# 1024²), cost, render_cost (the demo settings against those before issue 16), scaling; these run
# by default. capture (npcr beside 3D Gaussian Splatting on the carried real capture at full
# resolution, benchmarks/bench_vs_gsplat.py, training budgets NPCR_CAPTURE_BUDGETS seconds, default
# 60,180) runs only when named: it needs a 10-minute call of its own (--steps capture). --steps
# runs only those named (packages and build are always run). RESULTS_DIR receives at most 8 files,
# no folders: projection_<dev>.md, cost_<dev>.md (with the U-Net and render-cost tables),
# scaling_<dev>.md + .png, demo_<dev>.md, demo_<dev>_heldout.png (truth | prediction | error),
# vs_gsplat_<dev>.md + .png (capture), gpu_check.json (every figure) and gpu_check.log (steps,
# times, the end of each step's output). Prepare the carried folder first on a machine with the
# internet: benchmarks/gpu_wheels.sh (wheels in .gpu/wheels, the demo scene in .gpu/demo, with
# --capture PHOTOS the processed capture in .gpu/capture); NPCR_GPU_CARRY names another folder.
#
# --dry-run: the same steps on the CPU at tiny sizes (make test runs it), with open3d, pycolmap and
# viser hidden as they are on the GPU machine. Steps share a time budget (default 450 s): each runs
# under `timeout`, a failed or timed-out step is logged and the next one still runs; the exit status
# is 1 when any step failed, 2 for bad arguments or a machine that cannot run the check.
set -uo pipefail

usage() { echo "usage: benchmarks/gpu_check.sh [--dry-run] [--budget SECONDS] [--steps a,b,...] RESULTS_DIR" >&2; exit 2; }
DEFAULT_STEPS="packages build tests projection network demo cost render_cost scaling"
ALL_STEPS="$DEFAULT_STEPS capture"
DRY=0
BUDGET=450
STEPS=$DEFAULT_STEPS
RESULTS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --budget) [ $# -ge 2 ] || usage; BUDGET=$2; shift ;;
    --steps) [ $# -ge 2 ] || usage; STEPS="packages build ${2//,/ }"; shift ;;
    -h|--help) sed -n '2,/^set /{/^#/p}' "$0"; exit 0 ;;
    -*) usage ;;
    *) [ -z "$RESULTS" ] || usage; RESULTS=$1 ;;
  esac
  shift
done
[ -n "$RESULTS" ] || usage
case "$BUDGET" in ''|*[!0-9]*) echo "gpu_check.sh: --budget must be whole seconds, got '$BUDGET'" >&2; exit 2 ;; esac
for s in $STEPS; do
  case " $ALL_STEPS " in *" $s "*) ;; *) echo "gpu_check.sh: unknown step '$s'; steps: $ALL_STEPS" >&2; exit 2 ;; esac
done

cd "$(dirname "$0")/.." || exit 2
REPO=$PWD
PY=${PYTHON:-python3}
CARRY=$(realpath -m "${NPCR_GPU_CARRY:-.gpu}")
RESULTS=$(realpath -m "$RESULTS")
if [ -e "$RESULTS" ] && [ -n "$(ls -A "$RESULTS")" ]; then
  echo "gpu_check.sh: $RESULTS is not empty; give an empty or new folder" >&2
  exit 2
fi

if [ "$DRY" = 1 ]; then
  DEV=cpu
else
  DEV=cuda
  if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_check.sh: $PY sees no CUDA device (torch with CUDA and a GPU are needed); on a CPU machine use --dry-run" >&2
    exit 2
  fi
  if [ ! -d "$CARRY/wheels" ] || [ ! -d "$CARRY/demo" ]; then
    echo "gpu_check.sh: $CARRY/wheels or $CARRY/demo is missing: run benchmarks/gpu_wheels.sh where pip works and carry $CARRY" >&2
    exit 2
  fi
  case " $STEPS " in *" capture "*)
    if [ ! -d "$CARRY/capture/scene" ]; then
      echo "gpu_check.sh: $CARRY/capture is missing: run benchmarks/gpu_wheels.sh --capture PHOTOS where pip works" >&2
      exit 2
    fi ;;
  esac
fi
mkdir -p "$RESULTS" || exit 2
WORK=$(mktemp -d "${TMPDIR:-/tmp}/npcr_gpu_check.XXXXXX") || exit 2
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/logs" "$WORK/bench"
LOG=$RESULTS/gpu_check.log
START=$SECONDS
FAILED=()

say() { echo "$*" | tee -a "$LOG"; }

# step NAME LIMIT COMMAND...: runs COMMAND under the smaller of LIMIT and the budget left, output in
# $WORK/logs/NAME.log (streamed to stdout); records the result in the log and in FAILED.
step() {
  local name=$1 limit=$2 left rc t0
  shift 2
  case " $STEPS " in *" $name "*) ;; *) say "== $name: not selected"; return 0 ;; esac
  left=$((BUDGET - (SECONDS - START)))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 5 ]; then
    say "== $name: skipped, the ${BUDGET} s budget is spent"
    FAILED+=("$name (not run: budget)")
    return 1
  fi
  say "== $name (limit ${limit} s)"
  t0=$SECONDS
  # a step that is a function of this script runs in a child bash (timeout runs programs only)
  if declare -F "$1" >/dev/null; then set -- bash -c '"$@"' bash "$@"; fi
  timeout --kill-after=10 "$limit" "$@" > >(tee "$WORK/logs/$name.log") 2>&1
  rc=$?
  if [ "$rc" = 0 ]; then
    say "== $name: ok in $((SECONDS - t0)) s"
    tail -n 5 "$WORK/logs/$name.log" | sed 's/^/   | /' >> "$LOG"
  else
    [ "$rc" = 124 ] && rc="124 (timed out)"
    say "== $name: FAILED (exit $rc) after $((SECONDS - t0)) s"
    tail -n 40 "$WORK/logs/$name.log" | sed 's/^/   | /' >> "$LOG"
    FAILED+=("$name")
  fi
  [ "$rc" = 0 ]
}

{
  echo "npcr GPU check ($([ "$DRY" = 1 ] && echo "dry run on the CPU" || echo "on $DEV")), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
  echo "python: $("$PY" --version 2>&1); $("$PY" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda)' 2>&1)"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  echo "cores: $(nproc); budget: ${BUDGET} s"
} | tee "$LOG"

# --- 1. Python packages: the carried wheels, installed beside the machine's own packages -----------
SITE=$WORK/site
STUBS=$WORK/stubs
DATA=$CARRY/demo
if [ "$DRY" = 1 ]; then
  # What the GPU machine lacks is hidden from every step.
  for mod in open3d pycolmap viser; do
    mkdir -p "$STUBS/$mod"
    echo "raise ImportError('$mod is not installed on the GPU machine (gpu_check.sh --dry-run)')" \
      > "$STUBS/$mod/__init__.py"
  done
fi
export PYTHONPATH=$STUBS:$SITE:$REPO${PYTHONPATH:+:$PYTHONPATH}
export DRY DEV PY CARRY SITE STUBS WORK DATA RESULTS
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 MPLBACKEND=Agg

install_wheels() {
  if ls "$CARRY"/wheels/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" \
      "$CARRY"/wheels/*.whl || return 1
  else
    echo "no wheels in $CARRY/wheels: using the installed packages"
  fi
  "$PY" -c "import ignite, yacs, antialiased_cnns, pytorch_msssim, cv2, tensorboard, tqdm, matplotlib
print('ignite', ignite.__version__, '| yacs, antialiased_cnns, pytorch_msssim, cv2, tensorboard: ok')"
}
export -f install_wheels
step packages 60 install_wheels || { say "cannot go on without the packages"; exit 1; }

# --- 2. pcpr_ext with the CUDA kernel, for this device's architecture -------------------------------
build() {
  if [ "$DRY" = 0 ]; then
    TORCH_CUDA_ARCH_LIST=$("$PY" -c "import torch; print('%d.%d' % torch.cuda.get_device_capability())")
    export FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST MAX_JOBS=$(nproc)
    echo "building for compute capability $TORCH_CUDA_ARCH_LIST"
  fi
  "$PY" setup.py -q build_ext --inplace || return 1
  "$PY" -c "import pcpr_ext, sys; b = pcpr_ext.backends(); print('backends:', b)
sys.exit(0 if '$DEV' in b else 'pcpr_ext has no $DEV backend')"
}
export -f build
step build 300 build || { say "cannot go on without pcpr_ext"; exit 1; }

# --- 3. The CUDA parametrisations of the projector and CUDA-graph tests (nothing may skip) ---------
cuda_tests() {
  local out
  if [ "$DRY" = 1 ]; then
    "$PY" -m pytest -q -p no:cacheprovider tests/test_native_projection.py -k "deterministic or border"
    return
  fi
  out=$("$PY" -m pytest -q -rs -p no:cacheprovider tests/test_native_projection.py \
    tests/test_graphed.py 2>&1)
  local rc=$?
  echo "$out"
  if echo "$out" | grep -q "SKIPPED"; then echo "CUDA tests skipped on a GPU machine"; return 1; fi
  return $rc
}
export -f cuda_tests
step tests 180 cuda_tests

# --- 4. Projection: 1M .. 100M points at 1024², L = 4, splat 2, parity with the CPU kernel ----------
if [ "$DRY" = 1 ]; then
  step projection 60 "$PY" benchmarks/bench_projection.py --device cpu --sweep device \
    --max-points 20000 --size 64 --repeats 1 --out "$WORK/bench"
else
  step projection 120 "$PY" benchmarks/bench_projection.py --device cuda --repeats 10 \
    --max-points 100000000 --out "$WORK/bench"
fi

# --- 5. The U-Net alone: GroupNorm, autocast and cuDNN autotuning variants, top kernels -------------
if [ "$DRY" = 1 ]; then
  step network 60 "$PY" benchmarks/bench_unet.py --device cpu --size 64 --train-size 32 --repeats 1 \
    --out "$WORK/bench"
else
  step network 90 "$PY" benchmarks/bench_unet.py --device cuda --out "$WORK/bench"
fi

# --- 6. The demo scene: train with autocast off and on, render the turntable, time frames -----------
demo() {
  local amp epochs sizes turntable=$WORK/turntable_cameras
  local extra=()
  if [ "$DRY" = 1 ]; then
    amp=bf16; epochs=1; sizes="32 64"; extra=(DATASETS.VAL_CAMERAS "[3, 7]" INPUT.CROP "[24, 24]")
    if [ ! -d "$DATA" ]; then  # made here with open3d; on the GPU machine it is carried
      DATA=$WORK/demo
      PYTHONPATH=${PYTHONPATH#"$STUBS":} "$PY" tools/make_demo_scene.py --out "$DATA" --size 32 \
        --cameras 8 --strands 60 --points 3000 || return 1
    fi
  else
    amp=fp16; epochs=30; sizes="128 1024"
  fi
  for mode in off "$amp"; do
    "$PY" tools/train.py --config configs/demo.yml OUTPUT_DIR "$WORK/demo_$mode" \
      DATASETS.ROOT "$DATA" DEVICE "$DEV" SOLVER.AMP "$mode" SOLVER.MAX_EPOCHS "$epochs" \
      SOLVER.CHECKPOINT_PERIOD "$epochs" "${extra[@]}" || return 1
    cp "$WORK/demo_$mode/metrics.json" "$WORK/bench/train_$mode.json"
  done
  head -n 1 "$DATA/CamPose.inf" > "$WORK/start_camera.inf"
  "$PY" exparamgen/exgen.py --campose "$WORK/start_camera.inf" --intrinsics "$DATA/Intrinsic.inf" \
    --pointcloud "$DATA/pointclouds/frame1.txt" --frames 72 --elevation 15 --up 0 0 1 \
    --out "$turntable" || return 1
  "$PY" tools/render.py --output-dir "$WORK/demo_$amp" --cameras "$turntable/CamPose.inf" \
    --intrinsics "$turntable/Intrinsic.inf" --out "$WORK/turntable" || return 1
  test -s "$WORK/turntable/video.mp4" || { echo "render.py wrote no video"; return 1; }
  "$PY" tools/evaluate.py --output-dir "$WORK/demo_off" --out "$WORK/eval" || return 1
  cp "$WORK/eval/metrics.json" "$WORK/bench/eval_off.json"
  cp "$WORK/eval/contact_sheet.png" "$RESULTS/demo_${DEV}_heldout.png"
  for mode in off "$amp"; do
    # shellcheck disable=SC2086
    "$PY" benchmarks/bench_render.py --output-dir "$WORK/demo_$mode" --cameras "$turntable/CamPose.inf" \
      --intrinsics "$turntable/Intrinsic.inf" --sizes $sizes --json "$WORK/bench/render_$mode.json" \
      || return 1
  done
}
export -f demo
step demo 200 demo

# --- 7. Training and rendering cost at NPCR-like settings (1M points, crop 512², F 32, L 4) ---------
if [ "$DRY" = 1 ]; then
  step cost 90 "$PY" benchmarks/bench_cost.py --device cpu --points 20000 --crop 64 --steps 2 \
    --render-size 64 --variants "fp32 eager,autocast" --out "$WORK/bench"
else
  step cost 120 "$PY" benchmarks/bench_cost.py --device cuda --variants "fp32 eager,autocast" \
    --out "$WORK/bench"
fi

# --- 8. Render cost of the demo settings against the settings before issue 16 ----------------------
if [ "$DRY" = 1 ]; then
  step render_cost 60 "$PY" benchmarks/bench_render_cost.py --device cpu --frames 2 --points 20000 \
    --sizes 64 --out "$WORK/bench"
else
  step render_cost 120 "$PY" benchmarks/bench_render_cost.py --device cuda --out "$WORK/bench"
fi

# --- 9. Render time and memory against points (up to 100M), layers and image size ------------------
if [ "$DRY" = 1 ]; then
  step scaling 120 "$PY" benchmarks/bench_scaling.py --device cpu --quick --repeats 1 \
    --max-points 10000 --base-points 10000 --base-size 64 --out "$WORK/bench"
else
  step scaling 200 "$PY" benchmarks/bench_scaling.py --device cuda --max-points 100000000 \
    --out "$WORK/bench"
fi

# --- 10. A real capture at full resolution, npcr beside 3D Gaussian Splatting (gsplat) -------------
capture() {
  local scene=$CARRY/capture/scene sfm=$CARRY/capture/sfm_points.txt
  local budgets=${NPCR_CAPTURE_BUDGETS:-60,180}
  local extra=(--device "$DEV")
  if [ "$DRY" = 0 ]; then  # gsplat compiles its kernels on first use, for this device only
    TORCH_CUDA_ARCH_LIST=$("$PY" -c "import torch; print('%d.%d' % torch.cuda.get_device_capability())")
    export TORCH_CUDA_ARCH_LIST MAX_JOBS=$(nproc)
  else  # a small generated capture, processed here (pycolmap: not hidden)
    scene=$WORK/capture_scene; sfm=$WORK/capture_sparse/pointclouds/frame1.txt; budgets=4
    extra+=(--size 48 64)
    PYTHONPATH=${PYTHONPATH#"$STUBS":} "$PY" -c "from pathlib import Path
import sys; sys.path.insert(0, 'tests')
from box_scene import write_yard_capture
write_yard_capture(Path('$WORK/capture_photos'), count=7, size=(120, 160))" || return 1
    PYTHONPATH=${PYTHONPATH#"$STUBS":} "$PY" tools/process_capture.py "$WORK/capture_photos" \
      "$WORK/capture_sparse" --points sparse || return 1
    PYTHONPATH=${PYTHONPATH#"$STUBS":} "$PY" tools/process_capture.py "$WORK/capture_sparse" \
      "$scene" --points dense --stereo-size 80 --coarse-levels 1 || return 1
  fi
  "$PY" benchmarks/bench_vs_gsplat.py --scene "$scene" --sfm-points "$sfm" --budgets "$budgets" \
    --work "$WORK/vs_gsplat" --out "$WORK/bench" "${extra[@]}"
}
export -f capture
step capture 600 capture

# --- 11. Tables and targets into RESULTS_DIR ---------------------------------------------------------
say "== summary"
"$PY" benchmarks/gpu_summary.py --bench "$WORK/bench" --results "$RESULTS" --device "$DEV" \
  --failed "${FAILED[*]:-}" --seconds $((SECONDS - START)) 2>&1 | tee -a "$LOG"
[ "${PIPESTATUS[0]}" = 0 ] || FAILED+=("summary")
say "total: $((SECONDS - START)) s; failed steps: ${FAILED[*]:-none}"
[ ${#FAILED[@]} = 0 ]
