"""`make ui`: `dagster dev -w workspace.yaml` on the local instance, stopped whole on Ctrl-C.

`dagster dev` starts a webserver, a daemon, code servers and, for each run a sensor launches, a
run process (with its own children: `tail -F` of the compute logs, a Spark JVM). On Ctrl-C each
of them shuts down by itself, the webserver only after its grace period and a run only once its
step lets go, so the last ones were seen alive 15 s later (and over a minute with a run busy).
Here `dagster dev` runs in a process group of its own: Ctrl-C (SIGINT or SIGTERM to this
process) is passed on to that group, and whatever is still alive after GRACE_S is killed, so
everything this command started is gone within STOP_WITHIN_S. A run cut short is failed by run
monitoring and its range landed again by the next one (the drain is exactly once).

    python -m devstack.ui [--host 127.0.0.1] [--port 3000]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pinterest_assets.instance import prepare_instance
from pinterest_common.config import REPO_ROOT, get_settings

from .local_secrets import ensure_local_secrets
from .process import pid_alive

GRACE_S = 6.0  # dagster dev's own shutdown, then SIGTERM
STOP_WITHIN_S = 9.0  # then SIGKILL


def group_members(pgid: int) -> list[int]:
    """The live processes of process group `pgid` (zombies excluded)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def stop_group(pgid: int, grace_s: float = GRACE_S, within_s: float = STOP_WITHIN_S) -> float:
    """SIGINT the group, SIGTERM what is left after `grace_s`, SIGKILL what is left after
    `within_s`; returns the seconds until the group was empty."""
    started = time.monotonic()
    for sig, until in ((signal.SIGINT, grace_s), (signal.SIGTERM, within_s), (signal.SIGKILL, within_s + 2)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        while group_members(pgid) and time.monotonic() - started < until:
            time.sleep(0.1)
        if not group_members(pgid):
            break
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.ui", description=__doc__ and __doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args(argv)
    ensure_local_secrets()
    prepare_instance(get_settings())  # DAGSTER_HOME, its dagster.yaml and the variables it reads
    dagster = str(Path(sys.executable).with_name("dagster"))
    cmd = [dagster, "dev", "-w", "workspace.yaml", "-h", args.host, "-p", str(args.port)]
    child = subprocess.Popen(cmd, cwd=REPO_ROOT, start_new_session=True)
    stopping = []

    def stop(signum, _frame):
        stopping.append(signum)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping and child.poll() is None:
        time.sleep(0.2)
    if pid_alive(child.pid) or group_members(child.pid):
        seconds = stop_group(child.pid)
        print(f"[devstack] dagster dev and everything it started stopped in {seconds:.1f}s", file=sys.stderr)
    child.wait()
    return 0 if stopping else child.returncode


if __name__ == "__main__":
    sys.exit(main())
