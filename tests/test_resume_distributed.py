"""Exact resume after kill -9 in the middle of an epoch, and data-parallel training in 2 processes."""
import json

import pytest
import torch

from npcr.data import ResumableSampler, write_native_scene
from npcr.data.demo_scene import make_demo_scene
from helpers import run_tool

OPTS = ["DATASETS.VAL_CAMERAS", "[1, 5]", "MODEL.UNET_CHANNELS", "[8, 16]", "MODEL.NEAR", "0.5",
        "MODEL.FAR", "10.0", "MODEL.MAX_SPLAT", "2", "MODEL.NUM_LAYERS", "2",
        "SOLVER.LAYER_SCHEDULE", "[[0, 1], [1, 2]]", "SOLVER.LR_SCHEDULER", "cosine",
        "INPUT.CROP", "[24, 24]", "INPUT.ZOOM_RANGE", "[0.8, 1.25]", "SOLVER.IMS_PER_BATCH", "2",
        "SOLVER.CHECKPOINT_PERIOD", "1", "TEST.IMAGE_PERIOD", "100", "SOLVER.EMA_MOMENTUM", "0.3"]

# Runs tools/train.py but sends itself signal SIGNAL once iteration KILL_AT has completed, before
# that iteration's checkpoint handlers run: SIGKILL is the hardest stop there is, SIGINT is Ctrl-C.
KILLER = """
import os, runpy, signal, sys
from ignite.engine import Events
import npcr.engine.trainer as trainer

make = trainer.create_trainer
sig = getattr(signal, os.environ["SIGNAL"])

def create_trainer(*args, **kwargs):
    engine = make(*args, **kwargs)
    engine.add_event_handler(Events.ITERATION_COMPLETED(once=int(os.environ["KILL_AT"])),
                             lambda _: os.kill(os.getpid(), sig))
    return engine

trainer.create_trainer = create_trainer
sys.argv = ["tools/train.py", *sys.argv[1:]]
runpy.run_path("tools/train.py", run_name="__main__")
"""


