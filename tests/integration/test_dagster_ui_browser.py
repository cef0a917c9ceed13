"""The Dagster UI in a real browser, after a real batch.

The golden dataset goes through the API into Kafka, `make batch`'s module lands it in the raw
lake, cleans it and answers the questions, so the instance holds materialisations and asset
check results. Then `dagster-webserver -w workspace.yaml` runs on a free port against that
instance, started the way `make ui` starts `dagster dev` (`python -m pinterest_assets.instance
-- ...`), and headless Chromium (Debian's /usr/bin/chromium, which scripts/bootstrap.sh installs,
driven by Playwright; Playwright's own browser builds are never used) shows:

- the asset catalog, one asset group at a time: every raw, cleaned and analytics asset of the
  definitions, materialised, and the streaming job's tables (observed source assets);
- the lineage graph of the cleaned group: the cleaned tables, their raw upstreams and their
  checks' summary;
- the checks tab of cleaned_pins: every check with its latest result, succeeded.

Screenshots of what the browser saw are kept in $PINTEREST_HOME/test-artifacts/ (dagster_ui_*.png;
under `make test` that is .pinterest/test-artifacts/), whether the test passes or not. The
webserver and the browser are stopped at the end, always.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import dagster as dg
import pytest
from playwright.sync_api import expect

from pinterest_assets.definitions import build_definitions
from pinterest_assets.defs.analytics.assets import ANALYTICS_GROUP
from pinterest_assets.defs.cleaned.assets import CLEANED_GROUP
from pinterest_assets.defs.streaming_tables.assets import STREAMING_GROUP
from pinterest_assets.defs.streaming_tables.assets import TABLES as STREAMING_TABLES
from pinterest_assets.defs.streaming_tables.jobs import OBSERVE_STREAMING_JOB
from pinterest_assets.instance import prepare_instance
from pinterest_assets.lib.topics import DRAINED_TOPICS, RAW_LAKE_GROUP
from tests.fixtures import golden
from tests.fixtures.dagster_ui import LOCATION, browser_page, dagster_webserver, graphql, screenshot
from tests.fixtures.pipeline import post_triples, run_batch

pytestmark = pytest.mark.integration

BATCH_TIMEOUT_S = 1500

BATCH_GROUPS = (RAW_LAKE_GROUP, CLEANED_GROUP, ANALYTICS_GROUP)
CHECKED_ASSET = "cleaned_pins"


# What the definitions hold: the UI must show it -------------------------------------------
@pytest.fixture(scope="module")
def definitions():
    """Asset keys by group and the checks of CHECKED_ASSET, from the code location itself."""
    from pinterest_assets.definitions import build_definitions

    graph = build_definitions().resolve_asset_graph()
    groups: dict[str, set[str]] = {}
    for key in graph.get_all_asset_keys():
        groups.setdefault(graph.get(key).group_name, set()).add(key.to_user_string())
    checks = {c.name for c in graph.asset_check_keys if c.asset_key.to_user_string() == CHECKED_ASSET}
    return groups, checks


def test_the_definitions_hold_every_layer(definitions):
    """What the browser tests below look for: the asserts there read these sets."""
    groups, checks = definitions
    assert {s.asset_name for s in DRAINED_TOPICS} <= groups.get(RAW_LAKE_GROUP, set())
    assert CHECKED_ASSET in groups.get(CLEANED_GROUP, set())
    assert "top_category_per_country" in groups.get(ANALYTICS_GROUP, set())
    assert {t.name for t in STREAMING_TABLES} <= groups.get(STREAMING_GROUP, set()), (
        "the streaming job's tables are not in pinterest_assets.definitions"
    )
    assert {"category_known", "unique_key", "raw_keys_reconciled"} <= checks


# The batch, the webserver, the browser -----------------------------------------------------
@pytest.fixture(scope="module")
def batch(stack_settings):
    """The golden dataset through the API, one complete `make batch` pass, and one observation
    of the streaming tables (what the observation sensor requests)."""
    post_triples(stack_settings, golden.superseded())
    post_triples(stack_settings, golden.triples())
    result = run_batch(timeout_s=BATCH_TIMEOUT_S)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    prepare_instance(stack_settings)
    with dg.DagsterInstance.get() as instance:
        job = build_definitions(stack_settings).resolve_job_def(OBSERVE_STREAMING_JOB.name)
        assert job.execute_in_process(instance=instance).success
    return stack_settings


@pytest.fixture(scope="module")
def webserver(batch, tmp_path_factory) -> Iterator[str]:
    """`dagster-webserver -w workspace.yaml` on a free port against the batch's instance; its URL."""
    with dagster_webserver(tmp_path_factory.mktemp("dagster-webserver")) as base:
        # The instance has "seen" the community sign-up dialog: it would cover the UI on 127.0.0.1.
        assert graphql(base, "mutation { setNuxSeen }")["setNuxSeen"] is True
        yield base


