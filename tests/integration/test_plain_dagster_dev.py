"""Plain `dagster dev`, run in a clean checkout with nothing else set, is the platform's UI.

On a stack of its own: the golden triples through the API, one `make batch` pass (so the
instance holds materialisations). Then a fresh `git clone` of this repository gets the `.env`
that `make up` writes (devstack/dotenv.py), and `dagster dev` starts there with only PATH, HOME
and LANG in its environment. In headless Chromium the UI shows the analytics asset's history (the
batch's materialisation), and its Materialize button starts a run that materialises it again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from devstack.dotenv import write_dotenv
from devstack.process import free_port
from pinterest_common.config import REPO_ROOT
from tests.fixtures import golden
from tests.fixtures.dagster_ui import (
    LOCATION,
    LOCATIONS,
    SERVER_START_S,
    browser_page,
    graphql,
    screenshot,
    stop_process_group,
    wait_for,
)
from tests.fixtures.pipeline import post_triples, run_batch

pytestmark = pytest.mark.integration

ASSET = "top_category_per_country"
RUN_TIMEOUT_S = 900
MATERIALIZATIONS = '{ assetOrError(assetKey: {path: ["%s"]}) { ... on Asset { assetMaterializations(limit: 100) { runId timestamp } } } }'


RUNS = "{ runsOrError(limit: 200) { ... on Runs { results { assetSelection { path } } } } }"


def launched_runs(base: str) -> int:
    """Runs that select ASSET, whatever their state."""
    runs = graphql(base, RUNS)["runsOrError"]["results"]
    return sum(1 for run in runs if [ASSET] in [key["path"] for key in run["assetSelection"] or []])


def materializations(base: str) -> list[dict]:
    return graphql(base, MATERIALIZATIONS % ASSET)["assetOrError"]["assetMaterializations"]


@pytest.fixture(scope="module")
def batched(isolated_stack):
    post_triples(isolated_stack, golden.triples())
    result = run_batch()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return isolated_stack


@pytest.fixture(scope="module")
def plain_dagster_dev(batched, tmp_path_factory) -> Iterator[str]:
    """`dagster dev` in a fresh clone, its environment PATH, HOME and LANG only; its URL."""
    clone = tmp_path_factory.mktemp("checkout") / "repo"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], check=True, timeout=300)
    assert write_dotenv(batched, clone / ".env")  # what `make up` writes in the checkout it runs in
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    log_path = clone.parent / "dagster-dev.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster")), "dev", "-h", "127.0.0.1", "-p", str(port)],
            cwd=clone,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def loaded() -> bool:
        assert process.poll() is None, log_path.read_text(errors="replace")[-4000:]
        try:
            entries = graphql(base, LOCATIONS)["workspaceOrError"]["locationEntries"]
        except requests.RequestException:
            return False
        return any(e["name"] == LOCATION and e["loadStatus"] == "LOADED" for e in entries)

    try:
        wait_for(loaded, SERVER_START_S, f"plain dagster dev did not load {LOCATION}")
        log_text = log_path.read_text(errors="replace")
        assert "Loaded environment variables from .env file" in log_text and ".tmp_dagster_home" not in log_text
        assert graphql(base, "mutation { setNuxSeen }")["setNuxSeen"] is True
        yield base
    finally:
        stop_process_group(process)


def test_plain_dagster_dev_shows_the_history_and_materialises_an_analytics_asset(plain_dagster_dev):
    base = plain_dagster_dev
    before, runs_before = materializations(base), launched_runs(base)
    assert before, "the batch's materialisation is not in the instance plain dagster dev opened"
    with browser_page([]) as page, screenshot(page, "plain_dagster_dev_materialize.png"):
        page.goto(f"{base}/assets/{ASSET}", wait_until="domcontentloaded")
        # The history: the batch's materialisation, and in the Events tab the run that made it.
        expect(page.get_by_text("Latest materialization").first).to_be_visible()
        page.goto(f"{base}/assets/{ASSET}?view=events", wait_until="domcontentloaded")
        expect(page.get_by_text(before[0]["runId"][:8]).first).to_be_visible()
        page.locator("button:has-text('Materialize')").first.click()
        # The browser stays until the UI's launch has reached the instance (closing it at once
        # was seen to cancel the launch under load).
        wait_for(lambda: launched_runs(base) > runs_before, 300, f"no run of {ASSET} launched from the UI")
    newer = wait_for(
        lambda: len(materializations(base)) > len(before) and materializations(base),
        RUN_TIMEOUT_S,
        f"the run launched from the UI did not materialise {ASSET}",
        interval=5,
    )
    assert newer[0]["runId"] != before[0]["runId"]
