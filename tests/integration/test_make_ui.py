"""`make ui` (python -m devstack.ui) stops every process it started within 10 s of Ctrl-C: the
webserver, the daemon, the code servers and the runs the sensors had launched by then.

On a stack of its own (the sensors land and clean its data, nobody else's): the golden triples
go through the API, the drain sensor lands them, the refresh automation starts a Spark run, and
Ctrl-C comes while that run's JVM is up, the slowest thing to stop. Ctrl-C is what a terminal
sends: SIGINT to the foreground process group, here the command's own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from devstack.process import free_port
from pinterest_common.config import REPO_ROOT
from tests.fixtures import golden
from tests.fixtures.pipeline import post_triples

pytestmark = pytest.mark.integration

STOP_WITHIN_S = 10.0


def _parents() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
            except OSError:
                continue
            if stat[0] != "Z":
                parents[int(entry.name)] = int(stat[1])
    return parents


def descendants(root: int) -> set[int]:
    """The live processes below `root` (zombies excluded)."""
    parents, found, frontier = _parents(), set(), {root}
    while frontier:
        children = {pid for pid, parent in parents.items() if parent in frontier}
        frontier = children - found
        found |= children
    return found


def _command(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_ctrl_c_stops_everything_make_ui_started_within_10_s(isolated_stack, tmp_path):
    port = free_port()
    env = {**os.environ, "PINTEREST_LAKE_SENSOR_INTERVAL_SECONDS": "5"}
    post_triples(isolated_stack, golden.triples())
    log = (tmp_path / "ui.log").open("w")
    ui = subprocess.Popen(
        [sys.executable, "-m", "devstack.ui", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                assert ui.poll() is None and time.monotonic() < deadline, (tmp_path / "ui.log").read_text()[-3000:]
                time.sleep(1)
        # Wait for the refresh run's Spark JVM.
        deadline = time.monotonic() + 240
        while not any(_command(pid).startswith(b"java") or b"/java\0" in _command(pid) for pid in descendants(ui.pid)):
            assert time.monotonic() < deadline, "no Spark run started: " + (tmp_path / "ui.log").read_text()[-3000:]
            time.sleep(1)
        started = descendants(ui.pid)

        os.killpg(ui.pid, signal.SIGINT)  # Ctrl-C
        sent = time.monotonic()
        while (ui.poll() is None or any(_alive(pid) for pid in started)) and time.monotonic() - sent < 30:
            time.sleep(0.1)
        took = time.monotonic() - sent
        left = sorted(pid for pid in started if _alive(pid))
        assert ui.poll() is not None and not left, f"still alive {took:.1f}s after Ctrl-C: {left}"
        assert took <= STOP_WITHIN_S, f"everything stopped, but only {took:.1f}s after Ctrl-C"
    finally:
        for pid in [ui.pid, *descendants(ui.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        ui.wait(timeout=10)
        log.close()
