"""Robustness matrix: every command-line tool, given bad input or a failing disk, prints one clear
`error: ...` line, exits non-zero and leaves no half-written file. (Ctrl-C during training is in
test_resume_distributed.py: it stops after the iteration, saves a resume point, exits 130.)

The README's robustness table lists these cases; keep the two in step."""
import os
import resource
import shutil
import subprocess
import sys

import pytest
import torch

from npcr.data import write_native_scene
from npcr.data.demo_scene import make_demo_scene

TRAIN = ["DATASETS.VAL_CAMERAS", "[1]", "MODEL.UNET_CHANNELS", "[8, 16]", "MODEL.NEAR", "0.5",
         "MODEL.FAR", "10.0", "SOLVER.MAX_EPOCHS", "1"]
DISK_LIMIT = 20_000  # bytes a file may grow to in the "disk full" cases (RLIMIT_FSIZE)


def run(*args, disk_full=False):
    """Run a tool; with ``disk_full`` every file it writes stops growing at DISK_LIMIT bytes
    (writes fail as on a full disk; Python ignores the SIGXFSZ that comes with it)."""
    limit = (lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (DISK_LIMIT, DISK_LIMIT))) \
        if disk_full else None
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, preexec_fn=limit)


def leftovers(folder):
    """Temporary files of interrupted atomic writes under ``folder``."""
    return [p for p in folder.rglob("*") if ".tmp" in p.name or p.name.startswith("tmp")]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny scene and a model trained on it (1 epoch)."""
    root = tmp_path_factory.mktemp("robust")
    s = make_demo_scene(seed=2, size=24, num_cameras=6, strands=40, num_points=2000)
    write_native_scene(root / "scene", s.cam_to_world, s.K, s.images, s.alphas, s.points, s.colors)
    proc = run("tools/train.py", "DATASETS.ROOT", root / "scene", "OUTPUT_DIR", root / "out", *TRAIN)
    assert proc.returncode == 0, proc.stderr
    return root


def copy_scene(world, tmp_path):
    shutil.copytree(world / "scene", tmp_path / "scene")
    return tmp_path / "scene"


def copy_model(world, tmp_path):
    shutil.copytree(world / "out", tmp_path / "out")
    return tmp_path / "out"


def config(tmp_path, text):
    (tmp_path / "c.yml").write_text(text)
    return ["--config", tmp_path / "c.yml"]


# (tool case, how to build the arguments, words the error must contain, exit status)
CASES = {
    "train: missing config": (lambda w, t: ["tools/train.py", "--config", t / "none.yml"],
                              "none.yml: config file not found", 2),
    "train: empty config": (lambda w, t: ["tools/train.py", *config(t, "\n")],
                            "c.yml: empty config file", 2),
    "train: corrupt config": (lambda w, t: ["tools/train.py", *config(t, "SOLVER: [1,\n")],
                              "c.yml:2: not valid YAML", 2),
    "train: unknown config key": (
        lambda w, t: ["tools/train.py", *config(t, "SOLVER:\n  BASE_LRR: 0.1\n")],
        "unknown config key SOLVER.BASE_LRR; did you mean SOLVER.BASE_LR", 2),
    "train: missing dataset": (lambda w, t: ["tools/train.py", "DATASETS.ROOT", t / "nowhere",
                                             "OUTPUT_DIR", t / "o"], "nowhere: dataset not found", 2),
    "train: corrupt image": (
        lambda w, t: ["tools/train.py", "DATASETS.ROOT", corrupt_image(copy_scene(w, t)),
                      "OUTPUT_DIR", t / "o", *TRAIN],
        "img_0002.png: image missing or not decodable", 2),
    "train: NaN in points": (
        lambda w, t: ["tools/train.py", "DATASETS.ROOT", nan_point(copy_scene(w, t)),
                      "OUTPUT_DIR", t / "o", *TRAIN],
        "frame1.txt:3: non-finite number", 2),
    "train: disk full": (
        lambda w, t: ["tools/train.py", "DATASETS.ROOT", w / "scene", "OUTPUT_DIR", t / "o", *TRAIN],
        "cannot write checkpoint", 1),
    "render: missing training folder": (
        lambda w, t: ["tools/render.py", "--output-dir", t / "none"], "config.yml: config file not found", 2),
    "render: truncated checkpoint": (
        lambda w, t: ["tools/render.py", "--output-dir", truncate(copy_model(w, t) / "nr_model_1.pth")],
        "nr_model_1.pth: cannot load checkpoint", 2),
    "render: checkpoint of another model": (
        lambda w, t: ["tools/render.py", "--output-dir", other_shape(copy_model(w, t))],
        "nr_model_1.pth: checkpoint does not fit the configured model", 2),
    "render: malformed camera file": (
        lambda w, t: ["tools/render.py", "--output-dir", w / "out", "--cameras", bad_poses(t),
                      "--out", t / "r"], "poses.inf:2:", 2),
    "render: disk full": (
        lambda w, t: ["tools/render.py", "--output-dir", w / "out", "--size", "160", "160",
                      "--out", t / "r"], "cannot write", 1),
    "evaluate: truncated checkpoint": (
        lambda w, t: ["tools/evaluate.py", "--output-dir",
                      truncate(copy_model(w, t) / "nr_model_1.pth")], "cannot load checkpoint", 2),
    "refine: no refine net trained": (lambda w, t: ["tools/refine.py", "--output-dir", w / "out"],
                                      "train it first", 2),
    "refine: cache without depth": (
        lambda w, t: ["tools/refine.py", "--output-dir", w / "out", "--cache", w / "scene"],
        "depth_0000.npy: missing", 2),
    "inspect_dataset: missing dataset": (lambda w, t: ["tools/inspect_dataset.py", t / "none"],
                                         "none: dataset not found", 2),
    "convert_dataset: missing dataset": (
        lambda w, t: ["tools/convert_dataset.py", "--to", "native", t / "none", t / "o"],
        "none: dataset not found", 2),
    "prepare_points: NaN in points": (
        lambda w, t: ["tools/prepare_points.py", nan_point(copy_scene(w, t)), t / "prepared"],
        "frame1.txt:3: non-finite number", 2),
    "exgen: malformed camera file": (
        lambda w, t: ["exparamgen/exgen.py", "--campose", bad_poses(t), "--intrinsics",
                      w / "scene" / "Intrinsic.inf", "--center", "0", "0", "0", "--out", t / "p"],
        "poses.inf:2:", 2),
}


def corrupt_image(scene):
    (scene / "img" / "0" / "img_0002.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return scene


def nan_point(scene):
    path = scene / "pointclouds" / "frame1.txt"
    lines = path.read_text().splitlines()
    lines[2] = "0.1 nan 0.2 10 20 30"
    path.write_text("\n".join(lines) + "\n")
    return scene


def truncate(path):
    path.write_bytes(path.read_bytes()[:500])
    return path.parent


def other_shape(out):
    state = torch.load(out / "nr_model_1.pth", weights_only=True)
    state["unet.head.weight"] = torch.zeros(5, 8, 1, 1)
    torch.save(state, out / "nr_model_1.pth")
    return out


def bad_poses(tmp_path):
    (tmp_path / "poses.inf").write_text("0 0 1 1 0 0 0 1 0 0 0 3\n0 0 1 1 0 0 0 1 oops 0 0 3\n")
    return tmp_path / "poses.inf"


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gives_one_clear_error(case, world, tmp_path):
    build, words, status = CASES[case]
    proc = run(*build(world, tmp_path), disk_full="disk full" in case)
    assert proc.returncode == status, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error: ") and words in lines[-1], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not leftovers(tmp_path), leftovers(tmp_path)
