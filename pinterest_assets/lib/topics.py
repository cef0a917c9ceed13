"""The three Kafka topics the batch lake drains, and the names derived from each.

pinterest.pin  -> asset raw_pin_events,  job land_raw_pin_events,  sensor raw_pin_events_drain_sensor
pinterest.geo  -> asset raw_geo_events,  ...
pinterest.user -> asset raw_user_events, ...
"""

from __future__ import annotations

from dataclasses import dataclass

from pinterest_common.schema import GEO, PIN, USER, EventType

# Run tags of the landing runs. The sensors find runs in flight by them.
TOPIC_TAG = "pinterest/topic"
PARTITION_TAG = "pinterest/partition"
RANGE_TAG = "pinterest/offset_range"  # OffsetRange.range_id
UNTIL_OFFSET_TAG = "pinterest/until_offset"  # the range end (exclusive)
ATTEMPT_TAG = "pinterest/attempt"
LANDING_SLOT_TAG = "pinterest/landing_slot"  # topic/partition; dagster.yaml runs one per value at a time
RUN_KEY_TAG = "pinterest/run_key"  # the request's run key: `make batch` runs each key once, as the daemon does

RAW_LAKE_GROUP = "raw_lake"
KAFKA_GROUP = "kafka"


@dataclass(frozen=True)
class DrainedTopic:
    event_type: EventType

    @property
    def name(self) -> str:
        return self.event_type.name

    @property
    def topic(self) -> str:
        return self.event_type.topic

    @property
    def asset_name(self) -> str:
        return f"raw_{self.name}_events"

    @property
    def topic_asset_name(self) -> str:
        return f"kafka_{self.name}_events"

    @property
    def job_name(self) -> str:
        return f"land_{self.asset_name}"

    @property
    def sensor_name(self) -> str:
        return f"{self.asset_name}_drain_sensor"


DRAINED_TOPICS: tuple[DrainedTopic, ...] = tuple(DrainedTopic(e) for e in (PIN, GEO, USER))
