"""The sensor that evaluates the refresh automation (pinterest_assets/lib/automation.py) of the
cleaned and analytics assets, running by default: new raw data is cleaned and the questions
answered without anyone clicking, one refresh run at a time (dagster.yaml's `pinterest/refresh`
limit)."""

from __future__ import annotations

import dagster as dg

from pinterest_assets.defs.analytics.assets import ANALYTICS_GROUP
from pinterest_assets.defs.cleaned.assets import CLEANED_GROUP
from pinterest_assets.lib.automation import REFRESH_TAG

REFRESH_SENSOR_INTERVAL_S = 30

refresh_on_new_raw_data = dg.AutomationConditionSensorDefinition(
    "refresh_on_new_raw_data",
    target=dg.AssetSelection.groups(CLEANED_GROUP, ANALYTICS_GROUP),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=REFRESH_SENSOR_INTERVAL_S,
    run_tags={REFRESH_TAG: "automation"},
    description="Requests a refresh of the cleaned tables when raw data lands, and of the answers when the "
    "cleaned tables change (the automation conditions on those assets).",
)
