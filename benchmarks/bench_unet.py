#!/usr/bin/env python3
"""The rendering network alone: where a frame's time goes once projection is fast.

Times the antialiased U-Net on one image (forward, as in rendering; forward + backward, as in
training) for two settings: the demo's (L 4 x F 8 = 32 input channels, [16, 32, 64, 128]) and
NPCR-like (L 4 x F 32 = 128 channels, [32, 64, 128, 256]). Variants side by side in this one process:
GroupNorm statistics by one reduction (``group_norm_by_reduction``) vs PyTorch's kernel, fp32 vs
autocast (fp16 on CUDA, bf16 on the CPU), cuDNN autotuning off vs on. npcr's GroupNorm picks between
the first two by these figures. Prints the profiler's top kernels of the npcr render pass and writes
``unet_<device>.md`` / ``.json``.

    python benchmarks/bench_unet.py [--device cuda] [--size 1024] [--train-size 512]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import npcr  # noqa: F401  (first: npcr sets PyTorch's CPU allocator up as the tools run)
import torch
import torch.nn as nn

from npcr.cli import results_folder
from npcr.modeling import AntialiasedUNet
from npcr.modeling.unet import GroupNorm, group_norm_by_reduction

SETTINGS = {"demo": (32, [16, 32, 64, 128]), "NPCR-like": (128, [32, 64, 128, 256])}


class ReductionGroupNorm(nn.GroupNorm):
    """Always ``group_norm_by_reduction``, gradients or not."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return group_norm_by_reduction(x, self.num_groups, self.weight, self.bias, self.eps)


def with_group_norm(net: nn.Module, cls: type[nn.GroupNorm]) -> nn.Module:
    """``net`` with every npcr GroupNorm replaced by a ``cls`` with the same parameters."""
    for name, child in net.named_children():
        if isinstance(child, GroupNorm):
            norm = cls(child.num_groups, child.num_channels, child.eps, child.affine)
            norm.load_state_dict(child.state_dict())
            setattr(net, name, norm.to(child.weight.device))
        else:
            with_group_norm(child, cls)
    return net


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(fn, device: torch.device, repeats: int) -> float:
    fn()
    fn()
    times = []
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def run(net: nn.Module, x: torch.Tensor, amp: torch.dtype | None, train: bool):
    def step():
        with torch.autocast(x.device.type, dtype=amp, enabled=amp is not None):
            if train:
                net(x).float().sigmoid().mean().backward()
            else:
                with torch.no_grad():
                    net(x).float().sigmoid().sum().item()
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", type=int, default=1024, help="render image side")
    parser.add_argument("--train-size", type=int, default=512, help="training crop side")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=results_folder, default="benchmarks/results")
    args = parser.parse_args()
    device = torch.device(args.device)
    amp_name, amp = ("fp16", torch.float16) if device.type == "cuda" else ("bf16", torch.bfloat16)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    rows = []
    for setting, (channels, levels) in SETTINGS.items():
        torch.manual_seed(0)
        nets = {kind: with_group_norm(AntialiasedUNet(channels, 4, levels).to(device), cls)
                for kind, cls in (("reduction", ReductionGroupNorm), ("torch", nn.GroupNorm))}
        nets["torch"].load_state_dict(nets["reduction"].state_dict())
        for train, size in ((False, args.size), (True, args.train_size)):
            x = torch.randn(1, channels, size, size, device=device)
            for norm, net in nets.items():
                for dtype_name, dtype in (("fp32", None), (amp_name, amp)):
                    for autotune in (False, True):
                        torch.backends.cudnn.benchmark = autotune
                        ms = median_ms(run(net, x, dtype, train), device, args.repeats)
                        rows.append({"setting": setting, "pass": "fwd+bwd" if train else "fwd",
                                     "size": size, "group_norm": norm, "dtype": dtype_name,
                                     "cudnn_benchmark": autotune, "ms": ms})
                        print(json.dumps(rows[-1]), flush=True)
    torch.backends.cudnn.benchmark = False
    torch.manual_seed(0)
    net = AntialiasedUNet(*SETTINGS["NPCR-like"][:1], 4, SETTINGS["NPCR-like"][1]).to(device)
    x = torch.randn(1, SETTINGS["NPCR-like"][0], args.size, args.size, device=device)
    activity = [torch.profiler.ProfilerActivity.CPU] + (
        [torch.profiler.ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch.profiler.profile(activities=activity) as prof:
        run(net, x, None, False)()
    sort = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    top = prof.key_averages().table(sort_by=sort, row_limit=12, max_name_column_width=60)
    print(top)

    lines = [f"# U-Net alone on {name}\n",
             f"One image; median of {args.repeats} after 2 warm-ups; render pass at {args.size}², "
             f"training pass (forward + backward) at {args.train_size}². GroupNorm statistics: "
             "reduction = one var_mean per group (npcr renders with it on CUDA), torch = "
             "PyTorch's kernel (npcr trains with it).\n",
             "| setting | pass | size | GroupNorm | dtype | cuDNN autotune | ms |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['setting']} | {r['pass']} | {r['size']}² | {r['group_norm']} | {r['dtype']} | "
              f"{'on' if r['cudnn_benchmark'] else 'off'} | {r['ms']:.2f} |" for r in rows]
    lines += ["", "Top kernels, NPCR-like U-Net render pass (npcr's GroupNorm), fp32:", "", "```",
              top, "```"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"unet_{device.type}.md").write_text("\n".join(lines) + "\n")
    (out / f"unet_{device.type}.json").write_text(json.dumps({"device": name, "rows": rows},
                                                             indent=1) + "\n")
    print(f"wrote {out / f'unet_{device.type}.md'}")


if __name__ == "__main__":
    main()
