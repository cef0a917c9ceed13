"""Session fixtures: the real local services, started once per test session.

By default the suite starts its own Kafka, PostgreSQL and S3 server on free ports in a
temporary state directory under `$PINTEREST_HOME/tmp`, and stops them at the end. Set
`PINTEREST_TEST_USE_RUNNING_STACK=1` to run against the stack that `make up` started instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from devstack.fresh import fresh_stack
from devstack.stack import Stack
from pinterest_common.config import Settings, get_settings

REUSE_STACK_VAR = "PINTEREST_TEST_USE_RUNNING_STACK"


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
    hold nothing but their own data (the session stack is shared by every test)."""
    with fresh_stack("test-isolated-") as settings:
        yield settings


@pytest.fixture(scope="session")
def spark(stack_settings):
    from pinterest_common.spark import build_spark_session

    session = build_spark_session(stack_settings, "pinterest-tests")
    yield session
    session.stop()
