"""The live aggregates, recomputed from `experimental_data` for the windows a micro-batch touches.

The sink puts the pins a micro-batch inserted into the temporary table `new_pins`; the windows
they fall in are recomputed from `experimental_data` itself, in the batch's transaction, and
upserted. So the aggregate tables always equal a recomputation from `experimental_data`, a late
pin simply updates its (older) windows, and a replayed batch changes nothing.

The windows, the media and the popularity formula are the streaming contract's
(pinterest_common.streaming_contract):

- `profile_popularity`, per `poster_name` (pins without one, the scrape failures, are left out):
  windows `1m` and `1h` (rolling hour). Columns: `pins_posted` (events), `distinct_pins`
  (distinct `unique_id`), `latest_follower_count` (of the latest pin in the window that has one,
  by `received_at` then `event_id`), `categories` (distinct, sorted) and
  `popularity_score = distinct_pins * log10(10 + coalesce(latest_follower_count, 0))`: activity
  (new pins, not re-posts) weighted by the order of magnitude of the audience. Rankings order
  by score, then pins_posted, then latest_follower_count (NULLs last), then poster_name.
- `category_trends`, per category (NULL left out) per tumbling minute: `events`, `image_share`
  (`image`), `video_share` (`video` and the story format), `avg_follower_count` (NULLs ignored).
"""

from __future__ import annotations

from pinterest_common.streaming_contract import IMAGE, PROFILE_WINDOWS, TREND_WINDOW, VIDEO_MEDIA

_WINDOW_VALUES = ", ".join(f"('{w.name}', {w.length_s}, {w.slide_s})" for w in PROFILE_WINDOWS)

NEW_PINS_TABLE = """
CREATE TEMPORARY TABLE new_pins (poster_name text, category text, received_at timestamptz) ON COMMIT DROP
"""

RECOMPUTE_PROFILE_POPULARITY = f"""
WITH windows (window_name, length_s, slide_s) AS (VALUES {_WINDOW_VALUES}),
touched AS (
    SELECT DISTINCT w.window_name, w.length_s, n.poster_name,
           date_bin(make_interval(secs => w.slide_s), n.received_at, timestamptz 'epoch')
               - make_interval(secs => w.slide_s * k) AS window_start
    FROM new_pins n
    CROSS JOIN windows w
    CROSS JOIN LATERAL generate_series(0, w.length_s / w.slide_s - 1) AS k
    WHERE n.poster_name IS NOT NULL
),
recomputed AS (
    SELECT t.window_name, t.window_start, t.window_start + make_interval(secs => t.length_s) AS window_end,
           t.poster_name, count(*) AS pins_posted, count(DISTINCT e.unique_id) AS distinct_pins,
           (array_agg(e.follower_count ORDER BY e.received_at DESC, e.event_id DESC)
               FILTER (WHERE e.follower_count IS NOT NULL))[1] AS latest_follower_count,
           coalesce(array_agg(DISTINCT e.category ORDER BY e.category)
               FILTER (WHERE e.category IS NOT NULL), '{{}}') AS categories
    FROM touched t
    JOIN experimental_data e
      ON e.poster_name = t.poster_name
     AND e.received_at >= t.window_start
     AND e.received_at < t.window_start + make_interval(secs => t.length_s)
    GROUP BY t.window_name, t.window_start, t.length_s, t.poster_name
)
INSERT INTO profile_popularity (window_name, window_start, window_end, poster_name, pins_posted,
                                distinct_pins, latest_follower_count, categories, popularity_score)
SELECT r.*, r.distinct_pins * log((10 + coalesce(r.latest_follower_count, 0))::double precision)
FROM recomputed r
ON CONFLICT (window_name, window_start, poster_name) DO UPDATE SET
    window_end = EXCLUDED.window_end,
    pins_posted = EXCLUDED.pins_posted,
    distinct_pins = EXCLUDED.distinct_pins,
    latest_follower_count = EXCLUDED.latest_follower_count,
    categories = EXCLUDED.categories,
    popularity_score = EXCLUDED.popularity_score
"""

RECOMPUTE_CATEGORY_TRENDS = f"""
WITH touched AS (
    SELECT DISTINCT category,
           date_bin(make_interval(secs => {TREND_WINDOW.slide_s}), received_at, timestamptz 'epoch') AS window_start
    FROM new_pins
    WHERE category IS NOT NULL
)
INSERT INTO category_trends (category, window_start, window_end, events, image_share, video_share,
                             avg_follower_count)
SELECT t.category, t.window_start, t.window_start + make_interval(secs => {TREND_WINDOW.length_s}), count(*),
       count(*) FILTER (WHERE e.is_image_or_video = %(image)s)::double precision / count(*),
       count(*) FILTER (WHERE e.is_image_or_video = ANY(%(video)s))::double precision / count(*),
       avg(e.follower_count)::double precision
FROM touched t
JOIN experimental_data e
  ON e.category = t.category
 AND e.received_at >= t.window_start
 AND e.received_at < t.window_start + make_interval(secs => {TREND_WINDOW.length_s})
GROUP BY t.category, t.window_start
ON CONFLICT (category, window_start) DO UPDATE SET
    window_end = EXCLUDED.window_end,
    events = EXCLUDED.events,
    image_share = EXCLUDED.image_share,
    video_share = EXCLUDED.video_share,
    avg_follower_count = EXCLUDED.avg_follower_count
"""


def recompute_touched_windows(cur) -> None:
    """Recompute and upsert every window the rows of `new_pins` fall in."""
    cur.execute(RECOMPUTE_PROFILE_POPULARITY)
    cur.execute(RECOMPUTE_CATEGORY_TRENDS, {"image": IMAGE, "video": list(VIDEO_MEDIA)})
