"""Observe the streaming tables and check their freshness every few seconds (running by default).

Dagster ignores `auto_observe_interval_minutes` in this release and cron schedules tick once a
minute at most, so a sensor requests the observation job every
PINTEREST_STREAMING_OBSERVE_INTERVAL_SECONDS, unless the previous observation is still running.
"""

import dagster as dg

from pinterest_assets.lib.runs import NOT_FINISHED
from pinterest_common.config import get_settings

from .jobs import OBSERVE_STREAMING_JOB


@dg.sensor(
    name="streaming_observation_sensor",
    job=OBSERVE_STREAMING_JOB,
    minimum_interval_seconds=get_settings().streaming_observe_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests an observation of the streaming tables every tick (the previous one being finished).",
)
def streaming_observation_sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    running = context.instance.get_run_records(
        filters=dg.RunsFilter(job_name=OBSERVE_STREAMING_JOB.name, statuses=NOT_FINISHED), limit=1
    )
    if running:
        return dg.SkipReason(f"run {running[0].dagster_run.run_id} is still observing")
    return dg.RunRequest()
