"""Jobs: one landing job per raw asset, the targets of the drain sensors (and of `make batch`),
the refresh of the cleaned and analytics assets, and the observation of the streaming tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

from ..assets import ANALYTICS_GROUP, CURATED_GROUP, STREAMING_ASSETS
from ..checks import STREAMING_CHECKS
from ..raw_streams import STREAMS, RawStream

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition


def landing_job(stream: RawStream) -> UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name=stream.job_name,
        selection=dg.AssetSelection.assets(stream.asset_name),
        description=f"Land one offset range of `{stream.topic}` in the raw lake, then check it.",
    )


LANDING_JOBS: dict[str, UnresolvedAssetJobDefinition] = {stream.name: landing_job(stream) for stream in STREAMS}

# Clean the raw lake and answer the questions, in one run and one Spark session.
REFRESH_JOB = dg.define_asset_job(
    name="refresh_curated_and_analytics",
    selection=dg.AssetSelection.groups(CURATED_GROUP, ANALYTICS_GROUP),
    description="Fold new raw objects into the cleaned tables (blocking checks), then answer every question.",
)

OBSERVE_STREAMING_JOB = dg.define_asset_job(
    name="observe_streaming_tables_job",
    selection=dg.AssetSelection.assets(*STREAMING_ASSETS) | dg.AssetSelection.checks(*STREAMING_CHECKS),
    description="Observe the streaming job's tables (row counts, newest rows, lag behind Kafka) and check freshness.",
)

defs = dg.Definitions(jobs=[*LANDING_JOBS.values(), REFRESH_JOB, OBSERVE_STREAMING_JOB])
