"""The batch assets on a Spark standalone cluster (a master and two workers started from the
pyspark distribution's own classes) answer exactly as on local[2]: the golden dataset is landed
in a bucket of its own, `refresh_cleaned_and_analytics` runs with SPARK_MASTER=spark://... in a
process of its own (bench.spark_refresh), and every answer equals the hand-computed one, which
test_batch_analytics shows the same data gives on local[2]."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from bench.lakegen import write_triples
from devstack.spark_cluster import StandaloneCluster
from pinterest_common.config import REPO_ROOT
from tests.fixtures import golden

pytestmark = pytest.mark.integration


def _refresh(bucket: str, master: str, log_path) -> dict:
    env = {**os.environ, "PINTEREST_S3_BUCKET": bucket, "SPARK_MASTER": master}
    with open(log_path, "w") as log:
        done = subprocess.run(
            [sys.executable, "-m", "bench.spark_refresh"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=1800,
        )
    text = log_path.read_text(errors="replace")
    lines = [line for line in text.splitlines() if line.startswith("BENCH-RESULT ")]
    assert done.returncode == 0 and lines, text[-4000:]
    return json.loads(lines[-1][len("BENCH-RESULT ") :])


def _normalised(rows):
    return sorted(tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in rows)


@pytest.fixture(scope="module")
def standalone(stack_settings, tmp_path_factory) -> dict:
    """The standalone run's result (master, success, answers) for the golden dataset."""
    work = tmp_path_factory.mktemp("standalone")
    bucket = f"golden-standalone-{uuid.uuid4().hex[:8]}"
    # received one after the other: the superseded versions first
    assert write_triples(stack_settings, bucket, golden.superseded() + golden.triples()) > 0
    with StandaloneCluster(work, workers=2, worker_cores=1, worker_memory="1g") as master:
        return _refresh(bucket, master, work / "standalone.log")


def test_the_run_used_the_standalone_master(standalone):
    assert standalone["master"].startswith("spark://127.0.0.1:")
    assert standalone["success"]


@pytest.mark.parametrize("question", sorted(golden.EXPECTED))
def test_standalone_answer_equals_the_hand_computed_one(standalone, question):
    expected = [tuple(row) for row in golden.EXPECTED[question]]
    assert _normalised(map(tuple, standalone["answers"][question])) == _normalised(expected)
