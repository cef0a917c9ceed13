"""Sensors, all running by default: drain Kafka into the raw lake, refresh the cleaned and
analytics assets when new raw data lands, and observe the streaming tables."""

import dagster as dg

from ..jobs import LANDING_JOBS
from ..raw_streams import STREAMS
from .kafka_drain import drain_sensor
from .refresh import refresh_on_new_raw_data
from .streaming_observation import streaming_observation_sensor

__all__ = ["DRAIN_SENSORS", "defs", "refresh_on_new_raw_data", "streaming_observation_sensor"]

DRAIN_SENSORS: list[dg.SensorDefinition] = [drain_sensor(stream, LANDING_JOBS[stream.name]) for stream in STREAMS]

defs = dg.Definitions(sensors=[*DRAIN_SENSORS, refresh_on_new_raw_data, streaming_observation_sensor])
