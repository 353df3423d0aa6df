"""Robustness matrix: every command-line tool, given bad input or a failing disk, prints one clear
`error: ...` line, exits non-zero and leaves no half-written file. (Ctrl-C during training is in
test_resume_distributed.py: it stops after the iteration, saves a resume point, exits 130.)

docs/robustness.md's table lists these cases; keep the two in step."""
import argparse
import importlib
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from npcr.data import write_native_scene
from npcr.data.demo_scene import make_demo_scene
from npcr.data.images import read_image
from npcr.outputs import STAGING_PREFIX
from helpers import free_port, run_tool

pytestmark = pytest.mark.e2e

TRAIN = ["DATASETS.VAL_CAMERAS", "[1]", "MODEL.UNET_CHANNELS", "[8, 16]", "MODEL.NEAR", "0.5",
         "MODEL.FAR", "10.0", "SOLVER.MAX_EPOCHS", "1"]
DISK_LIMIT = 20_000  # bytes a file may grow to in the "disk full" cases (RLIMIT_FSIZE)


def run(*args, disk_full=False):
    """Run a tool; with ``disk_full`` every file it writes stops growing at DISK_LIMIT bytes
    (writes fail as on a full disk; Python ignores the SIGXFSZ that comes with it)."""
    limit = (lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (DISK_LIMIT, DISK_LIMIT))) \
        if disk_full else None
    return run_tool(*args, ok=False, preexec_fn=limit)


# Each tool script's command module (tools/X.py is `from npcr.commands.X import cli; cli()`).
MODULES = {f"tools/{path.stem}.py": f"npcr.commands.{path.stem}"
           for path in Path(__file__).parents[1].glob("tools/*.py")} | \
    {"exparamgen/exgen.py": "exparamgen.exgen"}


def run_in_process(monkeypatch, capsys, tool, *args):
    """Run ``tool``'s command in this process (no interpreter to start: about 4 s less a case) as
    its script would: returns (exit status, stderr)."""
    module = importlib.import_module(MODULES[tool])
    monkeypatch.setattr(sys, "argv", [tool, *map(str, args)])
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        module.cli()
        sys.exit(0)
    return stop.value.code, capsys.readouterr().err


