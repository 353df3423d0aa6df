"""Resumable, reproducible sampling: the order of an epoch and the augmentation of each item are
functions of (seed, epoch) alone, so training interrupted mid-epoch can continue exactly."""
from __future__ import annotations

import bisect
import math
from collections.abc import Iterator

import torch
from torch.utils.data import Dataset, Sampler

from .dataset import CameraImageDataset


class SeededItems(Dataset):
    """The cameras of several frames as one dataset whose keys are ``(index, seed)``: ``seed`` draws
    the item's random zoom and crop, so an item looks the same whichever process loads it, when."""

    def __init__(self, parts: list[CameraImageDataset]):
        self.parts = parts
        self.ends = []
        total = 0
        for part in parts:
            total += len(part)
            self.ends.append(total)

    def __len__(self) -> int:
        return self.ends[-1] if self.ends else 0

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        part = bisect.bisect_right(self.ends, index)
        start = self.ends[part - 1] if part else 0
        return self.parts[part].item(index - start, torch.Generator().manual_seed(seed))


class ResumableSampler(Sampler[tuple[int, int]]):
    """Yields ``(index, seed)`` keys for ``SeededItems``: a permutation of ``size`` items (or the
    identity when ``shuffle`` is off) drawn from ``(seed, epoch)``, padded to a multiple of
    ``world_size`` and dealt to ``rank`` round-robin (as DistributedSampler does).

    ``set_epoch(epoch, start)`` picks the epoch and skips this rank's first ``start`` keys, which is
    how a run resumed mid-epoch continues with the keys it had not reached. ``len`` stays the full
    per-rank count so the epoch length does not change on resume.
    """

    def __init__(self, size: int, seed: int, shuffle: bool = True, rank: int = 0,
                 world_size: int = 1):
        if size < 1:
            raise ValueError("nothing to sample: the dataset is empty")
        self.size, self.seed, self.shuffle = size, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def __len__(self) -> int:
        return math.ceil(self.size / self.world_size)

    def keys(self) -> list[tuple[int, int]]:
        """All of this rank's keys of the current epoch, skipped ones included."""
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.size, generator=g) if self.shuffle else torch.arange(self.size)
        seeds = torch.randint(0, 2**62, (self.size,), generator=g)
        padded = len(self) * self.world_size
        order = order.repeat(math.ceil(padded / self.size))[:padded]
        mine = order[self.rank::self.world_size].tolist()
        return [(i, int(seeds[i])) for i in mine]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self.keys()[self.start:])
