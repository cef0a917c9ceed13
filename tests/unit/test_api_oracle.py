"""The independent oracle of tests/fixtures/api_oracle.py against the Flask app in process (a fake
publisher), for many more cases than the integration test (tests/integration/test_ingestion_fuzz.py)
sends through the real API; plus the inputs on which the API is known to break the contract.

Set FUZZ_SEED and FUZZ_CASES to run another or a longer sequence."""

from __future__ import annotations

import json
import os

import pytest

from ingestion_api.app import create_app
from tests.fixtures import api_oracle as oracle
from tests.unit.test_api import FakePublisher, make_settings

SEED = int(os.environ.get("FUZZ_SEED", "20261205"))
VALUE_CASES = int(os.environ.get("FUZZ_CASES", "20000"))


@pytest.fixture
def app(tmp_path):
    settings = make_settings(tmp_path)
    assert (settings.api_max_bytes, settings.api_batch_max_events) == (oracle.MAX_BYTES, oracle.BATCH_MAX_EVENTS)
    return create_app(settings, FakePublisher())


def sender(client):
    def send(request: oracle.Request):
        headers = {"Content-Type": request.content_type} if request.content_type else {}
        answer = client.post(request.path, data=request.body, headers=headers)
        assert answer.is_json, (request.label, answer.status_code, answer.get_data()[:300])
        return answer.status_code, answer.json

    return send


def published(publisher: FakePublisher) -> list[oracle.Record]:
    return [oracle.Record(r.topic, r.key, r.value, dict(r.headers)) for r in publisher.records]


def test_every_generated_request_gets_the_verdict_the_contract_gives_it(app):
    requests, labels = oracle.plan(SEED, VALUE_CASES, document_cases=VALUE_CASES // 10, batch_level_cases=200)
    ledger = oracle.run(requests, sender(app.test_client()))
    print(
        f"\noracle: {ledger.cases} cases in {len(requests)} requests, "
        f"answers {dict(sorted(ledger.statuses.items()))}, batch elements {dict(ledger.element_statuses)}"
    )
    assert ledger.cases >= VALUE_CASES
    assert not oracle.required_labels() - set(labels), "labels never generated"
    oracle.verify_topics(ledger, published(app.extensions["publisher"]))


def test_the_oracle_is_fixed_by_its_seed():
    first, _ = oracle.plan(7, 300, 30, 5, now=oracle.LAUNCH.replace(year=2026))
    second, _ = oracle.plan(7, 300, 30, 5, now=oracle.LAUNCH.replace(year=2026))
    assert [(r.path, r.body, r.content_type) for r in first] == [(r.path, r.body, r.content_type) for r in second]


def test_the_oracle_does_not_ask_the_code_under_test():
    source = open(oracle.__file__, encoding="utf-8").read()
    for module in ("ingestion_api", "pinterest_common", "pinterest_assets", "streaming"):
        assert f"import {module}" not in source and f"from {module}" not in source


# Contract breaks the oracle found in pinterest_common/schema.py, fixed there: a 500 for numeric
# strings padded with \x1c-\x1f and for a JSON integer beyond a double in a number field, and
# non-ASCII digits that the API accepted but cleaning (Java regular expressions) quarantines.
USER = {"ind": 1, "first_name": "a", "last_name": "b", "age": 30, "date_joined": "2015-01-01 00:00:00"}
GEO = {"ind": 1, "timestamp": "2020-01-01 00:00:00", "latitude": 1.5, "longitude": 1.5, "country": "x"}


def post(app, path: str, body: bytes):
    return app.test_client().post(path, data=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("separator", ["\x1c", "\x1d", "\x1e", "\x1f"])
def test_a_numeric_string_surrounded_by_a_separator_character_gets_no_5xx(app, separator):
    answer = post(app, "/user/", json.dumps({**USER, "age": f"30{separator}"}).encode())
    assert answer.status_code < 500


def test_a_latitude_of_ten_to_the_400_is_refused_naming_it(app):
    body = json.dumps(GEO).replace("1.5,", "1" + "0" * 400 + ",", 1).encode()
    answer = post(app, "/geo/", body)
    assert answer.status_code == 422 and any("'latitude'" in p for p in answer.json["problems"])


@pytest.mark.parametrize("digits", ["\u0663\u0660", "\uff13\uff10"])
def test_an_age_in_non_ascii_digits_is_refused_as_cleaning_would_quarantine_it(app, digits):
    answer = post(app, "/user/", json.dumps({**USER, "age": digits}).encode())
    assert answer.status_code == 422
