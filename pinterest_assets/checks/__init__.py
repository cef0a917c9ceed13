"""Asset checks: the raw lake's guarantees, verified against S3 after each landing, and the
freshness of the streaming tables. (The cleaned and analytics checks live with their assets.)"""

import dagster as dg

from .raw_events import RAW_EVENTS_CHECKS
from .streaming_freshness import STREAMING_CHECKS

__all__ = ["RAW_EVENTS_CHECKS", "STREAMING_CHECKS", "defs"]

defs = dg.Definitions(asset_checks=[*RAW_EVENTS_CHECKS, *STREAMING_CHECKS])
