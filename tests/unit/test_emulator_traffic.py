"""The emulator over real HTTP against the API with a fake publisher (no services)."""

from __future__ import annotations

import io
import json
import threading

import pytest
from werkzeug.serving import make_server

from ingestion_api.app import create_app
from ingestion_api.cli import main
from ingestion_api.traffic import Emulator, EmulatorOptions
from pinterest_common.records import RecordMetadata
from pinterest_common.schema import DLQ_TOPIC
from tests.unit.test_api import FakePublisher, make_settings


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def url(publisher):
    server = make_server("127.0.0.1", 0, create_app(make_settings(), publisher), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def accepted_ids(publisher: FakePublisher) -> list[str]:
    return [RecordMetadata.from_headers(r.headers).event_id for r in publisher.records if r.topic != DLQ_TOPIC]


def ledger_entries(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def ledger_ids(path) -> list[str]:
    return [entry["event_id"] for entry in ledger_entries(path) if entry["outcome"] == "acknowledged"]


def kafka_client_ids(publisher: FakePublisher) -> list[str]:
    return [RecordMetadata.from_headers(r.headers).client_event_id for r in publisher.records if r.topic != DLQ_TOPIC]


@pytest.mark.parametrize("batch_size", [1, 7])
def test_every_acknowledged_event_is_in_the_ledger_once(url, publisher, tmp_path, batch_size):
    ledger = tmp_path / "ledger.jsonl"
    options = EmulatorOptions(url=url, count=60, seed=4, batch_size=batch_size, invalid_share=0.1, ledger=ledger)
    summary = Emulator(options, progress=None).run()

    assert summary.sent == 180 == summary.accepted + summary.rejected
    assert summary.rejected == summary.intended_invalid > 0
    assert (summary.unexpected, summary.failed) == (0, 0)
    assert sorted(ledger_ids(ledger)) == sorted(accepted_ids(publisher))
    assert len(set(ledger_ids(ledger))) == summary.accepted
    assert len(publisher.on(DLQ_TOPIC)) == summary.rejected
    entries = ledger_entries(ledger)
    assert len(entries) == 180 == len({e["client_event_id"] for e in entries})  # every event tried, named once
    assert sorted(e["client_event_id"] for e in entries if e["outcome"] == "acknowledged") == sorted(
        kafka_client_ids(publisher)
    )
    assert sum(e["outcome"] == "rejected" for e in entries) == summary.rejected


@pytest.mark.parametrize("batch_size", [1, 5])
def test_503_answers_are_retried_until_acknowledged_without_duplicates(url, publisher, tmp_path, batch_size):
    publisher.failures = 4
    ledger = tmp_path / "ledger.jsonl"
    options = EmulatorOptions(url=url, count=10, seed=1, batch_size=batch_size, invalid_share=0.0, ledger=ledger)
    summary = Emulator(options, progress=None).run()

    assert (summary.accepted, summary.failed, summary.unexpected) == (30, 0, 0)
    assert 1 <= summary.retries <= 4
    assert len(publisher.records) == 30
    assert sorted(ledger_ids(ledger)) == sorted(accepted_ids(publisher))
    retried = [e for e in ledger_entries(ledger) if e["attempts"] > 1]
    assert len(retried) == summary.retried_events == 4  # the 4 events refused once each
    assert sorted(kafka_client_ids(publisher)) == sorted(e["client_event_id"] for e in ledger_entries(ledger))


def test_a_timed_out_request_is_retried_with_the_same_client_id(publisher, tmp_path, monkeypatch):
    """The first answer is lost (a read timeout after Kafka took the event): the retry names the
    event again, so Kafka holds two copies of one client id, and the ledger one acknowledged event."""
    import ingestion_api.traffic as traffic

    app = create_app(make_settings(), publisher)
    slow_once = {"left": 1}

    @app.after_request
    def lose_the_first_answer(response):
        if slow_once["left"]:
            slow_once["left"] -= 1
            threading.Event().wait(1.0)
        return response

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(traffic, "HTTP_TIMEOUT_S", (5.0, 0.3))
    monkeypatch.setattr(traffic, "BACKOFF_S", (0.01, 0.01))
    ledger = tmp_path / "ledger.jsonl"
    try:
        summary = Emulator(
            EmulatorOptions(
                url=f"http://127.0.0.1:{server.server_port}",
                count=1,
                seed=3,
                invalid_share=0.0,
                concurrency=1,
                ledger=ledger,
            ),
            progress=None,
        ).run()
    finally:
        server.shutdown()
        thread.join()
    assert (summary.accepted, summary.retried_events, summary.failed) == (3, 1, 0)
    copies = kafka_client_ids(publisher)
    assert len(copies) == 4 and len(set(copies)) == 3  # the timed-out event twice, under one client id
    [retried] = [e for e in ledger_entries(ledger) if e["attempts"] == 2]
    assert copies.count(retried["client_event_id"]) == 2 and retried["outcome"] == "acknowledged"


def test_gives_up_after_max_retries_and_the_command_says_so(url, publisher, tmp_path, capsys):
    publisher.up = False
    status = main(
        [
            "emulate",
            "--url",
            url,
            "--count",
            "2",
            "--max-retries",
            "1",
            "--invalid-share",
            "0",
            "--ledger",
            str(tmp_path / "ledger.jsonl"),
        ]
    )
    out = capsys.readouterr().out
    assert status == 1
    assert "0 accepted" in out and "6 failed" in out and "6 retries" in out
    entries = ledger_entries(tmp_path / "ledger.jsonl")
    assert [(e["outcome"], e["status"], e["attempts"]) for e in entries] == [("failed", 503, 2)] * 6


def test_rate_duration_and_progress(url, publisher):
    progress = io.StringIO()
    options = EmulatorOptions(url=url, count=None, duration=1.6, rate=50, concurrency=2, invalid_share=0.0)
    summary = Emulator(options, progress=progress).run()

    # Paced, not as fast as the API answers: the k-th event leaves no earlier than k/50 s after the
    # start, and none after 1.6 s (how many leave on time depends on the machine: `make bench`).
    assert summary.elapsed_s >= 1.6 and 0 < summary.sent <= 50 * 1.6 + 1
    assert summary.sent == summary.accepted == len(publisher.records)
    # It ran for longer than the progress interval (1 s): a progress line at least.
    assert "[emulate]" in progress.getvalue() and "events/s" in progress.getvalue()


def test_output_writes_the_same_events_for_the_same_seed(tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert main(["emulate", "--count", "50", "--seed", "3", "--output", str(first)]) == 0
    assert main(["emulate", "--count", "50", "--seed", "3", "--output", str(second)]) == 0
    lines = [json.loads(line) for line in first.read_text().splitlines()]
    assert first.read_text() == second.read_text()
    assert len(lines) == 150
    assert [line["event_type"] for line in lines[:3]] == ["pin", "geo", "user"]
    assert {line["valid"] for line in lines} == {True, False}
    assert all("event" in line or "raw" in line for line in lines)


def test_a_quarantine_share_sends_events_the_api_accepts_but_a_cleaning_rule_refuses():
    from datetime import datetime

    from ingestion_api.invalid_events import QUARANTINABLE
    from ingestion_api.traffic import generate_posts
    from pinterest_common.schema import EVENT_TYPES, RULES, rule_broken, validate

    posts = list(generate_posts(EmulatorOptions(count=200, seed=3, invalid_share=0.0, quarantine_share=0.2)))
    flagged = [(post.event_type, body) for post in posts for body, q in zip(post.bodies, post.quarantinable) if q]
    assert 60 < len(flagged) < 180  # about 20 % of 600 events
    now = datetime.now()
    for event_type, body in flagged:
        event = json.loads(body)
        assert validate(EVENT_TYPES[event_type], event) == []  # the API takes it: 202
        kinds = {f.name: f.kind for f in EVENT_TYPES[event_type].fields}
        assert any(
            rule_broken(RULES[rule], kinds[field], event[field], now) for field, _, rule in QUARANTINABLE[event_type]
        ), event
    assert {post.expected[i] for post in posts for i, q in enumerate(post.quarantinable) if q} == {202}
