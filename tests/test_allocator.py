"""Importing npcr puts PyTorch's large CPU tensors on transparent huge pages (faster CPU renders),
unless the user's environment says otherwise."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
PROBE = """
import npcr, torch
t = torch.ones(64 << 20, dtype=torch.uint8)
print(open('/proc/self/smaps_rollup').read())
"""


def huge_pages_kb(env_value: str | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    if env_value is not None:
        env["THP_MEM_ALLOC_ENABLE"] = env_value
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                         check=True).stdout
    return int(re.search(r"AnonHugePages:\s+(\d+) kB", out).group(1))


@pytest.mark.skipif(not THP.exists() or "[madvise]" not in THP.read_text()
                    or not Path("/proc/self/smaps_rollup").exists(),
                    reason="transparent huge pages are not given on request here")
def test_import_npcr_puts_large_tensors_on_huge_pages():
    assert huge_pages_kb(None) >= 32 << 10  # most of the 64 MiB tensor
    assert huge_pages_kb("0") < 32 << 10  # the user's setting wins
