"""The output rule every tool follows (npcr.outputs): an empty folder, this tool's own earlier output
(replaced whole), or --overwrite beside other files (only this tool's earlier files removed); never
a scene, a training run or another tool's output; nothing changed where the tool fails."""
import json
import os

import pytest

from npcr.errors import NpcrError
from npcr.outputs import (LOCK_FILE, MANIFEST, STAGING_PREFIX, check_shared_folder,
                          output_folder, read_manifest)


def write(folder, tool, names, overwrite=False):
    with output_folder(folder, tool, overwrite) as stage:
        for name in names:
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            (stage / name).write_text(f"{tool}: {name}")


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_new_folder_gets_the_files_and_a_manifest(tmp_path):
    out = tmp_path / "a" / "render"
    write(out, "render", ["frame_0000.png", "sub/x.txt"])
    assert listing(out) == [MANIFEST, "frame_0000.png", "sub/x.txt"]
    assert read_manifest(out).files == ["frame_0000.png", "sub/x.txt"]
    assert (out.stat().st_mode & 0o777) == 0o777 & ~current_umask()


def test_own_earlier_output_is_replaced_whole(tmp_path):
    """5 frames, then 2: frames 2-4 of the first go (were they kept, one folder would hold two
    renders under one CamPose.inf)."""
    out = tmp_path / "render"
    write(out, "render", ["CamPose.inf"] + [f"frame_{i:04d}.png" for i in range(5)])
    write(out, "render", ["CamPose.inf"] + [f"frame_{i:04d}.png" for i in range(2)])
    assert listing(out) == [MANIFEST, "CamPose.inf", "frame_0000.png", "frame_0001.png"]


def test_a_users_file_is_refused_without_overwrite_and_kept_with_it(tmp_path):
    out = tmp_path / "render"
    write(out, "render", ["frame_0000.png", "frame_0001.png", "deep/a.txt"])
    (out / "notes.txt").write_text("mine")
    (out / "deep" / "mine.txt").write_text("mine too")
    with pytest.raises(NpcrError, match=r"render: folder exists and is not empty \(deep/mine.txt, "
                                        r"notes.txt\); .* --overwrite"):
        write(out, "render", ["frame_0000.png"])
    assert listing(out) == [MANIFEST, "deep/a.txt", "deep/mine.txt", "frame_0000.png",
                            "frame_0001.png", "notes.txt"]  # nothing changed
    write(out, "render", ["frame_0000.png"], overwrite=True)
    assert listing(out) == [MANIFEST, "deep/mine.txt", "frame_0000.png", "notes.txt"]
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("marker", ["CamPose.inf", "transforms.json", "sparse/0/cameras.bin"])
def test_a_scene_is_never_written_into(tmp_path, marker):
    scene = tmp_path / "scene"
    (scene / marker).parent.mkdir(parents=True, exist_ok=True)
    (scene / marker).write_text("calibrated")
    for overwrite in (False, True):
        with pytest.raises(NpcrError, match="holds a scene"):
            write(scene, "exparamgen/exgen.py", ["CamPose.inf"], overwrite)
    assert listing(scene) == [marker]


def test_a_training_run_is_never_written_into(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yml").write_text("MODEL: {}\n")
    (run / "nr_model_3.pth").write_bytes(b"weights")
    (run / "metrics.json").write_text("{}")
    with pytest.raises(NpcrError, match="holds a training run"):
        write(run, "tools/evaluate.py", ["metrics.json"], overwrite=True)
    assert (run / "metrics.json").read_text() == "{}"


def test_another_tools_output_is_never_written_into(tmp_path):
    out = tmp_path / "o"
    write(out, "exparamgen/exgen.py", ["CamPose.inf"])
    with pytest.raises(NpcrError, match=r"holds the output of another tool \(exparamgen/exgen.py\)"):
        write(out, "tools/render.py", ["video.mp4"], overwrite=True)
    assert listing(out) == [MANIFEST, "CamPose.inf"]


def test_a_failed_tool_changes_nothing(tmp_path):
    fresh, earlier = tmp_path / "fresh", tmp_path / "earlier"
    write(earlier, "render", ["frame_0000.png"])
    for folder in (fresh, earlier):
        with pytest.raises(RuntimeError):
            with output_folder(folder, "render") as stage:
                (stage / "frame_0000.png").write_text("half")
                raise RuntimeError("the render failed")
    assert not fresh.exists()  # the folder it made is gone
    assert listing(earlier) == [MANIFEST, "frame_0000.png"]
    assert (earlier / "frame_0000.png").read_text() == "render: frame_0000.png"


def test_work_is_staged_inside_the_output_folder(tmp_path):
    """Staged inside OUT, the files move within one file system: an empty mount point as OUT
    works, and no rename fails after the work (staging beside OUT failed with EBUSY there)."""
    out = tmp_path / "mount"
    out.mkdir()
    with output_folder(out, "render") as stage:
        assert stage.parent == out and stage.name.startswith(STAGING_PREFIX)
        assert (out / LOCK_FILE).read_text().strip() == str(os.getpid())
        (stage / "f.txt").write_text("x")
    assert listing(out) == [MANIFEST, "f.txt"]


def test_a_folder_in_use_is_refused_and_a_killed_tools_leftovers_go(tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / LOCK_FILE).write_text("1\n")  # PID 1 is always alive
    with pytest.raises(NpcrError, match=r"another tools/render.py \(PID 1\) is writing there"):
        write(busy, "tools/render.py", ["a"])
    left = tmp_path / "left"
    write(left, "render", ["a"])
    (left / f"{STAGING_PREFIX}dead").mkdir()
    (left / f"{STAGING_PREFIX}dead" / "half.png").write_text("half")
    (left / LOCK_FILE).write_text("999999999\n")  # no such process: a killed run's lock
    write(left, "render", ["b"])
    assert listing(left) == [MANIFEST, "b"]


def test_a_manifest_that_points_outside_is_refused(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (tmp_path / "precious.txt").write_text("keep")
    (out / MANIFEST).write_text(json.dumps({"tool": "render", "files": ["../precious.txt"]}))
    with pytest.raises(NpcrError, match="lists files outside its folder"):
        write(out, "render", ["a"], overwrite=True)
    assert (tmp_path / "precious.txt").read_text() == "keep"


def test_shared_folders_are_never_a_scene_a_run_or_a_tools_output(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "other_benchmark.md").write_text("| a |")
    assert check_shared_folder(results, "bench_x.py") == results
    (results / "CamPose.inf").write_text("")
    with pytest.raises(NpcrError, match="holds a scene"):
        check_shared_folder(results, "bench_x.py")
    write(tmp_path / "render", "tools/render.py", ["a"])
    with pytest.raises(NpcrError, match="holds the output of tools/render.py"):
        check_shared_folder(tmp_path / "render", "bench_x.py")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yml").write_text("")
    (run / "nr_model_1.pth").write_text("")
    with pytest.raises(NpcrError, match="holds a training run"):
        check_shared_folder(run, "bench_x.py")
    assert check_shared_folder(run, "the training", run_ok=True) == run  # its own OUTPUT_DIR


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_an_empty_path_a_file_or_a_broken_link_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an empty path let through would write here, not in the repo
    (tmp_path / "file").write_text("x")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    for folder, words in (("", "an empty path"), (tmp_path / "file", "exists and is not a folder"),
                          (tmp_path / "loop", "a symbolic link to nothing")):
        with pytest.raises(NpcrError, match=words):
            write(folder, "render", ["a"], overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "loop"]
