"""Jobs: one landing job per raw asset, the targets of the drain sensors (and of `make batch`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

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

defs = dg.Definitions(jobs=list(LANDING_JOBS.values()))
