"""Session fixtures: the real local services, started once per test session.

By default the suite starts its own Kafka, PostgreSQL and S3 server on free ports in a
temporary state directory under `$PINTEREST_HOME/tmp`, and stops them at the end. Set
`PINTEREST_TEST_USE_RUNNING_STACK=1` to run against the stack that `make up` started instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from devstack.process import free_port
from devstack.stack import Stack
from pinterest_common.config import Settings, get_settings

REUSE_STACK_VAR = "PINTEREST_TEST_USE_RUNNING_STACK"


def _test_environment(state_dir: Path) -> dict[str, str]:
    kafka, controller, s3, pg, api = (free_port() for _ in range(5))
    return {
        "PINTEREST_API_PORT": str(api),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka}",
        "PINTEREST_KAFKA_CONTROLLER_PORT": str(controller),
        "PINTEREST_S3_ENDPOINT_URL": f"http://127.0.0.1:{s3}",
        "PINTEREST_PG_PORT": str(pg),
        "PINTEREST_HOME": os.environ.get("PINTEREST_HOME") or str(get_settings().home),
        "PINTEREST_STACK_DIR": str(state_dir),
        "DAGSTER_HOME": str(state_dir / "dagster"),
    }


@contextmanager
def fresh_stack(prefix: str = "test-stack-", streaming: bool = True) -> Iterator[Settings]:
    """A new stack of real services on free ports in a temporary state directory, with its
    settings exported to os.environ until it is stopped (`streaming=False`: without the
    streaming job)."""
    base = get_settings().home / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    state_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    state_dir.chmod(0o755)  # PostgreSQL runs as another user when we are root
    saved = dict(os.environ)
    os.environ.update(_test_environment(state_dir))
    settings = get_settings()
    stack = Stack(settings, state_dir, streaming=streaming)
    try:
        stack.up()
        yield settings
    finally:
        stack.down()
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def stack_settings() -> Iterator[Settings]:
    """Settings pointing at running real services; exported to os.environ for the code under test."""
    if os.environ.get(REUSE_STACK_VAR) == "1":
        settings = get_settings()
        if not all(row.healthy for row in Stack(settings).status()):
            pytest.fail(f"{REUSE_STACK_VAR}=1 but the local stack is not healthy: run `make up`")
        yield settings
        return
    with fresh_stack() as settings:
        yield settings


@pytest.fixture(scope="module")
def isolated_stack() -> Iterator[Settings]:
    """A stack of its own for one test module, for tests that need the topics and the lake to
    hold nothing but their own data (the session stack is shared by every test). Without the
    streaming job, which the batch pipeline does not need."""
    with fresh_stack("test-isolated-", streaming=False) as settings:
        yield settings


@pytest.fixture(scope="module")
def isolated_full_stack() -> Iterator[Settings]:
    """A stack of its own for one test module, with the streaming job."""
    with fresh_stack("test-isolated-") as settings:
        yield settings


@pytest.fixture(scope="session")
def spark(stack_settings):
    from pinterest_common.spark import build_spark_session

    session = build_spark_session(stack_settings, "pinterest-tests")
    yield session
    session.stop()
