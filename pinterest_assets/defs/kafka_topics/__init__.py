from pinterest_assets.lib.domains import INGESTION, domain_definitions

from .assets import KAFKA_TOPICS

defs = domain_definitions(INGESTION, KAFKA_TOPICS)
