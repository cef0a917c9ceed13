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
WITHOUT_STREAMING = ("postgres", "s3", "kafka", "api")


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
    with fresh_stack("test-isolated-", services=WITHOUT_STREAMING) as settings:
        yield settings


@pytest.fixture(scope="module")
def isolated_full_stack() -> Iterator[Settings]:
    """A stack of its own for one test module, with the streaming job."""
    with fresh_stack("test-isolated-") as settings:
        yield settings


@pytest.fixture(scope="session")
def spark(stack_settings):
    """A SparkSession with the Kafka and S3 connectors for the session stack. A plain one the unit
    tests started before (tests/unit/conftest.py) is stopped with its JVM first: connectors are
    put on the driver's classpath only when a JVM starts."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    from pinterest_common.spark import build_spark_session

    plain = SparkSession.getActiveSession()
    if plain is not None:
        plain.stop()
        gateway = SparkContext._gateway
        gateway.shutdown()
        gateway.proc.stdin.close()  # the JVM exits when its stdin closes
        SparkContext._gateway = SparkContext._jvm = None
    session = build_spark_session(stack_settings, "pinterest-tests")
    yield session
    session.stop()
