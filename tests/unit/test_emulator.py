"""The generator holds the contract's distributions and correlations over a large sample.

Tolerances are absolute shares: several standard errors of a 30,000-triple sample wide, and
narrow enough that a wrong weight or a lost correlation fails.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from datetime import datetime

import pytest
from faker import Faker

from ingestion_api.emulator import CATEGORY_WORDS, generate_triples
from ingestion_api.invalid_events import DEFECTS, make_invalid
from ingestion_api.payload import MalformedJSON, parse_document
from pinterest_common.schema import CATEGORIES, DATETIME_FORMATS, EVENT_TYPES, parse_datetime, validate

SAMPLE = 30_000
USER_INFO_ERROR = "User Info Error"


@pytest.fixture(scope="module")
def triples():
    return list(generate_triples(SAMPLE, seed=2024))


@pytest.fixture(scope="module")
def new(triples):
    return [t for t in triples if not t.replay]


def share(items, predicate) -> float:
    items = list(items)
    return sum(1 for item in items if predicate(item)) / len(items)


def assert_share(items, predicate, expected: float, tolerance: float) -> None:
    observed = share(items, predicate)
    assert abs(observed - expected) <= tolerance, f"share {observed:.4f}, expected {expected} ± {tolerance}"


def follower_kind(value: str) -> str:
    if value == USER_INFO_ERROR:
        return "error"
    if re.fullmatch(r"\d+(\.\d)?k", value):
        return "k"
    if re.fullmatch(r"\d+M", value):
        return "M"
    assert re.fullmatch(r"\d{1,3}", value), value
    return "digits"


def test_every_generated_event_is_valid_and_a_triple_shares_its_index(triples):
    for triple in triples:
        for name, event in triple.events():
            assert validate(EVENT_TYPES[name], event) == [], (name, event)
        assert str(triple.pin["index"]) == str(triple.geo["ind"]) == str(triple.user["ind"])


def test_follower_count_suffix_shares_match_the_contract(triples):
    pins = [t.pin for t in triples]
    kinds = [follower_kind(p["follower_count"]) for p in pins]
    assert_share(kinds, lambda k: k == "k", 0.76, 0.02)
    assert_share(kinds, lambda k: k == "M", 0.07, 0.01)
    assert_share(kinds, lambda k: k == "digits", 0.16, 0.02)
    assert_share(kinds, lambda k: k == "error", 0.02, 0.005)
    millions = [int(p["follower_count"][:-1]) for p in pins if follower_kind(p["follower_count"]) == "M"]
    assert min(millions) == 1 and max(millions) == 15
    assert any("." in p["follower_count"] for p in pins)  # "1.2k" occurs, defensively


def test_user_info_error_rows_are_scrape_failures_in_every_field(triples):
    failures = [t.pin for t in triples if t.pin["poster_name"] == USER_INFO_ERROR]
    assert failures
    for pin in failures:
        assert pin["follower_count"] == USER_INFO_ERROR
        assert pin["is_image_or_video"] == "multi-video(story page format)"
        assert pin["title"] == "No Title Data Available"
        assert pin["description"] == "No description available Story format"
        assert pin["tag_list"] == "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"
        assert int(pin["downloaded"]) == 0
    others = [t.pin for t in triples if t.pin["poster_name"] != USER_INFO_ERROR]
    assert all(p["follower_count"] != USER_INFO_ERROR and p["title"] != "No Title Data Available" for p in others)


def test_a_poster_always_has_the_same_follower_count_and_posters_recur(triples):
    counts: dict[str, set[str]] = {}
    for triple in triples:
        counts.setdefault(triple.pin["poster_name"], set()).add(triple.pin["follower_count"])
    assert all(len(values) == 1 for values in counts.values())
    posts_per_poster = Counter(t.pin["poster_name"] for t in triples if not t.replay)
    assert sum(1 for n in posts_per_poster.values() if n > 1) > 1000
    assert any("|" in name for name in counts) and any(not name.isascii() for name in counts)


def test_media_tags_descriptions_and_downloads(triples):
    pins = [t.pin for t in triples]
    assert_share(pins, lambda p: p["is_image_or_video"] == "image", 0.90, 0.02)
    assert_share(pins, lambda p: p["is_image_or_video"] == "video", 0.05, 0.015)
    assert_share(pins, lambda p: p["is_image_or_video"].startswith("multi-video"), 0.055, 0.015)
    assert_share(pins, lambda p: p["tag_list"].startswith("N,o, ,T"), 0.03, 0.01)
    assert all(
        p["description"] == "No description available Story format"
        for p in pins
        if p["is_image_or_video"].startswith("multi-video")
    )
    descriptions = Counter(p["description"] for p in pins)
    assert descriptions["No description available"] > 0 and descriptions["Untitled"] > 0
    assert_share(pins, lambda p: p["description"].endswith("…\xa0"), 0.31, 0.04)
    assert_share(pins, lambda p: int(p["downloaded"]) == 1, 0.975, 0.01)
    assert any(p["image_src"] == "Image src error." for p in pins if p["poster_name"] != USER_INFO_ERROR)


def test_thirteen_categories_evenly_with_matching_save_locations(triples):
    pins = [t.pin for t in triples]
    categories = Counter(p["category"] for p in pins)
    assert set(categories) == set(CATEGORIES) and len(categories) == 13 == len(CATEGORY_WORDS)
    for category in CATEGORIES:
        assert abs(categories[category] / len(pins) - 1 / 13) <= 0.01
    assert all(p["save_location"] == f"Local save in /data/{p['category']}" for p in pins)


def test_post_and_join_times_follow_the_sample_years_and_a_join_never_follows_the_post(triples):
    posted = [parse_datetime(t.geo["timestamp"]) for t in triples]
    joined = [parse_datetime(t.user["date_joined"]) for t in triples]
    post_years, join_years = Counter(d.year for d in posted), Counter(d.year for d in joined)
    sample_post = {2017: 0.04, 2018: 0.22, 2019: 0.25, 2020: 0.17, 2021: 0.16, 2022: 0.15}
    sample_join = {2015: 0.38, 2016: 0.46, 2017: 0.16}
    assert set(post_years) == set(sample_post) and set(join_years) == set(sample_join)
    for year, expected in sample_post.items():
        assert abs(post_years[year] / len(posted) - expected) <= 0.02, year
    for year, expected in sample_join.items():
        assert abs(join_years[year] / len(joined) - expected) <= 0.02, year
    assert all(j <= p for j, p in zip(joined, posted))


def test_all_three_datetime_formats_are_sent():
    formats = Counter()
    for triple in generate_triples(3000, seed=5):
        for value in (triple.geo["timestamp"], triple.user["date_joined"]):
            formats[next(f for f in DATETIME_FORMATS if _matches(value, f))] += 1
    assert set(formats) == set(DATETIME_FORMATS)


def _matches(value: str, fmt: str) -> bool:
    try:
        datetime.strptime(value, fmt)
        return True
    except ValueError:
        return False


def test_ages_countries_names_and_coordinates(triples):
    ages = [int(t.user["age"]) for t in triples]
    assert min(ages) == 20 and max(ages) == 59
    assert_share(ages, lambda a: a == 20, 0.22, 0.02)
    assert_share(ages, lambda a: a >= 40, 0.18, 0.02)
    faker_countries = set(Faker("en_US").provider("faker.providers.address").countries)
    countries = {t.geo["country"] for t in triples}
    assert countries <= faker_countries and len(countries) > 200
    assert "Antarctica (the territory South of 60 deg S)" in countries and "Cote d'Ivoire" in countries
    assert len({t.user["first_name"] for t in triples}) > 300
    assert all(-90 <= float(t.geo["latitude"]) <= 90 and -180 <= float(t.geo["longitude"]) <= 180 for t in triples)


def test_numbers_are_sent_as_numbers_or_numeric_strings(new):
    assert_share(new, lambda t: isinstance(t.pin["index"], str), 0.30, 0.02)
    for triple in new[:2000]:
        kinds = {
            type(triple.pin["index"]),
            type(triple.pin["downloaded"]),
            type(triple.geo["ind"]),
            type(triple.geo["latitude"]),
            type(triple.user["age"]),
        }
        assert kinds in ({str}, {int, float}, {int})


def test_replays_repeat_an_earlier_triple_exactly(triples, new):
    assert_share(triples, lambda t: t.replay, 0.10, 0.01)
    first_seen = {t.pin["unique_id"]: t for t in new}
    assert len(first_seen) == len(new) and len({str(t.pin["index"]) for t in new}) == len(new)
    for triple in triples:
        if triple.replay:
            original = first_seen[triple.pin["unique_id"]]
            assert (triple.pin, triple.geo, triple.user) == (original.pin, original.geo, original.user)


def test_the_same_seed_gives_the_same_triples_and_a_longer_run_extends_a_shorter_one():
    short = [(t.pin, t.geo, t.user) for t in generate_triples(200, seed=9)]
    long = [(t.pin, t.geo, t.user) for t in generate_triples(500, seed=9)]
    assert long[:200] == short
    assert [(t.pin, t.geo, t.user) for t in generate_triples(200, seed=10)] != short
    assert [t.replay for t in generate_triples(300, seed=9, replay_share=0.0)].count(True) == 0


def test_the_caller_may_change_a_triple_without_changing_later_replays():
    seen = {}
    for triple in generate_triples(3000, seed=3, replay_share=0.5):
        if triple.replay:
            assert triple.pin["title"] == seen[triple.pin["unique_id"]]
        else:
            seen[triple.pin["unique_id"]] = triple.pin["title"]
        triple.pin["title"] = "changed by the caller"


@pytest.mark.parametrize("defect", DEFECTS)
def test_each_invalid_event_breaks_the_contract_as_announced(defect):
    rng = random.Random(1)
    made = 0
    for triple in generate_triples(300, seed=1):
        for name, event in triple.events():
            before = json.dumps(event)
            invalid = make_invalid(name, event, rng)
            assert json.dumps(event) == before
            if invalid.defect != defect:
                continue
            made += 1
            if invalid.expected_status == 400:
                with pytest.raises(MalformedJSON):
                    parse_document(invalid.body)
            else:
                assert invalid.expected_status == 422
                assert validate(EVENT_TYPES[name], parse_document(invalid.body).value)
    assert made > 10
