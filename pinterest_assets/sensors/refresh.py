"""New raw data -> cleaned and analytics assets, without anyone clicking (running by default).

Each tick compares, per stream, the newest materialisation of the raw asset with the newest of
the cleaned table it feeds (the same question as "any dependency updated since I was last
materialised"). When a raw asset is newer, it requests one `refresh_curated_and_analytics` run,
unless one is already in flight (the next tick will catch what it missed). The run key names
the raw materialisations it covers, so the same raw state never gets two runs, and a run that
failed is not retried in a loop: new raw data, `make batch` or the UI start the next one.
"""

from __future__ import annotations

import dagster as dg

from ..assets.curated import CLEANED_TABLES
from ..jobs import REFRESH_JOB
from ..raw_streams import STREAMS
from .kafka_drain import NOT_FINISHED

REFRESH_SENSOR_INTERVAL_S = 30


def newest_materialization(instance: dg.DagsterInstance, asset_name: str) -> int | None:
    """Storage id of the asset's newest materialisation event (ids grow with time)."""
    records = instance.fetch_materializations(dg.AssetKey(asset_name), limit=1).records
    return records[0].storage_id if records else None


def stale_streams(instance: dg.DagsterInstance) -> tuple[dict[str, int], list[str]]:
    """(newest raw materialisation per raw asset, the streams whose raw data is newer than their
    cleaned table)."""
    raw = {stream.name: newest_materialization(instance, stream.asset_name) for stream in STREAMS}
    stale = []
    for stream in STREAMS:
        cleaned = newest_materialization(instance, CLEANED_TABLES[stream.name])
        if raw[stream.name] is not None and (cleaned is None or raw[stream.name] > cleaned):
            stale.append(stream.name)
    return {name: storage_id for name, storage_id in raw.items() if storage_id is not None}, stale


@dg.sensor(
    name="refresh_on_new_raw_data",
    job=REFRESH_JOB,
    minimum_interval_seconds=REFRESH_SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests a refresh of the cleaned and analytics assets when a raw asset has newer data than its "
                "cleaned table.",
)
def refresh_on_new_raw_data(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    raw, stale = stale_streams(context.instance)
    if not stale:
        return dg.SkipReason("every cleaned table is newer than its raw data")
    running = context.instance.get_run_records(
        filters=dg.RunsFilter(job_name=REFRESH_JOB.name, statuses=NOT_FINISHED), limit=1
    )
    if running:
        return dg.SkipReason(f"new raw data for {', '.join(stale)}; waiting for run {running[0].dagster_run.run_id}")
    covered = "-".join(f"{name}{storage_id}" for name, storage_id in sorted(raw.items()))
    return dg.RunRequest(run_key=f"raw-{covered}", tags={"pinterest/new_raw_data": ",".join(stale)})