def leftovers(folder):
    """Temporary files of interrupted atomic writes, or staging folders, under ``folder``."""
    return [p for p in folder.rglob("*") if ".tmp" in p.name or p.name.startswith("tmp")
            or p.name.startswith(STAGING_PREFIX)]


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
    "train: python file as config": (lambda w, t: ["tools/train.py", "--config", py_config(t)],
                                     "c.py: a config must be a .yml or .yaml file", 2),
    "train: config that is a list": (lambda w, t: ["tools/train.py", *config(t, "- 1\n- 2\n")],
                                     "c.yml: a config must be a mapping", 2),
    "train: batch of zero": (lambda w, t: ["tools/train.py", "SOLVER.IMS_PER_BATCH", "0"],
                             "SOLVER.IMS_PER_BATCH must be an integer >= 1, got 0", 2),
    "train: zero layers": (lambda w, t: ["tools/train.py", "MODEL.NUM_LAYERS", "0"],
                           "MODEL.NUM_LAYERS must be an integer >= 1", 2),
    "train: one-number image size": (lambda w, t: ["tools/train.py", "INPUT.SIZE", "[64]"],
                                     "INPUT.SIZE must be [0, 0] or [height, width] > 0", 2),
    "train: negative size": (lambda w, t: ["tools/train.py", "INPUT.SIZE", "[-64, 64]"],
                             "INPUT.SIZE must be", 2),
    "train: no U-Net levels": (lambda w, t: ["tools/train.py", "MODEL.UNET_CHANNELS", "[]"],
                               "MODEL.UNET_CHANNELS must be a non-empty list", 2),
    "train: unknown backend": (lambda w, t: ["tools/train.py", "MODEL.BACKEND", "bogus"],
                               "MODEL.BACKEND must be auto, torch, cpu or cuda, got 'bogus'", 2),
    "train: unknown device": (lambda w, t: ["tools/train.py", "DEVICE", "tpu"],
                              "DEVICE must be auto, cpu, cuda or cuda:N, got 'tpu'", 2),
    "train: negative zoom": (lambda w, t: ["tools/train.py", "INPUT.ZOOM_RANGE", "[-1.0, 0.0]"],
                             "INPUT.ZOOM_RANGE must be [low, high] with 0 < low <= high", 2),
    "train: negative learning rate": (lambda w, t: ["tools/train.py", "SOLVER.BASE_LR", "-1.0"],
                                      "SOLVER.BASE_LR must be a learning rate > 0", 2),
    "train: negative epochs": (lambda w, t: ["tools/train.py", "SOLVER.MAX_EPOCHS", "-3"],
                               "SOLVER.MAX_EPOCHS must be an integer >= 1", 2),
    "train: into a trained run without RESUME": (
        lambda w, t: ["tools/train.py", "DATASETS.ROOT", w / "scene", "OUTPUT_DIR",
                      copy_model(w, t), *TRAIN], "already holds a trained run (epochs [1])", 2),
    "train: RESUME with another feature size": (
        lambda w, t: ["tools/train.py", "DATASETS.ROOT", w / "scene", "OUTPUT_DIR",
                      copy_model(w, t), *TRAIN, "RESUME", "True", "MODEL.FEATURE_DIM", "4"],
        "MODEL.FEATURE_DIM: 8 -> 4", 2),
    "train: run already writing there": (
        lambda w, t: ["tools/train.py", "DATASETS.ROOT", w / "scene", "OUTPUT_DIR",
                      locked(t / "o"), *TRAIN], "another training (PID 1) is writing there", 2),
    "train: missing dataset": (lambda w, t: ["tools/train.py", "DATASETS.ROOT", t / "nowhere",
                                             "OUTPUT_DIR", t / "o"], "nowhere: dataset not found", 2),
    "train: corrupt image": (
        lambda w, t: ["tools/train.py", "DATASETS.ROOT", corrupt_image(copy_scene(w, t)),
                      "OUTPUT_DIR", t / "o", *TRAIN],
        "img_0002.png: truncated PNG (no IEND chunk)", 2),
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
    "convert_dataset: output not empty": (
        lambda w, t: ["tools/convert_dataset.py", "--to", "native", w / "scene", keep_file(t / "o")],
        "o: folder exists and is not empty (notes.txt); choose a new folder, or pass --overwrite", 2),
    "convert_dataset: output inside the input": (
        lambda w, t: ["tools/convert_dataset.py", "--to", "native", copy_scene(w, t),
                      t / "scene" / "converted"], "must lie apart from the input", 2),
    "convert_dataset: output holds the input": (
        lambda w, t: ["tools/convert_dataset.py", "--to", "native", "--overwrite",
                      copy_scene(w, t), t], "must lie apart from the input", 2),
    "prepare_points: output not empty": (
        lambda w, t: ["tools/prepare_points.py", w / "scene", keep_file(t / "o")],
        "folder exists and is not empty", 2),
    "render: config asks for other features": (
        lambda w, t: ["tools/render.py", "--output-dir", feature_dim(copy_model(w, t), 4)],
        "(MODEL.FEATURE_DIM 4) asks for", 2),
    "train: binary camera file": (
        lambda w, t: ["tools/train.py", "DATASETS.ROOT", binary_poses(copy_scene(w, t)),
                      "OUTPUT_DIR", t / "o", *TRAIN], "CamPose.inf:2: not a text file (byte 0x80", 2),
    "train: truncated JPEG": (
        lambda w, t: ["tools/train.py", "DATASETS.ROOT", truncated_jpeg(copy_scene(w, t)),
                      "OUTPUT_DIR", t / "o", *TRAIN], "img_0002.jpg: truncated JPEG", 2),
    "train: intrinsics of another image size": (
        lambda w, t: ["tools/train.py", "DATASETS.ROOT", doubled_intrinsics(copy_scene(w, t)),
                      "OUTPUT_DIR", t / "o", *TRAIN], "the intrinsics are for another image size", 2),
    "render: frame too large for memory": (
        lambda w, t: ["tools/render.py", "--output-dir", w / "out", "--size", "30000", "30000",
                      "--out", t / "r"], "a 30000x30000 frame needs at least", 2),
    "refine: pickled depth map": (
        lambda w, t: ["tools/refine.py", "--output-dir", trained_refine(copy_model(w, t)),
                      "--cache", pickled_depth(w, t), "--out", t / "r"],
        "depth_0000.npy: not a depth map written by tools/render.py --depth", 2),
    "render: NaN orbit": (lambda w, t: ["tools/render.py", "--output-dir", w / "out", "--orbit",
                                        "nan:90", "--out", t / "r"], "--orbit", 2),
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
    "exgen: --out is the scene it reads": (
        lambda w, t: ["exparamgen/exgen.py", "--campose", copy_scene(w, t) / "CamPose.inf",
                      "--intrinsics", t / "scene" / "Intrinsic.inf", "--center", "0", "0", "0",
                      "--out", t / "scene"], "scene: holds a scene (CamPose.inf)", 2),
    "render: --out is a scene": (
        lambda w, t: ["tools/render.py", "--output-dir", w / "out", "--out", copy_scene(w, t)],
        "scene: holds a scene (CamPose.inf); write tools/render.py's output to another folder", 2),
    "refine: --out is a scene": (
        lambda w, t: ["tools/refine.py", "--output-dir", w / "out", "--out", copy_scene(w, t)],
        "scene: holds a scene (CamPose.inf)", 2),
    "inspect_dataset: --out is a scene": (
        lambda w, t: ["tools/inspect_dataset.py", w / "scene", "--out", copy_scene(w, t)],
        "scene: holds a scene (CamPose.inf)", 2),
    "view: --path-out is a scene": (
        lambda w, t: ["tools/view.py", "--output-dir", w / "out", "--port", str(free_port()),
                      "--path-out", copy_scene(w, t)], "scene: holds a scene (CamPose.inf)", 2),
    "train: OUTPUT_DIR is the scene": (
        lambda w, t: ["tools/train.py", "DATASETS.ROOT", copy_scene(w, t), "OUTPUT_DIR", t / "scene",
                      *TRAIN], "scene: holds a scene (CamPose.inf); write the training's", 2),
    "evaluate: --out is the training run": (
        lambda w, t: ["tools/evaluate.py", "--output-dir", copy_model(w, t), "--out", t / "out"],
        "out: holds a training run (config.yml and checkpoints)", 2),
    "render: --out holds a camera path of exgen's": (
        lambda w, t: ["tools/render.py", "--output-dir", w / "out", "--out", exgen_path(w, t)],
        "holds the output of another tool (exparamgen/exgen.py)", 2),
    "refine --train: an earlier refine run": (
        lambda w, t: ["tools/refine.py", "--train", "--output-dir", trained_refine(copy_model(w, t)),
                      "REFINE.MAX_EPOCHS", "1"],
        "refine already holds a trained run (epochs [1]): RESUME True continues it", 2),
    "refine --train: another refine training at work": (
        lambda w, t: ["tools/refine.py", "--train", "--output-dir", locked_refine(copy_model(w, t))],
        "refine: another training (PID 1) is writing there", 2),
    "train: NEAR/FAR leave every point outside": (
        lambda w, t: ["tools/train.py", "DATASETS.ROOT", w / "scene", "OUTPUT_DIR", t / "o", *TRAIN,
                      "MODEL.NEAR", "100.0", "MODEL.FAR", "200.0"],
        "no training camera sees a point within MODEL.NEAR 100 / MODEL.FAR 200", 2),
    "render: a checkpoint with NaN weights": (
        lambda w, t: ["tools/render.py", "--output-dir", nan_weights(copy_model(w, t)), "--out",
                      t / "r"], "nr_model_1.pth: 3 non-finite values (NaN or inf) in", 2),
    "prepare_points: cleaning leaves no points": (
        lambda w, t: ["tools/prepare_points.py", w / "scene", t / "p", "--min-views", "1000"],
        "frame 0 has no points left (input 2000, in_views 0, cleaned 0)", 2),
    "train: dataset is a symbolic link loop": (
        lambda w, t: ["tools/train.py", "DATASETS.ROOT", loop(t), "OUTPUT_DIR", t / "o"],
        "loop: a symbolic link loop", 2),
    "convert_dataset: input is a symbolic link loop": (
        lambda w, t: ["tools/convert_dataset.py", "--to", "native", loop(t), t / "o"],
        "loop: a symbolic link loop", 2),
}


