"""Golden dataset end to end: API -> Kafka -> `make batch` (drain, clean, answer) -> the
analytics tables in PostgreSQL and in the lake equal the hand-computed answers; then a pin with
a new category is counted, and the Dagster UI shows the warning check that reports it."""

from __future__ import annotations

import pytest
import requests

from pinterest_assets.instance import prepare_instance
from pinterest_assets.lib.queries.analytics import QUESTIONS
from tests.fixtures import golden
from tests.fixtures.dagster_ui import browser_page, dagster_webserver, graphql, screenshot
from tests.fixtures.pipeline import api_url, lake_rows, post_triples, postgres_rows, run_batch

pytestmark = pytest.mark.integration

COLUMNS = {q.name: q.columns for q in QUESTIONS}

# What the UI reads: each asset's latest materialisation and its checks' latest results.
ASSET_STATES = """
{ assetNodes { assetKey { path } assetMaterializations(limit: 1) { runId }
  assetChecksOrError { ... on AssetChecks { checks { name blocking
    executionForLatestMaterialization { status runId } } } } } }
"""


def _normalised(rows):
    return sorted(tuple(float(v) if isinstance(v, float) else v for v in row) for row in rows)


@pytest.fixture(scope="module")
def golden_batch(isolated_stack, tmp_path_factory):
    """The golden data through `make batch`, and every answer as it then stood in PostgreSQL and in
    the lake (read at once: the new-category test adds data to the same stack afterwards)."""
    accepted = post_triples(isolated_stack, golden.superseded()) + post_triples(isolated_stack, golden.triples())
    invalid = requests.post(f"{api_url(isolated_stack)}/pin/", json={"index": 1}, timeout=30)
    assert invalid.status_code == 422
    result = run_batch()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    workdir = tmp_path_factory.mktemp("golden-lake")
    answers = {
        question: (
            postgres_rows(isolated_stack, question, COLUMNS[question]),
            lake_rows(isolated_stack, question, COLUMNS[question], workdir),
        )
        for question in golden.EXPECTED
    }
    return isolated_stack, accepted, answers


def test_every_golden_event_was_accepted(golden_batch):
    _, accepted, _ = golden_batch
    assert len(accepted) == 3 * (len(golden.SUPERSEDED) + len(golden.ROWS) + len(golden.REPLAYED))
    assert len(set(accepted)) == len(accepted)


@pytest.mark.parametrize("question", sorted(golden.EXPECTED))
def test_postgres_table_equals_the_hand_computed_answer(golden_batch, question):
    postgres, _ = golden_batch[2][question]
    assert _normalised(postgres) == _normalised(golden.EXPECTED[question])


@pytest.mark.parametrize("question", sorted(golden.EXPECTED))
def test_lake_table_equals_the_hand_computed_answer(golden_batch, question):
    _, lake = golden_batch[2][question]
    assert _normalised(lake) == _normalised(golden.EXPECTED[question])


def test_every_question_has_a_golden_answer():
    assert set(golden.EXPECTED) == set(COLUMNS)


def test_a_new_category_is_counted_and_the_ui_shows_the_warning(golden_batch, tmp_path):
    """A pin whose category is not one of the 13 is new data, not an error: the run passes, the
    analytics count it, and cleaned_pins' WARN check `category_known` reports it, which the
    webserver (`make ui`'s) shows. (Blocking checks stopping the analytics:
    tests/integration/test_data_quality.py.)"""
    import dagster as dg

    settings, _, _ = golden_batch
    country = "Gardenland"
    new = golden.triple((41, country, "gardening", "a", 2022, 30, 2016))
    post_triples(settings, [new])

    result = run_batch()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "category_known" in result.stdout
    assert ("Gardenland", "gardening", 1) in postgres_rows(
        settings, "top_category_per_country", COLUMNS["top_category_per_country"]
    )

    prepare_instance(settings)
    with dg.DagsterInstance.get() as instance:
        key = dg.AssetCheckKey(dg.AssetKey("cleaned_pins"), "category_known")
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
        assert record.evaluation.severity == dg.AssetCheckSeverity.WARN and not record.evaluation.passed
        run = record.run_id

    page_errors: list[str] = []
    with dagster_webserver(tmp_path) as base:
        nodes = {"/".join(n["assetKey"]["path"]): n for n in graphql(base, ASSET_STATES)["assetNodes"]}
        checks = {c["name"]: c for c in nodes["cleaned_pins"]["assetChecksOrError"]["checks"]}
        assert not checks["category_known"]["blocking"]
        assert checks["category_known"]["executionForLatestMaterialization"] == {"status": "FAILED", "runId": run}
        for question in COLUMNS:
            assert nodes[question]["assetMaterializations"] == [{"runId": run}], question

        with browser_page(page_errors) as page, screenshot(page, "dagster_ui_warning_check.png"):
            page.goto(f"{base}/assets/cleaned_pins?view=checks", wait_until="domcontentloaded")
            page.locator('xpath=//*[@title="category_known"]').first.wait_for()
    assert page_errors == []
