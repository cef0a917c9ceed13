"""Asset checks: the raw lake's guarantees, verified against S3 after each landing."""

import dagster as dg

from .raw_events import RAW_EVENTS_CHECKS

__all__ = ["RAW_EVENTS_CHECKS", "defs"]

defs = dg.Definitions(asset_checks=RAW_EVENTS_CHECKS)
