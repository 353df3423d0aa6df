"""Configuration: the yacs defaults tree and loading helpers."""
from __future__ import annotations

from pathlib import Path

from yacs.config import CfgNode

from ..errors import NpcrError
from ..fileio import write_text
from .defaults import get_cfg_defaults

__all__ = ["get_cfg_defaults", "load_config", "save_config"]


def load_config(config_file: str | Path | None, opts: list[str] | None = None,
                freeze: bool = True) -> CfgNode:
    """Defaults, merged with ``config_file`` and then ``KEY VALUE`` overrides; frozen by default."""
    cfg = get_cfg_defaults()
    try:
        if config_file:
            if not Path(config_file).is_file():
                raise NpcrError(f"{config_file}: config file not found")
            cfg.merge_from_file(str(config_file))
        if opts:
            if len(opts) % 2:
                raise NpcrError(f"overrides must be KEY VALUE pairs, got {opts}")
            cfg.merge_from_list(list(opts))
    except (KeyError, ValueError, AssertionError) as exc:
        raise NpcrError(f"{config_file or 'overrides'}: {exc}") from None
    if freeze:
        cfg.freeze()
    return cfg


def save_config(cfg: CfgNode, path: str | Path) -> None:
    """Write the full merged config as YAML (atomically)."""
    write_text(path, cfg.dump())
