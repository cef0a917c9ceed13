import dagster as dg

from .assets import KAFKA_TOPICS

defs = dg.Definitions(assets=KAFKA_TOPICS)
