"""Synthetic pin/geo/user triples with the value distributions and correlations of the contract.

`generate_triples(count, seed)` is the library entry point (the batch and streaming tests use it
for large datasets); `pinterest emulate` posts its output to the API. The same seed always gives
the same triples, and a longer run starts with the triples of a shorter one.

Calibration (docs/DATA_CONTRACT.md and the captured samples), per pin record:
follower_count "<n>k" 76% (1 in 20 with a decimal, "1.2k"), "<n>M" 7% (1M-15M), plain digits 15%,
"User Info Error" 2%. Those 2% are scrape failures: story format, no title, the story-format
description, no tags, downloaded=0, "Image src error.". Otherwise: image ~91.5%, video 5%,
story 3.5%; tag sentinel ~1.2% (about 3% overall). A poster name always carries the same follower
count (it is derived from the name). Post times 2017-2022 and joins 2015-2017 weighted like the
samples, a join never after the post; ages 20-59, a fifth of them 20. Faker's en_US data supplies
countries, names (weighted as Faker weighs them) and words. `replay_share` of the triples repeat
an earlier triple exactly (the same pin posted again); `numeric_string_share` of the triples send
their numbers as strings; datetimes use the three source formats (50/40/10%).
"""

from __future__ import annotations

import functools
import itertools
import random
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from faker import Faker

from pinterest_common.schema import CATEGORIES, DATETIME_FORMATS, PIN_SENTINELS

(NO_TITLE,) = PIN_SENTINELS["title"]
STORY_DESCRIPTION, NO_DESCRIPTION, UNTITLED = PIN_SENTINELS["description"]
(USER_INFO_ERROR,) = PIN_SENTINELS["poster_name"]
(NO_TAGS,) = PIN_SENTINELS["tag_list"]
(IMAGE_SRC_ERROR,) = PIN_SENTINELS["image_src"]
IMAGE, VIDEO, STORY = "image", "video", "multi-video(story page format)"

SCRAPE_FAILURE_SHARE = 0.02
FOLLOWER_FORMAT_WEIGHTS = {"k": 76, "M": 7, "digits": 15}  # of the other 98%, rescaled
MEDIA_WEIGHTS = {IMAGE: 91.5, VIDEO: 5.0, STORY: 3.5}  # rows that are not scrape failures
TAG_SENTINEL_SHARE = 0.012
DESCRIPTION_SENTINEL_SHARE = {NO_DESCRIPTION: 0.01, UNTITLED: 0.01}
ELLIPSIS_SHARE = 0.35  # descriptions cut off with "…" + NBSP, as scraped
NOT_DOWNLOADED_SHARE = 0.005
IMAGE_SRC_ERROR_SHARE = 0.01
POSTER_REUSE_SHARE = 0.3
POST_YEAR_WEIGHTS = {2017: 4, 2018: 22, 2019: 25, 2020: 18, 2021: 16, 2022: 15}
JOIN_YEAR_WEIGHTS = {2015: 38, 2016: 46, 2017: 16}
AGE_BAND_WEIGHTS = {(20, 20): 22, (21, 29): 39, (30, 39): 21, (40, 49): 9, (50, 59): 9}
DATETIME_FORMAT_WEIGHTS = dict(zip(DATETIME_FORMATS, (50, 40, 10)))
REPLAY_WINDOW = 11_000  # the original emulator sampled from a table of about 11,000 rows
POSTER_POOL = 5_000
EMOJI = ("✨", "💕", "🎄", "🌸", "🔥", "😍", "🏡", "✈️", "💄", "🎨")
CATEGORY_WORDS = {
    "art": ("Art", "Painting", "Drawing", "Watercolor"),
    "beauty": ("Makeup", "Skin Care", "Nails", "Hair"),
    "christmas": ("Christmas", "Holiday", "Ornaments", "Xmas"),
    "diy-and-crafts": ("Diy", "Crafts", "Kids", "Paper"),
    "education": ("Teaching", "Classroom", "Learning", "School"),
    "event-planning": ("Wedding", "Party", "Event", "Birthday"),
    "finance": ("Budget", "Money", "Saving", "Finance"),
    "home-decor": ("Home Decor", "Living Room", "Farmhouse", "Interior"),
    "mens-fashion": ("Mens Fashion", "Style", "Outfits", "Streetwear"),
    "quotes": ("Quotes", "Life", "Motivation", "Words"),
    "tattoos": ("Tattoo", "Ink", "Sleeve", "Small Tattoos"),
    "travel": ("Travel", "Bucket List", "Vacation", "Beach"),
    "vehicles": ("Cars", "Trucks", "Motorcycle", "Classic Cars"),
}


@dataclass(frozen=True)
class Triple:
    """One user action: a pin and its geo and user events, sharing `index`/`ind`."""

    pin: dict
    geo: dict
    user: dict
    replay: bool = False

    def events(self) -> tuple[tuple[str, dict], ...]:
        return (("pin", self.pin), ("geo", self.geo), ("user", self.user))

    def copy(self, replay: bool) -> Triple:
        return Triple(dict(self.pin), dict(self.geo), dict(self.user), replay)


