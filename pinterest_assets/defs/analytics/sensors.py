"""New raw data -> cleaned and analytics assets, without anyone clicking (running by default).

Each tick compares, per stream, the newest materialisation of the raw asset with the run that
last materialised the cleaned table it feeds: raw data landed after that run started may not be
in it (the same question as "any dependency updated since I was last materialised", made safe
for landings during a refresh). When a raw asset is newer, it requests one
`refresh_cleaned_and_analytics` run,
unless one is already in flight (the next tick will catch what it missed). The run key names
the raw materialisations it covers, so the same raw state never gets two runs, and a run that
failed is not retried in a loop: new raw data, `make batch` or the UI start the next one.
"""

from __future__ import annotations

import dagster as dg

from pinterest_assets.defs.analytics.jobs import REFRESH_JOB
from pinterest_assets.defs.cleaned.assets import CLEANED_TABLES
from pinterest_assets.lib.runs import NOT_FINISHED
from pinterest_assets.lib.topics import DRAINED_TOPICS

REFRESH_SENSOR_INTERVAL_S = 30


def newest_materialization(instance: dg.DagsterInstance, asset_name: str) -> dg.EventLogRecord | None:
    records = instance.fetch_materializations(dg.AssetKey(asset_name), limit=1).records
    return records[0] if records else None


def covers(instance: dg.DagsterInstance, cleaned: dg.EventLogRecord, raw: dg.EventLogRecord) -> bool:
    """Whether the run that materialised `cleaned` started after `raw` landed."""
    run = instance.get_run_record_by_id(cleaned.run_id) if cleaned.run_id else None
    if run is None or run.start_time is None:  # reported without a run: the event order decides
        return raw.storage_id < cleaned.storage_id
    return raw.timestamp < run.start_time


def stale_streams(instance: dg.DagsterInstance) -> tuple[dict[str, int], list[str]]:
    """(storage id of the newest raw materialisation per stream, the streams whose newest raw data
    the cleaned table does not cover yet)."""
    raw = {stream.name: newest_materialization(instance, stream.asset_name) for stream in DRAINED_TOPICS}
    stale = []
    for stream in DRAINED_TOPICS:
        newest_raw = raw[stream.name]
        cleaned = newest_materialization(instance, CLEANED_TABLES[stream.name])
        if newest_raw is not None and (cleaned is None or not covers(instance, cleaned, newest_raw)):
            stale.append(stream.name)
    return {name: record.storage_id for name, record in raw.items() if record is not None}, stale


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
    if not raw:
        return dg.SkipReason("no raw data landed yet")
    if not stale:
        return dg.SkipReason("every cleaned table covers its newest raw data")
    running = context.instance.get_run_records(
        filters=dg.RunsFilter(job_name=REFRESH_JOB.name, statuses=NOT_FINISHED), limit=1
    )
    if running:
        return dg.SkipReason(f"new raw data for {', '.join(stale)}; waiting for run {running[0].dagster_run.run_id}")
    covered = "-".join(f"{name}{storage_id}" for name, storage_id in sorted(raw.items()))
    return dg.RunRequest(run_key=f"raw-{covered}", tags={"pinterest/new_raw_data": ",".join(stale)})