@pytest.fixture(scope="module")
def tiny_scene(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume") / "scene"
    s = make_demo_scene(seed=5, size=32, num_cameras=8, strands=60, num_points=3000)
    write_native_scene(root, s.cam_to_world, s.K, s.images, s.alphas, s.points, s.colors)
    return root


train = run_tool


def test_sampler_is_a_function_of_seed_and_epoch():
    a, b = ResumableSampler(10, seed=3), ResumableSampler(10, seed=3)
    a.set_epoch(4)
    b.set_epoch(4, start=6)
    assert list(b) == a.keys()[6:] and len(b) == 10
    assert sorted(i for i, _ in a) == list(range(10))
    b.set_epoch(5)
    assert b.keys() != a.keys()  # a new order and new augmentation seeds each epoch
    shards = [ResumableSampler(7, seed=3, rank=r, world_size=3) for r in range(3)]
    dealt = [key for s in shards for key in s]
    assert all(len(s) == 3 for s in shards) and len(dealt) == 9
    assert {i for i, _ in dealt} == set(range(7))


def test_resumed_ranks_continue_where_each_stopped():
    """Two processes resumed after 2 of their batches skip exactly those keys each: together they
    deal the rest of the epoch, nothing twice, nothing lost."""
    full = [ResumableSampler(11, seed=4, rank=r, world_size=2) for r in range(2)]
    resumed = [ResumableSampler(11, seed=4, rank=r, world_size=2) for r in range(2)]
    for f, r in zip(full, resumed):
        f.set_epoch(3)
        r.set_epoch(3, start=2)
        assert list(r) == list(f)[2:] and len(r) == len(f) == 6
    dealt = [k for r in resumed for k in r] + [k for f in full for k in list(f)[:2]]
    assert sorted(dealt) == sorted(k for f in full for k in f)


@pytest.fixture(scope="module")
def straight(tiny_scene, tmp_path_factory):
    """An uninterrupted run of the options the interrupted runs use: 6 training cameras, 2 per
    batch, so 3 iterations per epoch and 9 in all; resume points every 2 iterations."""
    out = tmp_path_factory.mktemp("straight")
    train("tools/train.py", *common_args(tiny_scene), "OUTPUT_DIR", out)
    return out


def common_args(scene):
    return ["DATASETS.ROOT", scene, *OPTS, "SOLVER.MAX_EPOCHS", "3", "SOLVER.CHECKPOINT_ITERS", "2"]


def stopped_run(common, out, tmp_path, signal_name, at):
    """tools/train.py with ``common`` options into ``out``, sent ``signal_name`` after iteration
    ``at`` (see KILLER)."""
    killer = tmp_path / "kill_at.py"
    killer.write_text(KILLER)
    return train(killer, *common, "OUTPUT_DIR", out, env={"KILL_AT": str(at), "SIGNAL": signal_name},
                 ok=False)


def same_weights(a_dir, b_dir):
    a, b = (torch.load(d / "nr_model_3.pth", weights_only=True) for d in (a_dir, b_dir))
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.e2e
def test_renders_use_the_averaged_weights(straight):
    """With SOLVER.EMA_MOMENTUM the model file is the moving average, not the trained weights
    (kept beside the optimizer for resuming), and it is what held-out PSNR was measured on."""
    average = torch.load(straight / "nr_model_3.pth", weights_only=True)
    trained = torch.load(straight / "nr_optimizer_3.pth", weights_only=True)["trained_model"]
    assert average.keys() == trained.keys()
    assert not torch.equal(average["features"], trained["features"])
    train("tools/evaluate.py", "--output-dir", straight)
    evaluated = json.loads((straight / "eval_3" / "metrics.json").read_text())["mean_psnr"]
    reported = json.loads((straight / "metrics.json").read_text())["heldout_psnr"]
    assert evaluated == pytest.approx(reported, abs=1e-3)


@pytest.mark.e2e
def test_kill_mid_epoch_then_resume_gives_bitwise_equal_weights(tiny_scene, straight, tmp_path):
    # Killed after iteration 5 (epoch 2), the run resumes from iteration 4, inside epoch 2, and
    # must redo iteration 5 with the same batch and the same random crops.
    common = common_args(tiny_scene)
    broken = tmp_path / "broken"
    killed = stopped_run(common, broken, tmp_path, "SIGKILL", 5)
    assert killed.returncode == -9, killed.stdout + killed.stderr
    assert (broken / "nr_resume_4.pth").is_file() and not (broken / "nr_model_2.pth").exists()
    assert not list(broken.glob("*.tmp")) and not list(broken.glob(".*.pt*"))

    assert (broken / ".npcr.lock").is_file()  # the killed run's lock, stale now
    half = broken / ".nr_model_2.pth.npcr-ab12cd.tmp.pth"  # as a kill during a save leaves
    half.write_bytes(b"half a checkpoint")
    users = [broken / "tmp_notes.txt", broken / ".draft.tmp.md", broken / "nr_model_2 (copy).pth"]
    for path in users:
        path.write_text("the user's")
    resumed = train("tools/train.py", *common, "OUTPUT_DIR", broken, "RESUME", "True")
    assert "resumed from iteration 4" in resumed.stdout
    assert not (broken / ".npcr.lock").exists() and not half.exists()
    assert all(p.read_text() == "the user's" for p in users)  # only npcr's own temporary files go
    assert not list(broken.glob("nr_resume_*.pth"))  # removed once training completed
    assert same_weights(straight, broken)
    digests = [json.loads((d / "metrics.json").read_text())["weights_sha256"]
               for d in (straight, broken)]
    assert digests[0] == digests[1]
    assert json.loads((broken / "metrics.json").read_text())["iterations"] == 9


@pytest.mark.e2e
@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_sigterm_stops_after_the_iteration_and_resumes_exactly(
        tiny_scene, straight, tmp_path, signal_name):
    common = common_args(tiny_scene)
    out = tmp_path / "ctrl_c"
    stopped = stopped_run(common, out, tmp_path, signal_name, 7)
    assert stopped.returncode == 130, stopped.stdout + stopped.stderr
    assert "continue with RESUME True" in stopped.stdout and "Traceback" not in stopped.stderr
    assert (out / "nr_resume_7.pth").is_file() and not (out / "nr_model_3.pth").exists()
    resumed = train("tools/train.py", *common, "OUTPUT_DIR", out, "RESUME", "True")
    assert "resumed from iteration 7" in resumed.stdout
    assert same_weights(straight, out)


@pytest.mark.e2e
def test_two_processes_with_gloo_end_with_equal_weights(tiny_scene, tmp_path):
    out = tmp_path / "ddp"
    train("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
          "tools/train.py", "DATASETS.ROOT", tiny_scene, *OPTS, "SOLVER.MAX_EPOCHS", "2",
          "DEVICE", "cpu", "OUTPUT_DIR", out)
    metrics = json.loads((out / "metrics.json").read_text())
    # Each process trained on its own half of every batch; DDP's gradient averaging keeps the
    # replicas identical, which the per-rank digests of the final weights show.
    assert len(metrics["weights_sha256"]) == 2
    assert metrics["weights_sha256"][0] == metrics["weights_sha256"][1]
    assert metrics["iterations"] == 6  # 3 per epoch: the global batch of 2 split over 2 processes


def test_resume_reads_keys_a_run_predates_as_their_defaults():
    """A run saved before npcr added a key resumes with a config that leaves that key at its
    default (the tools read the old config.yml so), and is still refused when the value changes."""
    import yaml

    from npcr.config import flat_items, load_config
    from npcr.engine.rundir import config_differences

    cfg = load_config("configs/demo.yml")
    saved = load_config("configs/demo.yml", ["MODEL.UNET_INPUT_KERNEL", "3"])
    saved = yaml.safe_load(saved.dump())  # as the run's config.yml reads
    del saved["MODEL"]["UNET_INPUT_KERNEL"]
    assert "MODEL.UNET_INPUT_KERNEL" not in flat_items(saved)
    assert config_differences(saved, cfg) == ["MODEL.UNET_INPUT_KERNEL: 3 -> 1"]
    assert config_differences(saved, load_config("configs/demo.yml",
                                                 ["MODEL.UNET_INPUT_KERNEL", "3"])) == []
