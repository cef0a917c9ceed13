"""Sensors: drain Kafka into the raw lake (running by default)."""

import dagster as dg

from ..jobs import LANDING_JOBS
from ..raw_streams import STREAMS
from .kafka_drain import drain_sensor

__all__ = ["DRAIN_SENSORS", "defs"]

DRAIN_SENSORS: list[dg.SensorDefinition] = [drain_sensor(stream, LANDING_JOBS[stream.name]) for stream in STREAMS]

defs = dg.Definitions(sensors=DRAIN_SENSORS)
