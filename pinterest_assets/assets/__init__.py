"""Assets: the Kafka topics (external), the raw lake they land in, the cleaned tables, the
analytics answers, and the streaming job's tables (observed)."""

import dagster as dg

from .analytics import ANALYTICS_GROUP, analytics_tables
from .curated import CURATED_GROUP, cleaned_tables
from .kafka_topics import KAFKA_TOPICS
from .raw_events import RAW_EVENTS, LandRangeConfig
from .streaming_tables import STREAMING_ASSETS, STREAMING_GROUP

__all__ = ["ANALYTICS_GROUP", "CURATED_GROUP", "KAFKA_TOPICS", "RAW_EVENTS", "LandRangeConfig", "STREAMING_ASSETS", "STREAMING_GROUP",
           "defs"]

defs = dg.Definitions(assets=[*KAFKA_TOPICS, *RAW_EVENTS, cleaned_tables, analytics_tables, *STREAMING_ASSETS])