@dataclass(frozen=True)
class _Weighted:
    """A weighted choice with its cumulative weights computed once."""

    values: tuple
    cumulative: tuple[float, ...]

    @classmethod
    def of(cls, weights: dict) -> _Weighted:
        return cls(tuple(weights), tuple(itertools.accumulate(weights.values())))

    def draw(self, rng: random.Random):
        return rng.choices(self.values, cum_weights=self.cumulative)[0]


_FOLLOWER_FORMATS = _Weighted.of(FOLLOWER_FORMAT_WEIGHTS)
_MEDIA = _Weighted.of(MEDIA_WEIGHTS)
_POST_YEARS = _Weighted.of(POST_YEAR_WEIGHTS)
_JOIN_YEARS = _Weighted.of(JOIN_YEAR_WEIGHTS)
_AGE_BANDS = _Weighted.of(AGE_BAND_WEIGHTS)
_DATETIME_FORMATS = _Weighted.of(DATETIME_FORMAT_WEIGHTS)


def _random_moment(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + timedelta(seconds=rng.randrange(int((end - start).total_seconds())))


def _in_year(rng: random.Random, year: int) -> datetime:
    return _random_moment(rng, datetime(year, 1, 1), datetime(year + 1, 1, 1))


def _follower_count(poster_name: str, seed: int) -> str:
    """The follower count a poster always shows: drawn from a generator seeded by the name."""
    rng = random.Random(f"{seed}:follower:{poster_name}")
    kind = _FOLLOWER_FORMATS.draw(rng)
    if kind == "k":
        if rng.random() < 0.05:
            return f"{rng.randint(1, 9)}.{rng.randint(1, 9)}k"
        return f"{int(10 ** rng.uniform(0, 3))}k"
    if kind == "M":
        return f"{min(15, int(16 ** rng.random()))}M"
    return "0" if rng.random() < 0.15 else str(int(10 ** rng.uniform(0, 3)))


@dataclass(frozen=True)
class _Vocabulary:
    """Faker's en_US data, sampled with our own seeded generator (Faker's sampling is slow)."""

    first_names: _Weighted
    last_names: _Weighted
    countries: tuple[str, ...]
    words: tuple[str, ...]
    catch_phrase_words: tuple[tuple[str, ...], ...]
    company_suffixes: tuple[str, ...]


@functools.cache
def _vocabulary() -> _Vocabulary:
    fake = Faker("en_US")
    person, company = fake.provider("faker.providers.person"), fake.provider("faker.providers.company")

    return _Vocabulary(
        first_names=_Weighted.of(person.first_names),
        last_names=_Weighted.of(person.last_names),
        countries=tuple(fake.provider("faker.providers.address").countries),
        words=tuple(fake.provider("faker.providers.lorem").word_list),
        catch_phrase_words=tuple(tuple(words) for words in company.catch_phrase_words),
        company_suffixes=tuple(company.company_suffixes),
    )


class _TripleFactory:
    """Draws new triples from one seeded generator."""

    def __init__(self, seed: int, numeric_string_share: float):
        self.seed = seed
        self.rng = random.Random(seed)
        self.vocabulary = _vocabulary()
        self.numeric_string_share = numeric_string_share
        self.posters: deque[str] = deque(maxlen=POSTER_POOL)
        self.next_index = 1

    def first_name(self) -> str:
        return self.vocabulary.first_names.draw(self.rng)

    def last_name(self) -> str:
        return self.vocabulary.last_names.draw(self.rng)

    def company(self) -> str:
        style = self.rng.random()
        if style < 0.6:
            return f"{self.last_name()} {self.rng.choice(self.vocabulary.company_suffixes)}"
        if style < 0.85:
            return f"{self.last_name()}-{self.last_name()}"
        return f"{self.last_name()}, {self.last_name()} and {self.last_name()}"

    def catch_phrase(self) -> str:
        return " ".join(self.rng.choice(words) for words in self.vocabulary.catch_phrase_words)

    def sentence(self, words: int) -> str:
        return " ".join(self.rng.choices(self.vocabulary.words, k=words)).capitalize() + "."

    def _poster_name(self, category: str) -> str:
        rng = self.rng
        if self.posters and rng.random() < POSTER_REUSE_SHARE:
            return rng.choice(self.posters)
        style = rng.random()
        if style < 0.4:
            name = f"{self.first_name()} {self.last_name()}"
        elif style < 0.7:
            name = self.company()
        elif style < 0.9:
            name = f"{self.company()} | {rng.choice(CATEGORY_WORDS[category])} Ideas"
        else:
            name = f"{self.first_name()} {rng.choice(EMOJI)}"
        self.posters.append(name)
        return name

    def _title(self, category: str, poster: str) -> str:
        rng = self.rng
        word = rng.choice(CATEGORY_WORDS[category])
        style = rng.random()
        if style < 0.35:
            title = f"{rng.randint(5, 60)} {self.catch_phrase().title()} {word} Ideas"
        elif style < 0.6:
            title = f"{self.catch_phrase().title()} - {poster}"
        else:
            title = f"{word}: {self.sentence(rng.randint(3, 9)).rstrip('.')}"
        return title + (f" {rng.choice(EMOJI)}" if rng.random() < 0.05 else "")

    def _description(self, media: str) -> str:
        rng = self.rng
        if media == STORY:
            return STORY_DESCRIPTION
        draw = rng.random()
        for sentinel, share in DESCRIPTION_SENTINEL_SHARE.items():
            if draw < share:
                return sentinel
            draw -= share
        text = " ".join(self.sentence(rng.randint(4, 12)) for _ in range(rng.randint(1, 4)))
        if rng.random() < ELLIPSIS_SHARE:
            text = text[: rng.randint(60, 150)].rsplit(" ", 1)[0] + "…\xa0"
        return text

    def _tags(self, category: str) -> str:
        rng = self.rng
        if rng.random() < TAG_SENTINEL_SHARE:
            return NO_TAGS
        words = CATEGORY_WORDS[category]
        count = 17 if rng.random() < 0.03 else 9
        return ",".join(f"{rng.choice(self.vocabulary.words).title()} {rng.choice(words)}" for _ in range(count))

    def _image_src(self) -> str:
        digest = uuid.UUID(int=self.rng.getrandbits(128)).hex
        return f"https://i.pinimg.com/originals/{digest[:2]}/{digest[2:4]}/{digest[4:6]}/{digest}.jpg"

    def _pin(self, index: int) -> dict:
        rng = self.rng
        category = rng.choice(CATEGORIES)
        unique_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if rng.random() < SCRAPE_FAILURE_SHARE:
            poster = follower = USER_INFO_ERROR
            title, media, tags, image_src, downloaded = NO_TITLE, STORY, NO_TAGS, IMAGE_SRC_ERROR, 0
        else:
            poster = self._poster_name(category)
            follower = _follower_count(poster, self.seed)
            title = self._title(category, poster)
            media = _MEDIA.draw(rng)
            tags = self._tags(category)
            image_src = IMAGE_SRC_ERROR if rng.random() < IMAGE_SRC_ERROR_SHARE else self._image_src()
            downloaded = 0 if rng.random() < NOT_DOWNLOADED_SHARE else 1
        return {
            "index": index,
            "unique_id": unique_id,
            "title": title,
            "description": self._description(media),
            "poster_name": poster,
            "follower_count": follower,
            "tag_list": tags,
            "is_image_or_video": media,
            "image_src": image_src,
            "downloaded": downloaded,
            "save_location": f"Local save in /data/{category}",
            "category": category,
        }

    def _format(self, moment: datetime) -> str:
        return moment.strftime(_DATETIME_FORMATS.draw(self.rng))

    def _numbers_as_strings(self, triple: dict[str, dict]) -> None:
        for event, names in (
            (triple["pin"], ("index", "downloaded")),
            (triple["geo"], ("ind", "latitude", "longitude")),
            (triple["user"], ("ind", "age")),
        ):
            for name in names:
                event[name] = str(event[name])

    def new_triple(self) -> Triple:
        rng = self.rng
        index, self.next_index = self.next_index, self.next_index + 1
        posted = _in_year(rng, _POST_YEARS.draw(rng))
        joined = _in_year(rng, _JOIN_YEARS.draw(rng))
        if joined >= posted:
            joined = _random_moment(rng, datetime(2015, 1, 1), posted)
        low, high = _AGE_BANDS.draw(rng)
        events = {
            "pin": self._pin(index),
            "geo": {
                "ind": index,
                "timestamp": self._format(posted),
                "latitude": round(rng.uniform(-90, 90), 4),
                "longitude": round(rng.uniform(-180, 180), 4),
                "country": rng.choice(self.vocabulary.countries),
            },
            "user": {
                "ind": index,
                "first_name": self.first_name(),
                "last_name": self.last_name(),
                "age": rng.randint(low, high),
                "date_joined": self._format(joined),
            },
        }
        if rng.random() < self.numeric_string_share:
            self._numbers_as_strings(events)
        return Triple(**events)


def generate_triples(
    count: int | None,
    seed: int,
    *,
    replay_share: float = 0.1,
    numeric_string_share: float = 0.3,
) -> Iterator[Triple]:
    """`count` triples (None: endlessly), deterministic for a seed.

    A replay is an exact copy of one of the last REPLAY_WINDOW new triples, flagged `replay=True`.
    Every triple yielded is a fresh copy: callers may change it.
    """
    factory = _TripleFactory(seed, numeric_string_share)
    recent: deque[Triple] = deque(maxlen=REPLAY_WINDOW)
    produced = 0
    while count is None or produced < count:
        if recent and factory.rng.random() < replay_share:
            yield factory.rng.choice(recent).copy(replay=True)
        else:
            triple = factory.new_triple()
            recent.append(triple)
            yield triple.copy(replay=False)
        produced += 1
