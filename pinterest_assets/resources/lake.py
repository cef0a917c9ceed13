"""The raw lake: bucket, object roll limits, run sizes, and the progress store."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from ..lake.objects import RollLimits
from ..lake.progress import ProgressStore
from .postgres import PostgresResource


class RawLakeResource(dg.ConfigurableResource):
    """Where and how Kafka lands in S3 (PINTEREST_S3_BUCKET, PINTEREST_LAKE_*)."""

    bucket: str
    roll_max_records: int = Field(default=10_000, description="An object holds at most this many lines.")
    roll_max_bytes: int = Field(default=32 * 1024 * 1024, description="... and at most this many uncompressed bytes.")
    roll_max_span_seconds: int = Field(
        default=3600, description="... whose received_at values span at most this long (and one UTC day)."
    )
    max_records_per_run: int = Field(default=250_000, description="A landing run covers at most this many offsets.")
    upload_threads: int = Field(
        default=2, description="A landing run compresses and uploads this many objects at once while it reads on."
    )
    max_runs_per_tick: int = Field(default=20, description="A sensor tick requests at most this many runs.")
    run_timeout_seconds: int = Field(
        default=900, description="A landing run older than this is presumed dead; its range is requested again."
    )
    progress_database: str = Field(default="dagster", description="The database holding schema `lake`.")

    @property
    def roll_limits(self) -> RollLimits:
        return RollLimits(self.roll_max_records, self.roll_max_bytes, self.roll_max_span_seconds)

    def progress(self, postgres: PostgresResource) -> ProgressStore:
        return ProgressStore(lambda: postgres.connect(self.progress_database))
