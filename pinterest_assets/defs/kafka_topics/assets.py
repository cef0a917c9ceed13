"""The Kafka topics the API writes, as external assets: the upstream end of the lineage."""

from __future__ import annotations

import dagster as dg

from pinterest_assets.lib.topics import DRAINED_TOPICS, KAFKA_GROUP, DrainedTopic


def topic_spec(stream: DrainedTopic) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=stream.topic_asset_name,
        group_name=KAFKA_GROUP,
        kinds={"kafka"},
        description=(
            f"Kafka topic `{stream.topic}`: {stream.name} events exactly as the API accepted them "
            "(value = the event JSON, headers event_id, event_type, received_at, schema_version)."
        ),
        metadata={"topic": stream.topic},
    )


KAFKA_TOPICS: list[dg.AssetSpec] = [topic_spec(stream) for stream in DRAINED_TOPICS]
