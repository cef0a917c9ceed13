"""20,000 emulator triples through the API and `make batch`; every analytics table, in PostgreSQL
and its copy in the lake, equals an independent re-computation by DuckDB straight from the raw
lake objects.

The DuckDB SQL (bench.duckdb_recompute) re-implements the contract's cleaning
rules and questions on its own (docs/DATA_CONTRACT.md sections 2 and 3); it shares no code with
the Spark implementation.
"""

from __future__ import annotations

import duckdb
import pytest

from bench.duckdb_recompute import QUERIES, load_raw
from bench.duckdb_recompute import answers as duckdb_answers
from ingestion_api.emulator import generate_triples
from pinterest_assets.lib.queries.analytics import QUESTIONS
from tests.fixtures.pipeline import download_prefix, lake_rows, post_triples, postgres_rows, run_batch

pytestmark = pytest.mark.integration

TRIPLES = 20_000
COLUMNS = {q.name: q.columns for q in QUESTIONS}


def _normalised(rows):
    return sorted(tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in rows)


@pytest.fixture(scope="module")
def recomputed(isolated_stack, tmp_path_factory):
    triples = [(t.pin, t.geo, t.user) for t in generate_triples(TRIPLES, seed=2024)]
    accepted = post_triples(isolated_stack, triples, batch_size=500)
    assert len(accepted) == 3 * TRIPLES
    result = run_batch()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    root = tmp_path_factory.mktemp("lake")
    assert download_prefix(isolated_stack, "raw/", root, ".jsonl.gz")
    db = duckdb.connect()
    assert load_raw(db, root) == 3 * TRIPLES
    return isolated_stack, duckdb_answers(db, COLUMNS)


def test_duckdb_covers_every_question():
    assert set(QUERIES) == set(COLUMNS)


@pytest.mark.parametrize("question", sorted(QUERIES))
def test_spark_answer_equals_the_duckdb_recomputation(recomputed, question):
    settings, answers = recomputed
    expected = answers[question]
    actual = postgres_rows(settings, question, COLUMNS[question])
    assert expected, f"DuckDB found no rows for {question}"
    assert _normalised(actual) == _normalised(expected)


@pytest.mark.parametrize("question", sorted(QUERIES))
def test_lake_copy_equals_the_duckdb_recomputation(recomputed, question, tmp_path):
    settings, answers = recomputed
    actual = lake_rows(settings, question, COLUMNS[question], tmp_path)
    assert _normalised(actual) == _normalised(answers[question])
