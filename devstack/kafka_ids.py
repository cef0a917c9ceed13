"""Kafka ids (cluster ids for `kafka-storage format -t`) drawn the way Kafka's own
`org.apache.kafka.common.Uuid.randomUuid()` draws them.

A Kafka Uuid is 16 random bytes (a version 4 UUID) written in URL-safe base64 without padding:
22 characters of A-Z a-z 0-9 `-` `_`. Kafka re-draws an id equal to a reserved one (all zeros,
or 0...01, the metadata topic's) and an id whose text starts with `-`, which a command line
would read as an option (`StorageTool format -t -Udah...` fails). So does `random_uuid`.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable

ZERO_UUID = bytes(16)
ONE_UUID = bytes(15) + b"\x01"  # also Kafka's METADATA_TOPIC_ID
RESERVED = frozenset({ZERO_UUID, ONE_UUID})


def encode(raw: bytes) -> str:
    """Kafka's Uuid.toString(): URL-safe base64 of the 16 bytes, without padding."""
    if len(raw) != 16:
        raise ValueError(f"a Kafka Uuid is 16 bytes, not {len(raw)}")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def random_uuid(draw: Callable[[], bytes] = lambda: uuid.uuid4().bytes) -> str:
    """A random Kafka Uuid as text; `draw` gives 16 random bytes per call (a version 4 UUID's
    by default) and is called again while the id is reserved or its text starts with `-`."""
    while True:
        raw = draw()
        text = encode(raw)
        if raw not in RESERVED and not text.startswith("-"):
            return text
