"""Helpers for npcr's tests (and the benchmark that photographs the viewer): small cameras,
running the command-line tools in a subprocess, and screenshots of a web page (the viewer) in
headless Chromium."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Callable

import cv2
import numpy as np
import torch

from npcr.geometry import look_at


def camera(eye=(0.0, 0.0, -5.0), target=(0.0, 0.0, 0.0), up=(0.0, -1.0, 0.0)) -> torch.Tensor:
    """(4, 4) float32 camera-to-world looking from ``eye`` at ``target``."""
    return torch.tensor(look_at(np.array(eye), np.array(target), np.array(up)), dtype=torch.float32)


def intrinsics(f: float = 10.0, cx: float = 4.0, cy: float = 4.0) -> torch.Tensor:
    """(3, 3) float32 pinhole intrinsics without skew."""
    return torch.tensor([[f, 0, cx], [0, f, cy], [0, 0, 1]], dtype=torch.float32)


def run_tool(*args, ok: bool = True, one_thread: bool = True, env: dict | None = None,
             preexec_fn: Callable[[], None] | None = None,
             timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``python ARGS...`` (a tool script and its arguments; paths may be Path objects),
    capturing its text output; ``one_thread`` sets OMP_NUM_THREADS=1 (bitwise-repeatable
    training), ``env`` adds variables; with ``ok`` assert that it exited 0. A tool still running
    after ``timeout`` seconds fails the test (subprocess.TimeoutExpired) rather than hanging it."""
    env = {**os.environ, **({"OMP_NUM_THREADS": "1"} if one_thread else {}), **(env or {})}
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          env=env, preexec_fn=preexec_fn, timeout=timeout)
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--use-angle=swiftshader",
                  "--enable-unsafe-swiftshader", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, seconds: float = 60) -> None:
    """Return once ``url`` answers; TimeoutError after ``seconds``."""
    end = time.time() + seconds
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(url)


def stop_process_group(process: subprocess.Popen, seconds: float = 10) -> None:
    """SIGTERM every process in ``process``'s group, wait until all are gone, then SIGKILL any left."""
    os.killpg(process.pid, signal.SIGTERM)
    process.wait()
    end = time.time() + seconds
    try:
        while time.time() < end:
            os.killpg(process.pid, 0)  # raises once the group is empty
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def browser_screenshot(url: str, wait: float, window: tuple[int, int] = (900, 600)) -> np.ndarray:
    """Open ``url`` in Debian's headless Chromium (WebGL through SwiftShader) with a ``window``
    (width, height), wait ``wait`` seconds of real time (the viewer streams its renders over a
    websocket; a virtual time budget would shoot before they arrive) and return a screenshot (BGR)."""
    return asyncio.run(_screenshot(url, wait, window))


async def _screenshot(url: str, wait: float, window: tuple[int, int]) -> np.ndarray:
    import websockets  # viser's dependency; only screenshots need it

    port = free_port()
    # Chromium's helper processes (zygote, renderer, GPU) outlive the main one for a moment and
    # keep writing to the profile: the whole process group is stopped before the profile goes.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        browser = subprocess.Popen(["chromium", *CHROMIUM_FLAGS, "--window-size=%d,%d" % window,
                                    f"--user-data-dir={profile}",
                                    f"--remote-debugging-port={port}", "about:blank"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/json")
            tabs = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
            page = next(t for t in tabs if t["type"] == "page")
            async with websockets.connect(page["webSocketDebuggerUrl"], max_size=2**26) as ws:
                async def call(i: int, method: str, **params):
                    await ws.send(json.dumps({"id": i, "method": method, "params": params}))
                    while True:
                        reply = json.loads(await ws.recv())
                        if reply.get("id") == i:
                            return reply.get("result", {})
                await call(1, "Page.navigate", url=url)
                await asyncio.sleep(wait)
                shot = await call(2, "Page.captureScreenshot", format="png")
        finally:
            stop_process_group(browser)
    return cv2.imdecode(np.frombuffer(base64.b64decode(shot["data"]), np.uint8), cv2.IMREAD_COLOR)
