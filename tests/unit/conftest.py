"""Unit-test fixtures that need no services: a local SparkSession.

It shadows the `spark` fixture of tests/conftest.py (which starts Kafka, PostgreSQL and S3)
for the tests under tests/unit. One JVM serves one SparkSession at a time: when the integration
tests' session (with the Kafka and S3 connectors) is active, in a run of the whole suite in any
order, the unit tests use it; otherwise a plain local one, which that fixture replaces when it
starts (tests/conftest.py).
"""

from __future__ import annotations

import os
import sys

import pytest

SQL_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.ansi.enabled": "true",  # Spark 4's default, pinned: bad input must not raise
}


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is None:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        session = (
            SparkSession.builder.master("local[1]")
            .appName("pinterest-unit-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
    for key, value in SQL_CONF.items():
        session.conf.set(key, value)
    return session


@pytest.fixture
def resource_secrets(monkeypatch):
    """The variables the code location's resources name as EnvVars, set (placeholders): what a
    process that creates runs has (pinterest_assets.instance.export_environment)."""
    from pinterest_common.config import LOCAL_SECRETS

    for name in LOCAL_SECRETS:
        monkeypatch.setenv(name, "placeholder")
