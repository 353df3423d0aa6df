"""Configuration: the yacs defaults tree and loading helpers."""
from __future__ import annotations

import difflib
import re
from pathlib import Path

import yaml
from yacs.config import CfgNode

from ..errors import NpcrError
from ..fileio import write_text
from .defaults import get_cfg_defaults
from .validate import validate_config

__all__ = ["flat_items", "get_cfg_defaults", "load_config", "save_config", "validate_config"]


def load_config(config_file: str | Path | None, opts: list[str] | None = None,
                freeze: bool = True) -> CfgNode:
    """Defaults, merged with ``config_file`` and then ``KEY VALUE`` overrides, then validated
    (``validate_config``); frozen by default. Only YAML files are read: a config is data, never
    code (yacs would run a .py file)."""
    cfg = get_cfg_defaults()
    source = config_file
    try:
        if config_file:
            path = Path(config_file)
            if path.suffix.lower() not in (".yml", ".yaml"):
                raise NpcrError(f"{config_file}: a config must be a .yml or .yaml file")
            if not path.is_file():
                raise NpcrError(f"{config_file}: config file not found")
            try:
                text = path.read_text()
            except UnicodeDecodeError:
                raise NpcrError(f"{config_file}: not a text file") from None
            if not text.strip():
                raise NpcrError(f"{config_file}: empty config file")
            if not isinstance(yaml.safe_load(text), dict):
                raise NpcrError(f"{config_file}: a config must be a mapping of KEY: value")
            cfg.merge_from_other_cfg(CfgNode(yaml.safe_load(text)))
        if opts:
            source = "overrides"
            if len(opts) % 2:
                raise NpcrError(f"overrides must be KEY VALUE pairs, got {opts}")
            cfg.merge_from_list(list(opts))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else str(source)
        raise NpcrError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    except (KeyError, ValueError, AssertionError, TypeError) as exc:
        raise NpcrError(f"{source or 'overrides'}: {_explain(exc)}") from None
    validate_config(cfg, " + ".join(([str(config_file)] if config_file else [])
                                    + (["overrides"] if opts else [])) or "defaults")
    if freeze:
        cfg.freeze()
    return cfg


def flat_items(node: dict, prefix: str = "") -> dict:
    """``{"SOLVER.BASE_LR": value, ...}`` for a config tree (a CfgNode or a plain nested dict)."""
    flat = {}
    for name, value in node.items():
        if isinstance(value, dict):
            flat.update(flat_items(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def _explain(exc: Exception) -> str:
    """yacs' message, with the closest known keys when a key does not exist."""
    text = str(exc.args[0]) if exc.args else str(exc)
    m = re.search(r"Non-existent (?:config )?key: (\S+)", text)
    if m:
        close = difflib.get_close_matches(m.group(1), list(flat_items(get_cfg_defaults())), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return f"unknown config key {m.group(1)}{hint}"
    return text


def save_config(cfg: CfgNode, path: str | Path) -> None:
    """Write the full merged config as YAML (atomically)."""
    write_text(path, cfg.dump())
