"""The producer ceiling: a bare kafka-python producer built by the API's own code (its settings:
acks, idempotence, linger, batch size, compression, timeouts), sending the same pins with the
API's keys and headers as fast as it is acknowledged, with no HTTP in front. Run as a child
process of bench.ingest (the stack's settings come from the environment); prints one JSON line.

At most IN_FLIGHT records wait for their acknowledgement at once. Unbounded, the loop outpaces
Kafka, records wait in the producer's buffer past their delivery timeout and expire (a full run
once counted 5,193 acknowledged/s beside 18,000 expired/s), and the figure measures that churn,
not the ceiling. A run with any failed record is not a ceiling: bench.ingest reports it as such.

    python -m bench.bare_producer --bodies FILE --duration 20 [--warmup 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from types import SimpleNamespace
from typing import cast

IN_FLIGHT = 5_000  # records sent and not yet acknowledged: a fraction of a second of the ceiling


def api_producer(settings):
    """A KafkaProducer exactly as the API's KafkaPublisher builds one (its `_new_producer`),
    without the publisher's connection thread and per-request waiting."""
    from ingestion_api.kafka_producer import KafkaPublisher

    # The method reads only these two attributes of its publisher.
    shim = SimpleNamespace(_settings=settings, _timeout_ms=int(settings.api_kafka_timeout_s * 1000))
    return KafkaPublisher._new_producer(cast(KafkaPublisher, shim))


def main(argv: list[str] | None = None) -> int:
    from pinterest_common.config import get_settings
    from pinterest_common.kafka_admin import ensure_topics
    from pinterest_common.records import RecordMetadata
    from pinterest_common.schema import PIN, record_key

    parser = argparse.ArgumentParser(description=__doc__ and __doc__.splitlines()[0])
    parser.add_argument("--bodies", required=True, help="a file with one pin per line")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args(argv)
    settings = get_settings()
    ensure_topics(settings, settings.topic_partitions)
    with open(args.bodies, "rb") as lines:
        pins = [line.rstrip(b"\n") for line in lines if line.strip()]
    records = [(body, record_key(PIN, json.loads(body))) for body in pins]
    producer = api_producer(settings)
    acked, failed, lock = [0], [0], threading.Lock()
    counting = threading.Event()
    in_flight = threading.BoundedSemaphore(IN_FLIGHT)

    def done(_metadata):
        in_flight.release()
        if counting.is_set():
            with lock:
                acked[0] += 1

    def error(_exc):
        in_flight.release()
        with lock:
            failed[0] += 1

    start = time.monotonic()
    measure_from, stop_at = start + args.warmup, start + args.warmup + args.duration
    sent = 0
    try:
        while (now := time.monotonic()) < stop_at:
            if now >= measure_from and not counting.is_set():
                counting.set()
            value, key = records[sent % len(records)]
            in_flight.acquire()
            future = producer.send(PIN.topic, value=value, key=key, headers=RecordMetadata.new(PIN.name).headers())
            future.add_callback(done).add_errback(error)
            sent += 1
        producer.flush()
    finally:
        producer.close()
    seconds = time.monotonic() - measure_from
    print(
        json.dumps(
            {
                "events": acked[0],
                "failed": failed[0],
                "seconds": round(seconds, 3),
                "events_per_s": round(acked[0] / seconds, 1),
                "settings": {
                    "linger_ms": settings.api_kafka_linger_ms,
                    "batch_bytes": settings.api_kafka_batch_bytes,
                    "compression": settings.api_kafka_compression,
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
