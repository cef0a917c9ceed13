"""Scenario 7: garbage written straight into the event topics, then API traffic after it.

Into each of pinterest.pin, .geo and .user, by a producer that is not the API: a value that is not
JSON, one that is not UTF-8, a JSON event with wrong types, a ~900 KB value (all four with forged
API headers), and a valid event without the API's headers. Expected: the drain lands every one
of them in the raw lake exactly once, like the API's events (the lake mirrors the topics): found
by its Kafka coordinates under raw/<type>/..., with the bytes written visible (`value`, or
`value_base64` when not UTF-8) and the forged event_id (none without headers). The streaming job
keeps running (same process) and its tables hold every acknowledged event sent after the
garbage exactly once. The streaming job skips records without the API's headers; it checks
records with (forged) API headers against the contract as the batch clean step does
(pinterest_common.quarantine), so each of the 12 forged ones is in its table
`quarantined_events` exactly once, with the reason, and in no event table.
"""

from __future__ import annotations

import base64
import json
import time

from kafka import KafkaProducer

from ingestion_api.canonical import CANONICAL_TRIPLE
from pinterest_common.config import Settings
from pinterest_common.records import RecordMetadata
from pinterest_common.schema import EVENT_TYPES, validate

from ..reconcile import raw_lines_by_position, streaming_event_ids, streaming_quarantine
from .harness import Context, Traffic, check_traffic, drain_until_ok, reconcile, streaming_caught_up
from .kafka_faults import rate_for
from .report import ScenarioResult

HUGE_BYTES = 900 * 1024


def garbage_records(event_type: str) -> list[tuple[str, bytes | None, bytes, list]]:
    """(kind, key, value, headers) of the garbage for one event type."""
    canonical = CANONICAL_TRIPLE[event_type]
    forged = lambda: RecordMetadata.new(event_type).headers()  # noqa: E731 - a fresh event_id each
    wrong_types = {name: {"not": "a scalar"} for name in canonical}
    assert validate(EVENT_TYPES[event_type], wrong_types), "the wrong-typed event must be invalid"
    huge = json.dumps({"garbage": "x" * HUGE_BYTES}).encode()
    return [
        ("not JSON", b"garbage", b"{this is not JSON", forged()),
        ("not UTF-8", b"garbage", b"\xff\xfe\xfa not utf-8", forged()),
        ("wrong types", b"garbage", json.dumps(wrong_types).encode(), forged()),
        ("huge value", b"garbage", huge, forged()),
        ("no headers", b"garbage", json.dumps(canonical).encode(), []),
    ]


def write_garbage(settings: Settings) -> dict[tuple[str, int, int], tuple[str, str | None]]:
    """Write the garbage; (topic, partition, offset) -> (kind, forged event_id or None)."""
    producer = KafkaProducer(**settings.kafka.client_config(), acks="all", max_request_size=2 * 1024 * 1024)
    try:
        pending = []
        for name, event_type in EVENT_TYPES.items():
            for kind, key, value, headers in garbage_records(name):
                event_id = dict(headers).get("event_id")
                future = producer.send(event_type.topic, key=key, value=value, headers=headers)
                pending.append((event_type.topic, kind, event_id.decode() if event_id else None, future))
        producer.flush()
        written = {}
        for topic, kind, event_id, future in pending:
            metadata = future.get(30)
            written[(topic, metadata.partition, metadata.offset)] = (kind, event_id)
        return written
    finally:
        producer.close()


def garbage_in_topics(ctx: Context, result: ScenarioResult) -> None:
    ledger = ctx.ledger(7)
    job = ctx.service("streaming")
    job_pid = job.pid_file.read_text().strip()
    written = write_garbage(ctx.settings)
    injected = time.monotonic()
    ctx.say(
        f"wrote {len(written)} garbage records into the event topics ({', '.join(sorted({k for k, _ in written.values()}))})"
    )
    check_traffic(Traffic(ctx, ledger, ctx.events, rate_for(ctx.events, 15), ctx.seed + 7).start().wait(), result)
    if streaming_caught_up(ctx, ledger, result) is not None:
        result.recovery_s = time.monotonic() - injected
    result.recovery_what = (
        "from the garbage's write until the streaming tables held every acknowledged event sent after it"
    )
    if not (job.healthy() and job.pid_file.read_text().strip() == job_pid):
        result.problems.append("the streaming job did not keep running through the garbage (process or query changed)")
    drain_until_ok(ctx, "scenario-7")
    reconcile(ctx, ledger, result)

    check_raw_lake(ctx, written, result)
    check_streaming_rejections(ctx, written, result)
    if not job.healthy():
        result.notes.append("streaming job not healthy at the end")