@pytest.fixture
def page_errors() -> list[str]:
    """Uncaught exceptions in the UI's scripts, as the page reported them."""
    return []


@pytest.fixture
def page(webserver, page_errors):
    """A page in a new headless Chromium (Playwright's temporary profile), closed at the end."""
    with browser_page(page_errors) as page:
        yield page


def open_ui(page, base: str, path: str) -> None:
    page.goto(base + path, wait_until="domcontentloaded")


def catalog_path(selection: str) -> str:
    return "/assets?" + urllib.parse.urlencode({"asset-selection": selection})


def catalog_row(page, key: str):
    """The catalog's row of asset `key` (its checkbox carries the key as data-testid)."""
    return page.locator(f'xpath=//input[@data-testid="checkbox-{key}"]/ancestor::div[.//a[@href="/assets/{key}"]][1]')


# The tests ----------------------------------------------------------------------------------
def test_the_catalog_shows_raw_cleaned_analytics_and_streaming_assets(webserver, page, page_errors, definitions):
    groups, _ = definitions
    expected = {group: groups.get(group, set()) for group in (*BATCH_GROUPS, STREAMING_GROUP)}
    with screenshot(page, "dagster_ui_assets.png"):
        for group, keys in expected.items():
            open_ui(page, webserver, catalog_path(f'group:"{group}"'))
            for key in sorted(keys):
                row = catalog_row(page, key)
                expect(row).to_contain_text(group)
                if group in BATCH_GROUPS:
                    # The batch materialised every one of them: the status column (loaded after
                    # the row) says so.
                    expect(row).to_contain_text("Materialized")
                else:
                    # ... and the streaming tables were observed.
                    expect(row).not_to_contain_text("Never observed")
            shown = set(
                page.locator('a[href^="/assets/"]').evaluate_all(
                    "links => links.map(a => decodeURIComponent(a.getAttribute('href').slice('/assets/'.length)))"
                )
            )
            assert shown == keys, (group, sorted(shown ^ keys))

        # One page with one asset of each layer, for the screenshot, and the streaming source
        # asset by name (not only through the definitions).
        layers = ["raw_pin_events", CHECKED_ASSET, "top_category_per_country", STREAMING_TABLES[0].name]
        open_ui(page, webserver, catalog_path(" or ".join(f'key:"{key}"' for key in layers)))
        for key in layers:
            catalog_row(page, key).wait_for()
        for key in layers[:-1]:
            expect(catalog_row(page, key)).to_contain_text("Materialized")
    assert page_errors == []


def test_the_lineage_graph_shows_the_cleaned_tables_their_raw_upstreams_and_checks(
    webserver, page, page_errors, definitions
):
    """The cleaned group's graph, whose cleaned_pins node sums up its checks; then each cleaned
    and quarantine table's upstream lineage, its raw asset, on a page of its own (the group's
    graph, analytics included, is taller than the window, which renders only what it shows)."""
    groups, checks = definitions
    with screenshot(page, "dagster_ui_lineage.png"):
        open_ui(page, webserver, f"/locations/{LOCATION}/asset-groups/{CLEANED_GROUP}")
        for key in (CHECKED_ASSET, "raw_pin_events"):
            page.get_by_text(key, exact=True).first.wait_for()
        page.get_by_text(f"{len(checks)} / {len(checks)} Passed", exact=True).first.wait_for()
    raw_of = {s.name: s.asset_name for s in DRAINED_TOPICS}
    cleaned = sorted(groups[CLEANED_GROUP])
    assert len(cleaned) == 2 * len(raw_of)
    for key in cleaned:
        raw = next(asset for name, asset in raw_of.items() if key.endswith((f"_{name}s", f"_{name}")))
        with screenshot(page, f"dagster_ui_lineage_{key}.png"):
            open_ui(page, webserver, f"/assets/{key}?view=lineage")
            page.get_by_text("Upstream", exact=True).first.click()
            page.get_by_text(raw, exact=True).first.wait_for()
    assert page_errors == []


def test_the_checks_tab_shows_every_check_of_cleaned_pins_passed(webserver, page, page_errors, definitions):
    _, checks = definitions
    with screenshot(page, "dagster_ui_checks.png"):
        open_ui(page, webserver, f"/assets/{CHECKED_ASSET}?view=checks")
        page.get_by_text(f"Checks ({len(checks)})", exact=True).wait_for()
        for name in sorted(checks):
            # The list on the left: each check's name and the status of its latest execution.
            entry = page.locator(f'xpath=//*[@title="{name}"]/..').filter(has_text="Succeeded")
            entry.first.wait_for()
        # The selected check's latest execution.
        page.get_by_text("Evaluation result", exact=True).wait_for()
        page.get_by_text("Passed", exact=True).first.wait_for()
        assert page.get_by_text("Failed", exact=True).count() == 0
    assert page_errors == []
