"""What the streaming job promises its readers: its query's name, its tables, the event-time
windows of its aggregates and the popularity formula.

The job (streaming/) writes by these names and definitions; Dagster's observation
(pinterest_assets), the API's recommendations (ingestion_api) and the tests read by them. The
tables themselves (columns, keys) are created by streaming/ddl.py, the aggregates computed by
streaming/aggregates.py.

Windows are event-time windows on `received_at`, aligned to the Unix epoch (UTC): `1m`
(tumbling minutes) and `1h` (the rolling hour: hour-long windows starting every 15 minutes, so
every pin is in 4 of them and the latest one covers the last 45 to 60 minutes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

QUERY_NAME = "pinterest-streaming"  # the streaming query, and its row in `streaming_status`

EVENT_TABLES = {"pin": "experimental_data", "geo": "geo_data", "user": "user_data"}
QUARANTINE_TABLE = "quarantined_events"
PROFILE_POPULARITY = "profile_popularity"
CATEGORY_TRENDS = "category_trends"

# `popularity_score` of a poster in a window: activity (new pins, not re-posts) weighted by the
# order of magnitude of the audience. Rankings order by it, then pins_posted, then
# latest_follower_count (NULLs last), then poster_name.
POPULARITY_SCORE = "distinct_pins * log10(10 + coalesce(latest_follower_count, 0))"

IMAGE = "image"  # `is_image_or_video` values counted by category_trends' image_share ...
VIDEO_MEDIA = ("video", "multi-video(story page format)")  # ... and video_share


def popularity_score(distinct_pins: int, latest_follower_count: int | None) -> float:
    """POPULARITY_SCORE in Python."""
    return distinct_pins * math.log10(10 + (latest_follower_count or 0))


@dataclass(frozen=True)
class EventTimeWindow:
    name: str
    length_s: int
    slide_s: int

    def starts(self, moment: datetime) -> list[datetime]:
        """The starts of every window of this kind that contains `moment`, newest first."""
        latest = math.floor(moment.timestamp() / self.slide_s) * self.slide_s
        return [datetime.fromtimestamp(latest - k * self.slide_s, UTC) for k in range(self.length_s // self.slide_s)]

    def latest_start(self, moment: datetime) -> datetime:
        """The start of the window that covers the `length_s` up to `moment`, to the slide."""
        return self.starts(moment)[-1]

    def end(self, start: datetime) -> datetime:
        return start + timedelta(seconds=self.length_s)


MINUTE = EventTimeWindow("1m", 60, 60)
ROLLING_HOUR = EventTimeWindow("1h", 3600, 900)
PROFILE_WINDOWS = (MINUTE, ROLLING_HOUR)
TREND_WINDOW = MINUTE
