"""API keys: compared in constant time, against every configured key, and never logged."""

from __future__ import annotations

import hmac
import json
import logging

import pytest

import ingestion_api.auth
from ingestion_api.app import create_app
from ingestion_api.canonical import CANONICAL_TRIPLE
from tests.unit.test_api import FakePublisher, make_settings

KEYS = ("first-valid-key-4f1c", "second-valid-key-9a2e")
WRONG = "wrong-key-7d3b0c5e1a"


@pytest.fixture
def app():
    return create_app(make_settings(PINTEREST_API_KEYS=",".join(KEYS)), FakePublisher())


def test_keys_are_compared_with_compare_digest_against_every_key(app, monkeypatch):
    calls, original = [], hmac.compare_digest

    def recording(a, b):
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(ingestion_api.auth.hmac, "compare_digest", recording)
    client = app.test_client()
    body = json.dumps(CANONICAL_TRIPLE["pin"]).encode()
    answer = client.post("/pin/", data=body, headers={"Content-Type": "application/json", "X-API-Key": KEYS[0]})
    assert answer.status_code == 202
    # Even when the first key matches, every key is compared: the time does not tell which matched.
    assert sorted(b for _, b in calls) == sorted(key.encode() for key in KEYS)


@pytest.mark.parametrize("path", ["/pin/", "/recommendations/profiles"])
def test_a_wrong_key_is_never_logged(app, caplog, capfd, path):
    app.logger.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    client = app.test_client()
    headers = {"Content-Type": "application/json", "X-API-Key": WRONG}
    if path == "/pin/":
        answer = client.post(path, data=json.dumps(CANONICAL_TRIPLE["pin"]).encode(), headers=headers)
    else:
        answer = client.get(path, headers={"Authorization": f"Bearer {WRONG}"})
    assert answer.status_code == 401
    out, err = capfd.readouterr()
    for text in (caplog.text, out, err, answer.get_data(as_text=True)):
        assert WRONG not in text
        assert all(key not in text for key in KEYS)
