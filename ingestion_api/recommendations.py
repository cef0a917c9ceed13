"""GET /recommendations/profiles?category=&limit=: the most popular profiles right now.

Reads `profile_popularity` (written by the streaming job; pinterest_common.streaming_contract) for
the latest rolling-hour window, the one covering the last 45 to 60 minutes, ranked by the metric's
order: `popularity_score` (POPULARITY_SCORE), then `pins_posted`, then `latest_follower_count`,
then `poster_name`. `category` keeps the posters who posted in that
category during the window (the row's `categories`), still ranked by their overall score.
`limit`: 1 to 100 (10). Registered by the app factory (ingestion_api/app.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg2
from flask import Blueprint, Response, current_app, jsonify, request

from pinterest_common.config import PG_API, Settings
from pinterest_common.schema import CATEGORIES
from pinterest_common.streaming_contract import POPULARITY_SCORE, ROLLING_HOUR

from .auth import require_api_key
from .errors import error_response, unavailable_response

recommendations = Blueprint("recommendations", __name__)
recommendations.before_request(require_api_key)

DEFAULT_LIMIT, MAX_LIMIT = 10, 100

_TOP_PROFILES = """
SELECT poster_name, popularity_score, pins_posted, distinct_pins, latest_follower_count, categories
FROM profile_popularity
WHERE window_name = %(window)s AND window_start = %(start)s
  AND (%(category)s IS NULL OR %(category)s = ANY(categories))
ORDER BY popularity_score DESC, pins_posted DESC, latest_follower_count DESC NULLS LAST, poster_name
LIMIT %(limit)s
"""


def _problems(category: str | None, limit: str | None) -> list[str]:
    problems = []
    if category is not None and category not in CATEGORIES:
        problems.append(f"'category' must be one of {', '.join(CATEGORIES)}")
    if limit is not None and not (limit.isdigit() and 1 <= int(limit) <= MAX_LIMIT):
        problems.append(f"'limit' must be an integer from 1 to {MAX_LIMIT}")
    return problems


def _top_profiles(settings: Settings, query: dict) -> list[tuple]:
    # As the API's role (PINTEREST_PG_API_USER): SELECT on profile_popularity and nothing else.
    conn = psycopg2.connect(
        settings.pg_dsn(settings.streaming_database, PG_API), connect_timeout=3, application_name="pinterest-api"
    )
    try:
        with conn.cursor() as cur:
            cur.execute(_TOP_PROFILES, query)
            return cur.fetchall()
    finally:
        conn.close()


@recommendations.get("/recommendations/profiles")
def top_profiles() -> Response:
    category, limit = request.args.get("category"), request.args.get("limit")
    problems = _problems(category, limit)
    if problems:
        return error_response(400, "invalid query parameters", problems)
    start = ROLLING_HOUR.latest_start(datetime.now(UTC))
    query = {
        "window": ROLLING_HOUR.name,
        "start": start,
        "category": category,
        "limit": int(limit) if limit else DEFAULT_LIMIT,
    }
    try:
        rows = _top_profiles(current_app.extensions["settings"], query)
    except psycopg2.Error as exc:
        current_app.logger.error("recommendations unavailable: %s", exc)
        return unavailable_response({"error": "the streaming database is unavailable"}, 5)
    profiles = [
        {
            "rank": rank,
            "poster_name": poster,
            "popularity_score": score,
            "pins_posted": pins,
            "distinct_pins": distinct,
            "latest_follower_count": followers,
            "categories": categories,
        }
        for rank, (poster, score, pins, distinct, followers, categories) in enumerate(rows, start=1)
    ]
    return jsonify(
        {
            "window": {
                "name": ROLLING_HOUR.name,
                "start": start.isoformat(),
                "end": ROLLING_HOUR.end(start).isoformat(),
            },
            "category": category,
            "score": POPULARITY_SCORE,
            "profiles": profiles,
        }
    )