def garbage_values() -> dict[tuple[str, str], bytes]:
    """(topic, kind) -> the value written (the same bytes on every call; only the headers are new)."""
    return {
        (event_type.topic, kind): value
        for name, event_type in EVENT_TYPES.items()
        for kind, _, value, _ in garbage_records(name)
    }


def raw_line_problem(line: dict, value: bytes, event_id: str | None) -> str | None:
    """Why the lake line of a garbage record does not show what was written; None if it does."""
    shown = (
        base64.b64decode(line["value_base64"])
        if line.get("value_base64") is not None
        else None
        if line.get("value") is None
        else line["value"].encode("utf-8")
    )
    if shown != value:
        return "its value differs from the bytes written (neither `value` nor `value_base64` holds them)"
    if line.get("event_id") != event_id:
        return f"its event_id is {line.get('event_id')!r}, not {event_id!r}"
    if event_id is None and "headers" not in line:
        return "it was written without the API's headers, yet its line has no `headers`"
    return None


def check_raw_lake(
    ctx: Context, written: dict[tuple[str, int, int], tuple[str, str | None]], result: ScenarioResult
) -> None:
    """Each garbage record is in the raw lake exactly once (by Kafka coordinates), its bytes visible."""
    lines, values = raw_lines_by_position(ctx.settings, written), garbage_values()
    exact = 0
    for position, (kind, event_id) in sorted(written.items()):
        where = f"garbage '{kind}' at {position[0]}/{position[1]}@{position[2]}"
        copies = lines.get(position, [])
        if len(copies) != 1:
            result.problems.append(f"{where} is in the raw lake {len(copies)} times, not once")
            continue
        problem = raw_line_problem(copies[0], values[(position[0], kind)], event_id)
        if problem:
            result.problems.append(f"{where}: {problem}")
        else:
            exact += 1
    result.notes.append(
        f"raw lake: {exact} of {len(written)} garbage records exactly once, with the bytes written "
        f"({sum(1 for c in lines.values() if c and c[0].get('value_base64'))} as value_base64)"
    )


def check_streaming_rejections(
    ctx: Context, written: dict[tuple[str, int, int], tuple[str, str | None]], result: ScenarioResult
) -> None:
    """Each forged garbage record is in the streaming job's quarantined_events (at most once: keyed
    by its Kafka coordinates, with the reason pinterest_common.quarantine gives) and in no event
    table; a record without headers is in neither (the job skips it)."""
    stored, quarantined = streaming_event_ids(ctx.settings), streaming_quarantine(ctx.settings)
    reasons: dict[str, set[str]] = {}
    for position, (kind, event_id) in sorted(written.items()):
        where = f"garbage '{kind}' at {position[0]}/{position[1]}@{position[2]}"
        if event_id is None:  # no API headers: the job skips it
            if position in quarantined:
                result.problems.append(f"{where} has no API headers, yet is in quarantined_events")
            continue
        if stored[event_id]:
            result.problems.append(f"{where} is stored as an event row by the streaming job")
        if position in quarantined:
            reasons.setdefault(kind, set()).add(quarantined[position].split(":", 1)[0])
        else:
            result.problems.append(f"{where} is not in the streaming job's quarantined_events")
    forged = [(position, event_id) for position, (_, event_id) in written.items() if event_id]
    result.notes.append(
        f"streaming: {sum(1 for p, _ in forged if p in quarantined)} of {len(forged)} garbage records "
        f"with forged API headers in quarantined_events, {sum(1 for _, e in forged if stored[e])} "
        "stored as events; reasons: "
        + "; ".join(f"{kind} -> {', '.join(sorted(r))}" for kind, r in sorted(reasons.items()))
        + "; records without headers skipped"
    )
