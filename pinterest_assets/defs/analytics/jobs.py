"""The refresh as a job: clean the new raw objects and answer every question, in one run and one
Spark session (starting Spark is most of a small refresh's cost). `make batch` and the UI run it;
under a daemon the automation (pinterest_assets/lib/automation.py) requests the same assets."""

from __future__ import annotations

import dagster as dg

from pinterest_assets.defs.analytics.assets import ANALYTICS_GROUP
from pinterest_assets.defs.cleaned.assets import CLEANED_GROUP
from pinterest_assets.lib.automation import REFRESH_TAG

REFRESH_JOB = dg.define_asset_job(
    name="refresh_cleaned_and_analytics",
    selection=dg.AssetSelection.groups(CLEANED_GROUP, ANALYTICS_GROUP),
    description="Fold new raw objects into the cleaned tables (blocking checks), then answer every question.",
    tags={REFRESH_TAG: "job"},  # queued behind an automated refresh, not beside it (dagster.yaml)
)
