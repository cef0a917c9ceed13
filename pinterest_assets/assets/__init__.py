"""Assets: the Kafka topics (external), the raw lake they land in, the cleaned tables and the
analytics answers."""

import dagster as dg

from .analytics import ANALYTICS_GROUP, analytics_tables
from .curated import CURATED_GROUP, cleaned_tables
from .kafka_topics import KAFKA_TOPICS
from .raw_events import RAW_EVENTS, LandRangeConfig

__all__ = ["ANALYTICS_GROUP", "CURATED_GROUP", "KAFKA_TOPICS", "RAW_EVENTS", "LandRangeConfig", "defs"]

defs = dg.Definitions(assets=[*KAFKA_TOPICS, *RAW_EVENTS, cleaned_tables, analytics_tables])
