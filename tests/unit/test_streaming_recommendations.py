"""GET /recommendations/profiles without a database: parameters, authentication, PostgreSQL down.
(The ranking itself is tested against PostgreSQL in tests/integration/test_streaming_recommendations.py.)"""

from __future__ import annotations

import pytest

from devstack.process import free_port
from ingestion_api.app import create_app
from ingestion_api.recommendations import recommendations
from tests.unit.test_api import FakePublisher, make_settings


def app_with_recommendations(home, **overrides: str):
    """The API as the app factory builds it, with the blueprint registered (once)."""
    app = create_app(make_settings(home, PINTEREST_PG_PORT=str(free_port()), **overrides), FakePublisher())
    if recommendations.name not in app.blueprints:
        app.register_blueprint(recommendations)
    return app


@pytest.mark.parametrize(
    "query, problem",
    [
        ("category=knitting", "'category' must be one of"),
        ("limit=0", "'limit' must be an integer from 1 to 100"),
        ("limit=101", "'limit' must be an integer from 1 to 100"),
        ("limit=ten", "'limit' must be an integer from 1 to 100"),
    ],
)
def test_bad_parameters_are_answered_400_naming_the_problem(query, problem, tmp_path):
    answer = app_with_recommendations(tmp_path).test_client().get(f"/recommendations/profiles?{query}")
    assert answer.status_code == 400
    assert any(p.startswith(problem) for p in answer.get_json()["problems"])


def test_postgres_unreachable_is_503_with_retry_after(tmp_path):
    answer = app_with_recommendations(tmp_path).test_client().get("/recommendations/profiles?category=travel&limit=3")
    assert answer.status_code == 503 and answer.headers["Retry-After"]


def test_api_keys_protect_the_endpoint(tmp_path):
    client = app_with_recommendations(tmp_path, PINTEREST_API_KEYS="secret-key").test_client()
    assert client.get("/recommendations/profiles").status_code == 401
    assert client.get("/recommendations/profiles", headers={"X-API-Key": "secret-key"}).status_code == 503
