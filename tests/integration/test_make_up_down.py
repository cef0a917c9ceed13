"""The front door itself: `make up` twice, `make status`, `make down`, as a user types them, on a
stack of its own (free ports, its own state directory): every service healthy, the second `make up`
harmless (same processes), and after `make down` no process of the stack left. And as root with
PINTEREST_HOME under a directory closed to other users (like /root), where PostgreSQL, which runs
as the `postgres` user, cannot live: the stack starts, and `make clean-state` leaves nothing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg2
import pytest

from devstack.fresh import fresh_environment
from devstack.process import pid_alive
from devstack.services import remove_server_dirs, server_dirs_of
from pinterest_common.config import REPO_ROOT, Settings, get_settings

pytestmark = pytest.mark.integration

SERVICES = ["postgres", "s3", "kafka", "api", "streaming"]


def _make(target: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", target], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900
    )


def _states(status_output: str) -> dict[str, str]:
    return dict(re.findall(r"^(\w+)\s+(healthy|unhealthy|stopped)\s", status_output, re.MULTILINE))


def _pids(state_dir: Path) -> dict[str, int]:
    """The stack's processes by pid file (every service writes one under the state directory)."""
    return {
        str(path.relative_to(state_dir)): int(path.read_text())
        for path in state_dir.rglob("*.pid")
        if path.read_text().strip().isdigit()
    }


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{proc.name}: {cmdline[:200]}")
    return found


@pytest.fixture
def own_stack_environment():
    base = get_settings().home / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    state_dir = Path(tempfile.mkdtemp(prefix="test-make-", dir=base))
    state_dir.chmod(0o755)  # PostgreSQL runs as another user when we are root
    env = {**os.environ, **fresh_environment(state_dir)}
    try:
        yield state_dir, env
    finally:
        _make("down", env)
        remove_server_dirs([state_dir])
        shutil.rmtree(state_dir, ignore_errors=True)


def test_make_up_twice_status_healthy_then_down_leaves_nothing(own_stack_environment):
    state_dir, env = own_stack_environment

    first = _make("up", env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    pids = _pids(state_dir)
    assert len(pids) >= len(SERVICES), pids

    dotenv = (state_dir / ".env").read_text()  # PINTEREST_DOTENV of fresh_environment: not the repository's
    assert f"DAGSTER_HOME={state_dir / 'dagster'}\n" in dotenv, dotenv

    second = _make("up", env)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert _pids(state_dir) == pids, "a second `make up` must reuse the running services"

    status = _make("status", env)
    assert status.returncode == 0, status.stdout + status.stderr
    assert _states(status.stdout) == {name: "healthy" for name in SERVICES}, status.stdout
    assert str(state_dir) in status.stdout

    down = _make("down", env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert set(re.search(r"stopped: (.*)", down.stdout).group(1).split(", ")) == set(SERVICES), down.stdout
    for name, pid in pids.items():
        assert not pid_alive(pid), f"{name} (pid {pid}) still runs after make down"
    assert _processes_mentioning(str(state_dir)) == []

    after = _make("status", env)
    # `python -m devstack status` exits 3 when a service is not healthy; make reports it as an error.
    assert after.returncode != 0 and "Error 3" in after.stderr, after.stdout + after.stderr
    assert _states(after.stdout) == {name: "stopped" for name in SERVICES}, after.stdout


@pytest.fixture
def closed_home_environment():
    """PINTEREST_HOME in a new directory of mode 0700 (the jar cache linked in), a stack in its
    `stack/` on free ports."""
    closed = Path(tempfile.mkdtemp(prefix="test-closed-"))
    assert closed.stat().st_mode & 0o777 == 0o700
    home = closed / "home"
    home.mkdir()
    (home / "cache").symlink_to(get_settings().cache_dir)
    env = {**os.environ, **fresh_environment(home / "stack"), "PINTEREST_HOME": str(home)}
    try:
        yield home, env
    finally:
        _make("down", env)
        remove_server_dirs([home])
        shutil.rmtree(closed, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="PostgreSQL runs as another user only when we are root")
def test_make_up_as_root_under_a_closed_directory_then_clean_state_leaves_nothing(closed_home_environment):
    home, env = closed_home_environment
    state_dir = home / "stack"

    up = _make("up", env)
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    status = _make("status", env)
    assert _states(status.stdout) == {name: "healthy" for name in SERVICES}, status.stdout + status.stderr

    settings = Settings.from_env(env)
    with psycopg2.connect(settings.pg_dsn("postgres"), connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute("SHOW data_directory")
        data_directory = Path(cur.fetchone()[0])
    conn.close()
    server_dirs = server_dirs_of([state_dir])
    assert len(server_dirs) == 1 and not server_dirs[0].is_relative_to(home), server_dirs
    assert data_directory == server_dirs[0] / "data"
    assert (state_dir / "postgres" / "server").resolve() == server_dirs[0]
    assert "database system is ready" in (state_dir / "logs" / "postgres.log").read_text()

    down = _make("down", env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert set(re.search(r"stopped: (.*)", down.stdout).group(1).split(", ")) == set(SERVICES), down.stdout
    assert server_dirs[0].is_dir(), "make down keeps the data"

    clean = _make("clean-state", env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert not server_dirs[0].exists() and not state_dir.exists(), clean.stdout
    assert _processes_mentioning(str(server_dirs[0])) == [] and _processes_mentioning(str(home)) == []
