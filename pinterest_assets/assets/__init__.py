"""Assets: the Kafka topics (external) and the raw lake they land in."""

import dagster as dg

from .kafka_topics import KAFKA_TOPICS
from .raw_events import RAW_EVENTS, LandRangeConfig

__all__ = ["KAFKA_TOPICS", "RAW_EVENTS", "LandRangeConfig", "defs"]

defs = dg.Definitions(assets=[*KAFKA_TOPICS, *RAW_EVENTS])