def exgen_path(world, tmp_path):
    """A camera path written by exgen."""
    run_tool("exparamgen/exgen.py", "--campose", world / "scene" / "CamPose.inf", "--intrinsics",
             world / "scene" / "Intrinsic.inf", "--center", "0", "0", "0", "--frames", "3",
             "--out", tmp_path / "path")
    return tmp_path / "path"


def locked_refine(out):
    locked(out / "refine")
    return out


def nan_weights(out):
    state = torch.load(out / "nr_model_1.pth", weights_only=True)
    name = next(k for k, v in state.items() if v.is_floating_point() and v.numel() >= 3)
    state[name].view(-1)[:3] = float("nan")
    torch.save(state, out / "nr_model_1.pth")
    return out


def loop(tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    return tmp_path / "loop"


def py_config(tmp_path):
    """A Python file as config: yacs would run it (it would write ran.txt)."""
    (tmp_path / "c.py").write_text(f"open({str(tmp_path / 'ran.txt')!r}, 'w').write('ran')\n")
    return tmp_path / "c.py"


def locked(out):
    """An OUTPUT_DIR whose lock is held by a live process (PID 1, always alive)."""
    out.mkdir()
    (out / ".npcr.lock").write_text("1\n")
    return out


def feature_dim(out, dim):
    path = out / "config.yml"
    path.write_text(path.read_text().replace("FEATURE_DIM: 8", f"FEATURE_DIM: {dim}"))
    return out


def binary_poses(scene):
    (scene / "CamPose.inf").write_bytes(bytes(range(256)))
    return scene


def truncated_jpeg(scene):
    import cv2

    png = scene / "img" / "0" / "img_0002.png"
    ok, jpg = cv2.imencode(".jpg", cv2.imread(str(png)))
    png.unlink()
    (scene / "img" / "0" / "img_0002.jpg").write_bytes(jpg.tobytes()[: len(jpg) // 2])
    return scene


def doubled_intrinsics(scene):
    """Intrinsics for images twice the size of the scene's (as if the photos were halved)."""
    from npcr.data import read_intrinsics, write_intrinsics

    K = read_intrinsics(scene / "Intrinsic.inf")
    K[:, :2] *= 2
    write_intrinsics(scene / "Intrinsic.inf", K)
    return scene


def trained_refine(out):
    """``out`` (a copy of the world's model) with a refine net trained for 1 epoch."""
    proc = run("tools/refine.py", "--train", "--output-dir", out, "REFINE.MAX_EPOCHS", "1")
    assert proc.returncode == 0, proc.stderr
    return out


def pickled_depth(world, tmp_path):
    """A render.py --depth folder whose first depth map is a pickled object array."""
    import numpy as np

    proc = run("tools/render.py", "--output-dir", world / "out", "--depth", "--out", tmp_path / "c")
    assert proc.returncode == 0, proc.stderr
    np.save(tmp_path / "c" / "depth_0000.npy", np.array([{"not": "a depth map"}]), allow_pickle=True)
    return tmp_path / "c"


def keep_file(folder):
    folder.mkdir()
    (folder / "notes.txt").write_text("the user's own file")
    return folder


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
def test_bad_input_gives_one_clear_error(case, world, tmp_path, monkeypatch, capsys):
    build, words, status = CASES[case]
    args = build(world, tmp_path)
    if "disk full" in case:  # a file-size limit needs a process of its own
        proc = run(*args, disk_full=True)
        code, err = proc.returncode, proc.stderr
    else:
        code, err = run_in_process(monkeypatch, capsys, *args)
    assert code == status, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error: ") and words in lines[-1], err
    assert "Traceback" not in err
    assert not leftovers(tmp_path), leftovers(tmp_path)
    if "is a scene" in case:  # every file of the scene given as an output as it was
        assert tree(tmp_path / "scene") == tree(world / "scene")
    if "disk full" in case:  # whatever was written is whole: temp file, then rename
        for path in tmp_path.rglob("*.png"):
            read_image(path)  # refuses a truncated PNG
        for path in tmp_path.rglob("*.pth"):
            torch.load(path, weights_only=True)


def test_python_config_is_never_run(tmp_path):
    proc = run("tools/train.py", "--config", py_config(tmp_path))
    assert proc.returncode == 2 and not (tmp_path / "ran.txt").exists()


# Options outside their range (NaN included): argparse's one line, exit 2, nothing written.
ARGUMENT_CASES = {
    "render --size 0 0": (["tools/render.py", "--size", "0", "0"], "argument --size: must be >= 1"),
    "render --fps 0": (["tools/render.py", "--fps", "0"], "argument --fps: must be >= 1"),
    "exgen --elevation nan": (["exparamgen/exgen.py", "--elevation", "nan"],
                              "argument --elevation: expected a finite number, got 'nan'"),
    "exgen --frames 0": (["exparamgen/exgen.py", "--frames", "0"], "argument --frames: must be >= 1"),
    "prepare_points --voxel -1": (["tools/prepare_points.py", "--voxel", "-1"],
                                  "argument --voxel: must be >= 0, got -1"),
    "view --port 99999": (["tools/view.py", "--port", "99999"],
                          "argument --port: must be <= 65535, got 99999"),
    "view --size 0": (["tools/view.py", "--size", "0"], "argument --size: must be >= 8, got 0"),
    "evaluate --depth-tolerance nan": (["tools/evaluate.py", "--depth-tolerance", "nan"],
                                       "argument --depth-tolerance: expected a finite number"),
    "make_demo_scene --cameras 1": (["tools/make_demo_scene.py", "--cameras", "1"],
                                    "argument --cameras: must be >= 2, got 1"),
    "process_capture --fps 0": (["tools/process_capture.py", "--fps", "0"],
                                "argument --fps: must be > 0, got 0"),
    "refine --size 64 -1": (["tools/refine.py", "--size", "64", "-1"], "argument --size"),
    "inspect_dataset --frame -1": (["tools/inspect_dataset.py", "--frame", "-1"],
                                   "argument --frame: must be >= 0, got -1"),
}


@pytest.mark.parametrize("case", list(ARGUMENT_CASES))
def test_options_out_of_range_are_refused(case, tmp_path, monkeypatch, capsys):
    args, words = ARGUMENT_CASES[case]
    world = tmp_path / "world"  # never read: the options are refused first
    required = {"tools/render.py": ["--output-dir", world / "out", "--out", tmp_path / "o"],
                "tools/refine.py": ["--output-dir", world / "out", "--out", tmp_path / "o"],
                "tools/view.py": ["--output-dir", world / "out", "--path-out", tmp_path / "o"],
                "tools/evaluate.py": ["--output-dir", world / "out", "--out", tmp_path / "o"],
                "exparamgen/exgen.py": ["--campose", world / "scene" / "CamPose.inf", "--intrinsics",
                                        world / "scene" / "Intrinsic.inf", "--center", "0", "0", "0",
                                        "--out", tmp_path / "o"],
                "tools/prepare_points.py": [world / "scene", tmp_path / "o"],
                "tools/make_demo_scene.py": ["--out", tmp_path / "o"],
                "tools/process_capture.py": [world / "scene", tmp_path / "o"],
                "tools/inspect_dataset.py": [world / "scene", "--out", tmp_path / "o"]}
    parse = argparse.ArgumentParser.parse_args

    def parse_only(self, *a, **k):  # no work if the options pass
        parse(self, *a, **k)
        raise AssertionError("the options were accepted")

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_only)
    code, err = run_in_process(monkeypatch, capsys, args[0], *required[args[0]], *args[1:])
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and "error: " in lines[-1] and words in lines[-1], lines
    assert not (tmp_path / "o").exists()


def test_overwrite_replaces_only_what_the_tool_writes(world, tmp_path):
    """--overwrite of a scene writer removes only the files its earlier output listed: folders and
    files it did not write (img/1/, img/NOTES.txt, pointclouds/frame2.txt) stay."""
    out = tmp_path / "o"
    demo = ["tools/make_demo_scene.py", "--out", out, "--size", "16", "--points", "300",
            "--strands", "10"]
    assert run(*demo, "--cameras", "3").returncode == 0
    users = {"notes.txt": "the user's own", "img/1/img_0000.png": "a frame of mine",
             "img/NOTES.txt": "about the photos", "pointclouds/frame2.txt": "0 0 0\n"}
    for name, text in users.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    refused = run(*demo, "--cameras", "2")
    assert refused.returncode == 2 and "img/1/img_0000.png, img/NOTES.txt, notes.txt and 1 more" \
        in refused.stderr, refused.stderr
    assert run(*demo, "--cameras", "2", "--overwrite").returncode == 0
    assert {name: (out / name).read_text() for name in users} == users
    assert len((out / "CamPose.inf").read_text().splitlines()) == 2
    assert not (out / "img" / "0" / "img_0002.png").exists()  # the first scene's third photo
    captured = run("tools/process_capture.py", world / "scene", out, "--overwrite")
    assert captured.returncode == 0, captured.stderr
    assert {name: (out / name).read_text() for name in users} == users
    assert (out / "capture.json").is_file() and (out / "img" / "0" / "img_0005.png").is_file()
    fresh = tmp_path / "fresh"
    assert run("tools/convert_dataset.py", "--to", "native", world / "scene", fresh).returncode == 0
    assert (fresh.stat().st_mode & 0o777) == 0o777 & ~current_umask()  # not mkdtemp's 0700
    assert not leftovers(tmp_path)


def test_render_replaces_its_earlier_render_and_keeps_the_users_files(world, tmp_path):
    """5 frames, then 2 into the same (default) folder: the second render alone is there; a user's
    file beside it is refused without --overwrite and kept with it."""
    out = copy_model(world, tmp_path)
    for frames in ("5", "2"):
        proc = run("tools/render.py", "--output-dir", out, "--orbit", "0:90", "--frames", frames)
        assert proc.returncode == 0, proc.stderr
    render = out / "render_1"
    assert sorted(p.name for p in render.glob("frame_*.png")) == ["frame_0000.png",
                                                                  "frame_0001.png"]
    assert len((render / "CamPose.inf").read_text().splitlines()) == 2
    (render / "notes.txt").write_text("mine")
    again = run("tools/render.py", "--output-dir", out)
    assert again.returncode == 2 and "render_1: folder exists and is not empty (notes.txt)" \
        in again.stderr
    assert run("tools/render.py", "--output-dir", out, "--overwrite").returncode == 0
    assert (render / "notes.txt").read_text() == "mine"
    assert len((render / "CamPose.inf").read_text().splitlines()) == 1  # the held-out camera


def tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_failed_training_leaves_the_trained_run_as_it_was(world, tmp_path):
    out = copy_model(world, tmp_path)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    proc = run("tools/train.py", "--overwrite", "DATASETS.ROOT", tmp_path / "typo", "OUTPUT_DIR",
               out, *TRAIN)
    assert proc.returncode == 2 and "typo: dataset not found" in proc.stderr
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before  # config.yml, checkpoints and metrics untouched, no lock left
    rendered = run("tools/render.py", "--output-dir", out, "--out", tmp_path / "r")
    assert rendered.returncode == 0, rendered.stderr


def test_unexpected_errors_are_one_line_unless_debugging(monkeypatch, capsys):
    from npcr.cli import run_cli

    def broken():
        raise ZeroDivisionError("division by zero\nin some module")

    monkeypatch.setattr(sys, "argv", ["tool.py"])
    with pytest.raises(SystemExit) as stop:
        run_cli(broken)
    assert stop.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err == ("error: internal error (ZeroDivisionError: division by zero in some module); "
                   "run again with --debug for the traceback")
    monkeypatch.setattr(sys, "argv", ["tool.py", "--debug"])
    with pytest.raises(ZeroDivisionError):
        run_cli(broken)
    assert sys.argv == ["tool.py"]  # the tool's own parser never sees --debug


def test_truncated_binary_ply_is_refused(tmp_path):
    import numpy as np
    import open3d as o3d

    from npcr.data import read_points
    from npcr.errors import DataFormatError

    xyz = np.random.default_rng(0).normal(size=(500, 3))
    o3d.io.write_point_cloud(str(tmp_path / "c.ply"), o3d.geometry.PointCloud(
        o3d.utility.Vector3dVector(xyz)))
    assert np.allclose(read_points(tmp_path / "c.ply")[0], xyz, atol=1e-6)
    data = (tmp_path / "c.ply").read_bytes()
    (tmp_path / "c.ply").write_bytes(data[: len(data) - 6000])
    with pytest.raises(DataFormatError, match=r"c.ply: truncated: the header promises 12000 bytes"):
        read_points(tmp_path / "c.ply")


def test_relative_dataset_root_renders_from_anywhere(world, tmp_path):
    """config.yml keeps an absolute DATASETS.ROOT: a model trained with a relative one renders
    from any working directory."""
    repo = os.getcwd()
    copy_scene(world, tmp_path)
    train = subprocess.run([sys.executable, f"{repo}/tools/train.py", "DATASETS.ROOT", "scene",
                            "OUTPUT_DIR", "out", *TRAIN], cwd=tmp_path, capture_output=True,
                           text=True)
    assert train.returncode == 0, train.stderr
    (tmp_path / "elsewhere").mkdir()
    render = subprocess.run([sys.executable, f"{repo}/tools/render.py", "--output-dir",
                             tmp_path / "out", "--out", "r"], cwd=tmp_path / "elsewhere",
                            capture_output=True, text=True)
    assert render.returncode == 0, render.stderr
    assert (tmp_path / "elsewhere" / "r" / "frame_0000.png").is_file()


def test_a_run_folder_keeps_the_users_files(world, tmp_path):
    """--overwrite removes the earlier run's own files by their exact names, the trainer only the
    temporary files npcr names; a file of the user's beside a run is never touched. OUTPUT_DIR ""
    (the current folder) is refused."""
    out = copy_model(world, tmp_path)
    users = {"nr_model_2 (copy).pth": "a copy", "tmp_notes.txt": "notes", ".draft.tmp.md": "draft",
             "nr_model_best.json.bak": "a backup"}
    for name, text in users.items():
        (out / name).write_text(text)
    (out / "nr_optimizer_7.pth").write_bytes(b"an earlier run's")  # the run's own: removed
    proc = run("tools/train.py", "--overwrite", "DATASETS.ROOT", world / "scene", "OUTPUT_DIR", out,
               *TRAIN)
    assert proc.returncode == 0, proc.stderr
    assert {name: (out / name).read_text() for name in users} == users
    assert not (out / "nr_optimizer_7.pth").exists() and (out / "nr_model_1.pth").is_file()
    (tmp_path / "here").mkdir()  # run from a folder of its own: were "" taken, it would fill it
    empty = subprocess.run([sys.executable, f"{os.getcwd()}/tools/train.py", "DATASETS.ROOT",
                            world / "scene", "OUTPUT_DIR", "", *TRAIN], cwd=tmp_path / "here",
                           capture_output=True, text=True)
    assert empty.returncode == 2 and empty.stderr.count("\n") == 1 and "OUTPUT_DIR" in empty.stderr
    assert not any((tmp_path / "here").iterdir())
