"""The observation of the streaming job's tables and their freshness check."""

from __future__ import annotations

import dagster as dg

from .assets import STREAMING_ASSETS
from .checks import STREAMING_CHECKS

OBSERVE_STREAMING_JOB = dg.define_asset_job(
    name="observe_streaming_tables_job",
    # Without the assets' other checks: the agreement check (agreement.py) runs on demand only.
    selection=dg.AssetSelection.assets(*STREAMING_ASSETS).without_checks()
    | dg.AssetSelection.checks(*STREAMING_CHECKS),
    description="Observe the streaming job's tables (row counts, newest rows, lag behind Kafka) and check freshness.",
)
