"""A throw-away stack: real services on free ports in a state directory of its own.

The test suite (tests/conftest.py), the fault suite (devstack/chaos) and the benchmarks (bench/)
use it, so they never touch the stack of `make up`. `services` picks a subset by name (in start order), e.g. the batch
tests run without the streaming job.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from pinterest_common.config import Settings, get_settings

from .local_secrets import ensure_local_secrets
from .process import free_ports
from .services import remove_server_dirs
from .stack import Stack

THROWAWAY_GRACE_S = 5.0  # how long a service of a stack about to be deleted may shut down


def fresh_environment(state_dir: Path) -> dict[str, str]:
    """The variables that point a stack at free ports, at `state_dir` and at its Dagster instance."""
    kafka, controller, s3, pg, api = free_ports(5)
    return {
        "PINTEREST_API_PORT": str(api),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka}",
        "PINTEREST_KAFKA_CONTROLLER_PORT": str(controller),
        "PINTEREST_S3_ENDPOINT_URL": f"http://127.0.0.1:{s3}",
        "PINTEREST_PG_PORT": str(pg),
        "PINTEREST_HOME": os.environ.get("PINTEREST_HOME") or str(get_settings().home),
        "PINTEREST_STACK_DIR": str(state_dir),
        "DAGSTER_HOME": str(state_dir / "dagster"),
        "PINTEREST_DOTENV": str(state_dir / ".env"),  # the repository's .env is the local stack's
    }


@contextmanager
def fresh_stack(
    prefix: str = "test-stack-",
    services: Sequence[str] | None = None,
    keep_state: bool = False,
    environment: Callable[[Path], Mapping[str, str]] | None = None,
) -> Iterator[Settings]:
    """A new stack of real services on free ports in a temporary state directory under
    `$PINTEREST_HOME/tmp`, with its settings exported to os.environ until it is stopped.
    `services`: the names of the services to start (default: all). The Stack object is
    available as `settings_stack(settings)` while it runs. `environment`: more variables, given the
    state directory (e.g. `devstack.tls.secure_environment`)."""
    base = get_settings().home / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    state_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    state_dir.chmod(0o755)  # PostgreSQL runs as another user when we are root
    saved = dict(os.environ)
    os.environ.update(fresh_environment(state_dir))
    os.environ.update(environment(state_dir) if environment else {})
    ensure_local_secrets(Path(os.environ["PINTEREST_HOME"]))
    settings = get_settings()
    stack = Stack(settings, state_dir)
    if services is not None:
        unknown = set(services) - {s.name for s in stack.services}
        if unknown:
            raise ValueError(f"unknown service(s): {', '.join(sorted(unknown))}")
        stack.services = [s for s in stack.services if s.name in services]
    _RUNNING[id(settings)] = stack
    try:
        stack.up()
        yield settings
    finally:
        _RUNNING.pop(id(settings), None)
        # Stop every service of the stack, also those started later with start_service().
        stack.services = Stack(settings, state_dir).services
        # A throw-away stack's data is deleted next: a service still shutting down after a few
        # seconds is killed (Kafka and the S3 server were seen to take the whole 30 s at times).
        stack.down(grace_s=None if keep_state else THROWAWAY_GRACE_S)
        os.environ.clear()
        os.environ.update(saved)
        if not keep_state:
            remove_server_dirs([state_dir])  # PostgreSQL's, when it had to live outside (root, closed parents)
            shutil.rmtree(state_dir, ignore_errors=True)


_RUNNING: dict[int, Stack] = {}


def settings_stack(settings: Settings) -> Stack:
    """The Stack a running fresh_stack() yielded `settings` for."""
    return _RUNNING[id(settings)]


def start_service(settings: Settings, name: str) -> None:
    """Start one more service of a running fresh_stack() (e.g. the streaming job)."""
    stack = settings_stack(settings)
    service = next(s for s in Stack(settings, stack.state_dir).services if s.name == name)
    service.start()
    if name not in {s.name for s in stack.services}:
        stack.services.append(service)


def stop_service(settings: Settings, name: str) -> bool:
    stack = settings_stack(settings)
    for service in stack.services:
        if service.name == name:
            stack.services.remove(service)
            return service.stop()
    return False
