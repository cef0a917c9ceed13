"""Golden dataset end to end: API -> Kafka -> `make batch` (drain, clean, answer) -> the
analytics tables in PostgreSQL and in the lake equal the hand-computed answers; then a bad
upstream value fails a blocking check and stops the analytics."""

from __future__ import annotations

import pytest
import requests

from pinterest_assets.instance import prepare_instance
from pinterest_assets.queries.analytics import QUESTIONS
from tests.fixtures import golden
from tests.fixtures.pipeline import api_url, lake_rows, post_triples, postgres_rows, run_batch

pytestmark = pytest.mark.integration

COLUMNS = {q.name: q.columns for q in QUESTIONS}


def _normalised(rows):
    return sorted(tuple(float(v) if isinstance(v, float) else v for v in row) for row in rows)


@pytest.fixture(scope="module")
def golden_batch(isolated_stack):
    accepted = post_triples(isolated_stack, golden.triples())
    invalid = requests.post(f"{api_url(isolated_stack)}/pin/", json={"index": 1}, timeout=30)
    assert invalid.status_code == 422
    result = run_batch()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return isolated_stack, accepted, result.stdout


def test_every_golden_event_was_accepted(golden_batch):
    _, accepted, _ = golden_batch
    assert len(accepted) == 3 * (len(golden.ROWS) + len(golden.REPLAYED))
    assert len(set(accepted)) == len(accepted)


@pytest.mark.parametrize("question", sorted(golden.EXPECTED))
def test_postgres_table_equals_the_hand_computed_answer(golden_batch, question):
    settings, _, _ = golden_batch
    assert _normalised(postgres_rows(settings, question, COLUMNS[question])) == _normalised(golden.EXPECTED[question])


@pytest.mark.parametrize("question", sorted(golden.EXPECTED))
def test_lake_table_equals_the_hand_computed_answer(golden_batch, question, tmp_path):
    settings, _, _ = golden_batch
    rows = lake_rows(settings, question, COLUMNS[question], tmp_path)
    assert _normalised(rows) == _normalised(golden.EXPECTED[question])


def test_every_question_has_a_golden_answer():
    assert set(golden.EXPECTED) == set(COLUMNS)


def test_a_failing_blocking_check_stops_the_analytics(golden_batch):
    """A pin whose category is not one of the 13 is valid input (the API does not restrict
    categories) but fails cleaned_pins' blocking check `category_known`: the run stops
    before the analytics, which keep their previous answers."""
    import dagster as dg

    settings, _, _ = golden_batch
    bad = golden.triple((41, golden.A, "gardening", "a", 2022, 30, 2016))
    post_triples(settings, [bad])
    before = postgres_rows(settings, "top_category_per_country", COLUMNS["top_category_per_country"])

    result = run_batch()
    assert result.returncode != 0
    assert "category_known" in result.stdout

    prepare_instance(settings)
    with dg.DagsterInstance.get() as instance:
        evaluation = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("cleaned_pins"), "category_known")]
        )
        latest = next(iter(evaluation.values()))
        assert latest.status.value == "FAILED"
        cleaned_run = latest.run_id
        answered = instance.get_latest_materialization_event(dg.AssetKey("top_category_per_country"))
        assert answered.run_id != cleaned_run
    assert postgres_rows(settings, "top_category_per_country", COLUMNS["top_category_per_country"]) == before
