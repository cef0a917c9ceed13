"""One landing job per raw asset: the target of its drain sensor (and of `make batch`)."""

from __future__ import annotations

import dagster as dg

from pinterest_assets.lib.topics import DRAINED_TOPICS, DrainedTopic


def landing_job(stream: DrainedTopic):
    return dg.define_asset_job(
        name=stream.job_name,
        selection=dg.AssetSelection.assets(stream.asset_name),
        description=f"Land one offset range of `{stream.topic}` in the raw lake, then check it.",
    )


LANDING_JOBS = {stream.name: landing_job(stream) for stream in DRAINED_TOPICS}
