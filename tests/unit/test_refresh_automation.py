"""The automation that refreshes the cleaned and analytics assets when new raw data lands
(pinterest_assets/lib/automation.py), evaluated tick by tick with Dagster's own tester."""

from __future__ import annotations

import dagster as dg
import pytest

from pinterest_assets.definitions import build_definitions
from pinterest_assets.defs.analytics.assets import ANALYTICS_GROUP
from pinterest_assets.defs.analytics.sensors import refresh_on_new_raw_data
from pinterest_assets.defs.cleaned.assets import CLEANED_GROUP
from pinterest_common.config import Settings

CLEANED = {f"{layer}_{name}" for layer in ("cleaned", "quarantined") for name in ("pins", "geo", "users")}


@pytest.fixture(scope="module")
def defs():
    return build_definitions(Settings.from_env({}))


@pytest.fixture(scope="module")
def analytics(defs) -> set[str]:
    graph = defs.resolve_asset_graph()
    answers = {key.to_user_string() for key in dg.AssetSelection.groups(ANALYTICS_GROUP).resolve(graph)}
    assert len(answers) == 10
    return answers


class Ticks:
    """The automation sensor's evaluations, one `tick()` at a time, on a test instance."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance):
        self.defs, self.instance, self.cursor = defs, instance, None

    def tick(self) -> set[str]:
        result = dg.evaluate_automation_conditions(defs=self.defs, instance=self.instance, cursor=self.cursor)
        self.cursor = result.cursor
        graph = self.defs.resolve_asset_graph()
        return {key.to_user_string() for key in graph.get_all_asset_keys() if result.get_num_requested(key)}

    def land(self, *names: str) -> None:
        for name in names:
            self.instance.report_runless_asset_event(dg.AssetMaterialization(name))

    def check(self, asset: str, name: str, passed: bool) -> None:
        self.instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(asset_key=dg.AssetKey(asset), check_name=name, passed=passed)
        )


@pytest.fixture
def ticks(defs):
    with dg.instance_for_test() as instance:
        yield Ticks(defs, instance)


def test_the_sensor_runs_by_default_and_targets_the_cleaned_and_analytics_groups(defs):
    sensor = defs.resolve_sensor_def(refresh_on_new_raw_data.name)
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    graph = defs.resolve_asset_graph()
    targeted = sensor.asset_selection.resolve(graph)
    assert targeted == dg.AssetSelection.groups(CLEANED_GROUP, ANALYTICS_GROUP).resolve(graph)
    assert all(graph.get(key).automation_condition is not None for key in targeted)


def test_new_raw_data_requests_the_clean_step_and_the_answers_on_the_same_tick(ticks, analytics):
    assert ticks.tick() == set()  # nothing landed
    ticks.land("raw_pin_events")
    assert ticks.tick() == CLEANED | analytics  # the clean step is one unit (every stream)
    assert ticks.tick() == set()  # requested once for that landing
    ticks.land("raw_geo_events", "raw_user_events")
    assert ticks.tick() == CLEANED | analytics


def test_a_landing_after_the_request_asks_for_one_more_refresh(ticks, analytics):
    ticks.land("raw_pin_events")
    assert ticks.tick() == CLEANED | analytics
    ticks.land("raw_pin_events")  # after the request: the requested run may have read the lake already
    assert ticks.tick() == CLEANED | analytics
    assert ticks.tick() == set()


def test_raw_data_from_before_the_automation_is_cleaned_once(ticks, analytics):
    ticks.land("raw_pin_events", "raw_geo_events", "raw_user_events")
    assert ticks.tick() == CLEANED | analytics
    assert ticks.tick() == set()


def test_cleaned_data_from_elsewhere_refreshes_the_answers_unless_a_blocking_check_failed(ticks, analytics):
    ticks.land("raw_pin_events", "raw_geo_events", "raw_user_events")
    ticks.tick()
    assert ticks.tick() == set()  # (the requested run would be in progress here)
    ticks.land("cleaned_pins")  # e.g. `make batch` or the UI, without the answers
    ticks.check("cleaned_pins", "unique_key", passed=False)
    assert ticks.tick() == set()  # the answers wait for a passing check
    ticks.check("cleaned_pins", "unique_key", passed=True)
    assert ticks.tick() == analytics
