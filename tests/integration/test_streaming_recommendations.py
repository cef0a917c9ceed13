"""GET /recommendations/profiles against PostgreSQL: a known set of posters comes back in the
order the popularity metric defines, optionally within a category."""

from __future__ import annotations

import math
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest

from ingestion_api.app import create_app
from streaming.ddl import ensure_database, ensure_schema
from streaming.sink import PostgresSink
from tests.fixtures.streaming import connect, drop_database, micro_batch, new_database

pytestmark = pytest.mark.integration

# poster: (followers of each pin, oldest first; the unique_ids posted; the categories)
POSTERS = {
    "Ann": ([1000, 1000, 1000], ["a1", "a2", "a3"], ["travel", "art", "travel"]),  # 3 * log10(1010) = 9.01
    "Bea": ([15_000_000, 15_000_000], ["b1", "b2"], ["art", "art"]),  # 2 * log10(15000010) = 14.35
    "Tie Two": ([90], ["t2"], ["travel"]),  # 1 * log10(100) = 2, ties with Tie One: by name
    "Tie One": ([90], ["t1"], ["travel"]),
    "Cid": ([0, 0], ["c1", "c1"], ["art", "art"]),  # a re-post: 1 distinct pin, score 1, 2 pins posted
    "Eve": ([0], ["e1"], ["vehicles"]),  # score 1, 1 pin, 0 followers
    "Dan": ([None], ["d1"], ["vehicles"]),  # score 1, 1 pin, followers unknown: last
}
RANKED = ["Bea", "Ann", "Tie One", "Tie Two", "Cid", "Eve", "Dan"]


def metadata(received: datetime, offset: int) -> tuple:
    """event_id, received_at, Kafka partition 0 and `offset`, client_event_id (the event_id)."""
    event_id = str(uuid.uuid4())
    return (event_id, received, 0, offset, event_id)


def pin_rows(received: datetime) -> list[tuple]:
    rows = []
    for poster, (followers, pins, categories) in POSTERS.items():
        for n, (count, unique_id, category) in enumerate(zip(followers, pins, categories)):
            rows.append(
                (
                    1,
                    unique_id,
                    "t",
                    "d",
                    count,
                    poster,
                    "tags",
                    "image",
                    "src",
                    f"/data/{category}",
                    category,
                    1,
                    *metadata(received + timedelta(milliseconds=n), len(rows)),
                )
            )
    rows.append(
        (
            2,
            "x1",
            "t",
            "d",
            None,
            None,
            "tags",
            "image",
            "src",
            "/data/art",
            "art",
            0,  # a scrape failure
            *metadata(received, len(rows)),
        )
    )
    return rows


@pytest.fixture(scope="module")
def client(stack_settings):
    database = new_database()
    admin = connect(stack_settings, "postgres")
    ensure_database(admin, database)
    admin.close()
    conn = psycopg2.connect(stack_settings.pg_dsn(database))
    ensure_schema(conn, api_reader=stack_settings.pg_api_user)  # the API reads as its own role
    conn.close()
    received = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=5)
    sink = PostgresSink(stack_settings.pg_dsn(database))
    sink.apply(micro_batch("recommendations-test", 0, {"pin": pin_rows(received)}))
    sink.close()
    app = create_app(replace(stack_settings, streaming_database=database))
    yield app.test_client()
    drop_database(stack_settings, database)


def test_profiles_come_in_the_order_of_the_metric(client):
    answer = client.get("/recommendations/profiles")
    assert answer.status_code == 200
    body = answer.get_json()
    assert [p["poster_name"] for p in body["profiles"]] == RANKED
    assert [p["rank"] for p in body["profiles"]] == list(range(1, len(RANKED) + 1))
    bea, ann = body["profiles"][:2]
    assert bea["popularity_score"] == pytest.approx(2 * math.log10(15_000_010))
    assert (ann["pins_posted"], ann["distinct_pins"], ann["latest_follower_count"]) == (3, 3, 1000)
    assert ann["categories"] == ["art", "travel"] and body["category"] is None
    assert body["window"]["name"] == "1h"
    start, end = (datetime.fromisoformat(body["window"][k]) for k in ("start", "end"))
    assert end - start == timedelta(hours=1) and start <= datetime.now(UTC) - timedelta(minutes=45) < end


def test_a_category_keeps_its_posters_in_the_same_order_and_limit_cuts(client):
    travel = client.get("/recommendations/profiles?category=travel").get_json()["profiles"]
    assert [p["poster_name"] for p in travel] == ["Ann", "Tie One", "Tie Two"]
    art = client.get("/recommendations/profiles?category=art&limit=2").get_json()["profiles"]
    assert [p["poster_name"] for p in art] == ["Bea", "Ann"]
    assert client.get("/recommendations/profiles?category=finance").get_json()["profiles"] == []
