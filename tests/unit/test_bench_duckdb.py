"""The DuckDB recomputation (bench.duckdb_recompute) applies every cleaning rule of the contract:
trimming, every sentinel, the casts, quarantine, a client's first copy and the latest replay."""

import gzip
import json
import uuid

import duckdb
import pytest

from bench.duckdb_recompute import load_raw

PIN = {
    "index": 1,
    "unique_id": "5f0e3a9c-1d2b-4c3d-8e4f-000000000001",
    "title": "T",
    "description": "D",
    "poster_name": "P",
    "follower_count": "124k",
    "tag_list": "a,b",
    "is_image_or_video": "image",
    "image_src": "https://x/y.jpg",
    "downloaded": 1,
    "save_location": "Local save in /data/art",
    "category": "art",
}
GEO = {"ind": 1, "timestamp": "2020-08-28 03:52:47", "latitude": -89.9, "longitude": -173.2, "country": "Albania"}
USER = {"ind": 1, "first_name": "Abigail", "last_name": "Ali", "age": 20, "date_joined": "2015-10-24 11:23:51"}


def _line(event_type: str, event: dict, offset: int, client: str | None = None, second: int = 0) -> dict:
    event_id = str(uuid.uuid4())
    return {
        "event_id": event_id,
        "event_type": event_type,
        "received_at": f"2025-01-06T00:00:{second:02d}.000000Z",
        "schema_version": 1,
        "client_event_id": client or event_id,
        "kafka_topic": f"pinterest.{event_type}",
        "kafka_partition": 0,
        "kafka_offset": offset,
        "key": "k",
        "value": json.dumps(event),
    }


@pytest.fixture
def db(tmp_path):
    pins = [
        {
            **PIN,
            "title": " No Title Data Available ",
            "description": "Untitled",
            "poster_name": "User Info Error\u00a0",
            "follower_count": " User Info Error",
            "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",
            "image_src": "Image src error.",
            "category": " art ",
        },
        {
            **PIN,
            "index": "2",
            "unique_id": PIN["unique_id"][:-1] + "2",
            "follower_count": "1.2345k",
            "downloaded": "0",
            "save_location": "/data/x",
            "category": "   ",
        },
        {**PIN, "index": 3, "unique_id": PIN["unique_id"][:-1] + "3", "follower_count": " 3B "},
        {**PIN, "index": 4, "unique_id": "not-a-uuid"},  # breaks a cleaning rule: quarantined
        {**PIN, "index": 5, "unique_id": PIN["unique_id"][:-1] + "5", "downloaded": 2},  # quarantined
        {**PIN, "index": 6, "unique_id": PIN["unique_id"][:-1] + "6", "follower_count": "lots"},
    ]
    lines = [_line("pin", pin, offset) for offset, pin in enumerate(pins)]
    lines.append(_line("pin", {**pins[2], "follower_count": "9"}, 6, client=lines[2]["client_event_id"], second=5))
    lines.append(_line("pin", {**pins[5], "poster_name": "Replay"}, 7, second=6))
    geos = [
        {**GEO, "timestamp": "2020-8-2 3:5:7", "latitude": " -12.5 ", "country": "  "},
        {**GEO, "ind": 2, "timestamp": " 2021:03:04 05:06:07"},
        {**GEO, "ind": 3, "timestamp": "2009-12-31 23:59:59"},
    ]  # before Pinterest: quarantined
    users = [
        {**USER, "first_name": "", "age": " 31 ", "date_joined": "2016-1-2T3:4:5"},
        {**USER, "ind": 2, "age": 12},
    ]  # under 13: quarantined
    lines += [_line("geo", g, o) for o, g in enumerate(geos)] + [_line("user", u, o) for o, u in enumerate(users)]
    for event_type in ("pin", "geo", "user"):
        path = tmp_path / "raw" / event_type / "dt=2025-01-06" / "part.jsonl.gz"
        path.parent.mkdir(parents=True)
        path.write_bytes(
            gzip.compress(
                "".join(json.dumps(line) + "\n" for line in lines if line["event_type"] == event_type).encode()
            )
        )
    connection = duckdb.connect()
    assert load_raw(connection, tmp_path) == len(lines)
    yield connection
    connection.close()


def test_sentinels_and_blank_text_become_null_and_other_text_is_kept_as_sent(db):
    row = db.execute(
        "SELECT title, description, poster_name, follower_count, tag_list, image_src, category FROM pins WHERE ind = 1"
    ).fetchone()
    assert row == (None, None, None, None, None, None, " art ")
    assert db.execute("SELECT category FROM pins WHERE ind = 2").fetchone() == (None,)


def test_follower_counts_casts_and_save_location(db):
    rows = db.execute("SELECT ind, follower_count, downloaded, save_location FROM pins ORDER BY ind").fetchall()
    assert rows == [
        (1, None, 1, "/data/art"),
        (2, 1235, 0, "/data/x"),
        (3, 3_000_000_000, 1, "/data/art"),
        (6, None, 1, "/data/art"),
    ]


def test_a_clients_first_copy_wins_and_the_latest_replay_wins(db):
    assert db.execute("SELECT follower_count FROM pins WHERE ind = 3").fetchone() == (3_000_000_000,)
    assert db.execute("SELECT poster_name FROM pins WHERE ind = 6").fetchone() == ("Replay",)


def test_geo_and_users_cleaned_and_rule_breakers_left_out(db):
    assert db.execute("SELECT ind, country, coordinates, post_time::VARCHAR FROM geo ORDER BY ind").fetchall() == [
        (1, None, [-12.5, -173.2], "2020-08-02 03:05:07"),
        (2, "Albania", [-89.9, -173.2], "2021-03-04 05:06:07"),
    ]
    assert db.execute("SELECT ind, user_name, age, date_joined::VARCHAR FROM users").fetchall() == [
        (1, "Ali", 31, "2016-01-02 03:04:05")
    ]
