"""Every question re-computed by DuckDB SQL straight from raw lake objects on local disk.

An independent implementation of the contract (docs/DATA_CONTRACT.md sections 2 and 3, and the
rules of pinterest_common/schema.py): plain SQL written from the contract, calling none of the
Spark cleaning or quarantine code. The integration test tests/integration/test_batch_recompute.py
compares the Spark answers with it; the benchmarks (bench/spark_batch.py) time it against Spark
on the same objects, whose data holds every dirty case (bench.lakegen.DIRTY). DuckDB is a
development dependency: the caller brings the connection.

What it applies, as the contract says:
- a client's copies: per event type and client id (client_event_id, else event_id), the first
  copy by received_at then Kafka position wins, the later copies are set aside;
- quarantine: the line's headers, a JSON object value, every field present (pin's image_src may
  be absent) with its JSON type, then every field rule (edge and cleaning); such lines are left out;
- cleaning: text compared after trimming whitespace (what Python's str.strip removes), blank text
  and every sentinel -> NULL (the text itself is kept as sent), follower counts with k/M/B and
  decimals rounded half up, numeric casts, save_location's path, coordinates, user_name, the
  three datetime formats (one- or two-digit fields);
- dedup: the latest received per unique_id (pins) or ind (geo, users), ties to the greater event_id.
"""

from __future__ import annotations

from pathlib import Path

# What str.strip() removes (up to U+3000, the last whitespace character).
WHITESPACE = "".join(ch for ch in map(chr, range(0x3001)) if ch.isspace())
UUID = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
INTEGER_TEXT = r"^[+-]?[0-9]+$"
NUMBER_TEXT = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
MAX_ROW_ID = 2**31 - 1
SENTINELS = {
    "title": ("No Title Data Available",),
    "description": ("No description available Story format", "No description available", "Untitled"),
    "poster_name": ("User Info Error",),
    "follower_count": ("User Info Error",),
    "tag_list": ("N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",),
    "image_src": ("Image src error.",),
}
# Each event type's fields and JSON kinds (s: string, i: integer, n: number, d: datetime).
FIELDS = {
    "pin": {
        "index": "i",
        "unique_id": "s",
        "title": "s",
        "description": "s",
        "poster_name": "s",
        "follower_count": "s",
        "tag_list": "s",
        "is_image_or_video": "s",
        "image_src": "s",
        "downloaded": "i",
        "save_location": "s",
        "category": "s",
    },
    "geo": {"ind": "i", "timestamp": "d", "latitude": "n", "longitude": "n", "country": "s"},
    "user": {"ind": "i", "first_name": "s", "last_name": "s", "age": "i", "date_joined": "d"},
}
OPTIONAL = {"image_src"}
# The field rules, edge and cleaning, as SQL over {t} (the trimmed text), {x} (it as a double),
# {m} (it as a datetime) and {received} (the line's receipt): true when broken.
_FUTURE = "{m} > {received} + INTERVAL 1 DAY"
_BEFORE_LAUNCH = "{m} < TIMESTAMP '2010-01-01'"
_AFTER_RECEIPT = "{m} > {received}"
_ROW_ID = f"{{x}} < 0 OR {{x}} > {MAX_ROW_ID}"
RULES = {
    "pin": {
        "index": [_ROW_ID],
        "unique_id": [
            "{t} = ''",
            "{t} <> '' AND NOT regexp_matches({t}, '" + UUID.replace("{", "{{").replace("}", "}}") + "')",
        ],
        "downloaded": ["{x} NOT IN (0, 1)"],
        "save_location": [r"{t} <> '' AND NOT regexp_matches({t}, '^(Local save in\s*)?/data/')"],
    },
    "geo": {
        "ind": [_ROW_ID],
        "timestamp": [_FUTURE, _BEFORE_LAUNCH, _AFTER_RECEIPT],
        "latitude": ["{x} < -90 OR {x} > 90"],
        "longitude": ["{x} < -180 OR {x} > 180"],
    },
    "user": {
        "ind": [_ROW_ID],
        "age": ["{x} < 0 OR {x} > 120", "{x} < 13"],
        "date_joined": [_FUTURE, _BEFORE_LAUNCH, _AFTER_RECEIPT],
    },
}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _kind_ok(kind: str, name: str) -> str:
    json_type, text = f"json_type(value, '$.{name}')", f"strip(json_extract_string(value, '$.{name}'))"
    if kind == "s":
        return f"{json_type} = 'VARCHAR'"
    if kind == "d":
        return f"({json_type} = 'VARCHAR' AND when_datetime({text}) IS NOT NULL)"
    if kind == "i":
        return f"({json_type} IN ('BIGINT', 'UBIGINT') OR ({json_type} = 'VARCHAR' AND regexp_matches({text}, '{INTEGER_TEXT}')))"
    return (
        f"({json_type} IN ('BIGINT', 'UBIGINT', 'DOUBLE') OR "
        f"({json_type} = 'VARCHAR' AND regexp_matches({text}, '{NUMBER_TEXT}')))"
    )


def _rule_broken(rule: str, name: str) -> str:
    t = f"strip(json_extract_string(value, '$.{name}'))"
    sql = rule.format(t=t, x=f"TRY_CAST({t} AS DOUBLE)", m=f"when_datetime({t})", received="received_ts")
    return f"coalesce({sql}, false)"


def _refused(event_type: str) -> str:
    """SQL true when a line of `event_type` is quarantined."""
    fields = FIELDS[event_type]
    checks = [
        "NOT coalesce(regexp_matches(event_id, '" + UUID + "'), false)",
        f"event_type IS DISTINCT FROM '{event_type}'",
        "received_ts IS NULL",
        "schema_version IS DISTINCT FROM 1",
        "value IS NULL",
        "NOT coalesce(json_valid(value), false)",
        "json_type(value) <> 'OBJECT'",
    ]
    for name, kind in fields.items():
        if name not in OPTIONAL:
            checks.append(f"json_type(value, '$.{name}') IS NULL")
        checks.append(f"(json_type(value, '$.{name}') IS NOT NULL AND NOT coalesce({_kind_ok(kind, name)}, false))")
    checks += [_rule_broken(rule, name) for name, rules in RULES[event_type].items() for rule in rules]
    return "\n        OR ".join(checks)


def _text(name: str, raw: str = "value") -> str:
    """The field's text as sent, NULL when blank or a sentinel (compared trimmed)."""
    blank = ["''", *map(_literal, SENTINELS.get(name, ()))]
    field = f"json_extract_string({raw}, '$.{name}')"
    return f"CASE WHEN strip({field}) IN ({', '.join(blank)}) THEN NULL ELSE {field} END"


def _int(name: str) -> str:
    return f"TRY_CAST(strip(json_extract_string(value, '$.{name}')) AS INTEGER)"


def _when(name: str) -> str:
    return f"when_datetime(strip(json_extract_string(value, '$.{name}')))"


RAW = """
CREATE MACRO strip(s) AS trim(s, {whitespace});
CREATE MACRO when_datetime(s) AS CASE
    WHEN substring(s, 5, 1) = ':' THEN try_strptime(s, '%Y:%m:%d %H:%M:%S')
    WHEN contains(s, 'T') THEN try_strptime(s, '%Y-%m-%dT%H:%M:%S')
    ELSE try_strptime(s, '%Y-%m-%d %H:%M:%S') END;
CREATE MACRO followers(s) AS CASE
    WHEN regexp_matches(strip(s), '^[0-9]+(\\.[0-9]+)?[kKmMbB]?$') THEN TRY_CAST(round(
        CAST(regexp_extract(strip(s), '^([0-9]+(\\.[0-9]+)?)', 1) AS DECIMAL(38, 9)) *
        CASE lower(right(strip(s), 1)) WHEN 'k' THEN 1000 WHEN 'm' THEN 1000000 WHEN 'b' THEN 1000000000 ELSE 1 END)
        AS BIGINT)
    END;

CREATE TABLE raw_lines AS
SELECT *, try_strptime(received_at, '%Y-%m-%dT%H:%M:%S.%fZ') AS received_ts,
       coalesce(client_event_id, event_id) AS dedup_id
FROM read_json('{root}/raw/*/*/*.jsonl.gz', format='newline_delimited', columns={{
    event_id: 'VARCHAR', event_type: 'VARCHAR', received_at: 'VARCHAR', schema_version: 'BIGINT',
    client_event_id: 'VARCHAR', kafka_topic: 'VARCHAR', kafka_partition: 'BIGINT', kafka_offset: 'BIGINT',
    key: 'VARCHAR', value: 'VARCHAR'}}, filename=true);

-- Each raw directory is one event type; within it, a client's first copy wins.
CREATE TABLE first_copies AS
SELECT * FROM (
    SELECT *, regexp_extract(filename, '/raw/([a-z]+)/', 1) AS lake_type,
           CASE WHEN dedup_id IS NULL THEN 1 ELSE row_number() OVER (
               PARTITION BY regexp_extract(filename, '/raw/([a-z]+)/', 1), dedup_id
               ORDER BY received_at ASC NULLS LAST, kafka_topic, kafka_partition, kafka_offset) END AS copy
    FROM raw_lines)
WHERE copy = 1;

CREATE TABLE pins AS
SELECT * EXCLUDE (n) FROM (
    SELECT {pin_index} AS ind, {pin_unique_id} AS unique_id, {pin_title} AS title,
           {pin_description} AS description, followers({pin_follower_count}) AS follower_count,
           {pin_poster_name} AS poster_name, {pin_tag_list} AS tag_list, {pin_is_image_or_video} AS is_image_or_video,
           {pin_image_src} AS image_src,
           nullif(regexp_replace(strip(json_extract_string(value, '$.save_location')), '^Local save in\\s*', ''), '')
               AS save_location,
           {pin_category} AS category, {pin_downloaded} AS downloaded,
           row_number() OVER (PARTITION BY {pin_unique_id} ORDER BY received_at DESC, event_id DESC) AS n
    FROM first_copies WHERE lake_type = 'pin' AND NOT ({pin_refused}))
WHERE n = 1 AND unique_id IS NOT NULL;

CREATE TABLE geo AS
SELECT * EXCLUDE (n) FROM (
    SELECT {geo_ind} AS ind, {geo_country} AS country,
           CASE WHEN {latitude} IS NOT NULL AND {longitude} IS NOT NULL THEN [{latitude}, {longitude}] END AS coordinates,
           {geo_timestamp} AS post_time,
           row_number() OVER (PARTITION BY {geo_ind} ORDER BY received_at DESC, event_id DESC) AS n
    FROM first_copies WHERE lake_type = 'geo' AND NOT ({geo_refused}))
WHERE n = 1 AND ind IS NOT NULL;

CREATE TABLE users AS
SELECT * EXCLUDE (n) FROM (
    SELECT {user_ind} AS ind, nullif(concat_ws(' ', {first_name}, {last_name}), '') AS user_name,
           {age} AS age, {date_joined} AS date_joined,
           row_number() OVER (PARTITION BY {user_ind} ORDER BY received_at DESC, event_id DESC) AS n
    FROM first_copies WHERE lake_type = 'user' AND NOT ({user_refused}))
WHERE n = 1 AND ind IS NOT NULL;

CREATE TABLE joined AS
SELECT p.*, g.country, year(g.post_time) AS post_year, u.age, year(u.date_joined) AS join_year,
       CASE WHEN u.age BETWEEN 18 AND 24 THEN '18-24' WHEN u.age BETWEEN 25 AND 35 THEN '25-35'
            WHEN u.age BETWEEN 36 AND 50 THEN '36-50' WHEN u.age > 50 THEN '+50' END AS age_group
FROM pins p JOIN geo g USING (ind) JOIN users u USING (ind);
"""


def raw_sql(root: Path | str) -> str:
    """The SQL that reads the raw objects under `root` and builds the cleaned tables."""
    parts = {f"pin_{name}": _text(name) for name in FIELDS["pin"] if name not in ("index", "downloaded")}
    parts |= {
        "pin_index": _int("index"),
        "pin_downloaded": _int("downloaded"),
        "pin_follower_count": _text("follower_count"),
        "geo_ind": _int("ind"),
        "geo_country": _text("country"),
        "geo_timestamp": _when("timestamp"),
        "latitude": "TRY_CAST(strip(json_extract_string(value, '$.latitude')) AS DOUBLE)",
        "longitude": "TRY_CAST(strip(json_extract_string(value, '$.longitude')) AS DOUBLE)",
        "user_ind": _int("ind"),
        "first_name": _text("first_name"),
        "last_name": _text("last_name"),
        "age": _int("age"),
        "date_joined": _when("date_joined"),
        **{f"{t}_refused": _refused(t) for t in FIELDS},
    }
    return RAW.format(root=root, whitespace=_literal(WHITESPACE), **parts)


def _top_category(by: str, where: str = "TRUE") -> str:
    return f"""
        SELECT {by}, category, category_count FROM (
            SELECT {by}, category, count(*) AS category_count,
                   rank() OVER (PARTITION BY {by} ORDER BY count(*) DESC) AS r
            FROM joined WHERE {by} IS NOT NULL AND category IS NOT NULL AND {where}
            GROUP BY {by}, category)
        WHERE r = 1"""


def _median(groups: str, source: str = "joined") -> str:
    return f"""
        SELECT {groups}, quantile_cont(follower_count, 0.5) AS median_follower_count
        FROM {source} WHERE follower_count IS NOT NULL AND {" AND ".join(g.strip() + " IS NOT NULL" for g in groups.split(","))}
        GROUP BY {groups}"""


POSTERS = """(SELECT DISTINCT country, poster_name, follower_count FROM joined
              WHERE country IS NOT NULL AND poster_name IS NOT NULL AND follower_count IS NOT NULL)"""
BY_JOIN_YEAR = "(SELECT * EXCLUDE (post_year), join_year AS post_year FROM joined)"

QUERIES = {
    "top_category_per_country": _top_category("country"),
    "top_category_per_post_year": _top_category("post_year"),
    "most_followed_poster_per_country": f"""
        SELECT country, poster_name, follower_count FROM (
            SELECT *, rank() OVER (PARTITION BY country ORDER BY follower_count DESC) AS r FROM {POSTERS})
        WHERE r = 1""",
    "most_followed_poster_country": f"""
        SELECT DISTINCT country, follower_count FROM {POSTERS}
        WHERE follower_count = (SELECT max(follower_count) FROM {POSTERS})""",
    "top_category_per_age_group": _top_category("age_group"),
    "median_follower_count_per_age_group": _median("age_group"),
    "users_joined_per_year": """
        SELECT year(date_joined) AS post_year, count(*) AS number_users_joined
        FROM users WHERE date_joined IS NOT NULL GROUP BY 1""",
    "median_follower_count_per_join_year": _median("post_year", BY_JOIN_YEAR),
    "median_follower_count_per_join_year_and_age_group": _median("age_group, post_year", BY_JOIN_YEAR),
    "top_category_this_year": _top_category("post_year", "post_year = (SELECT max(post_year) FROM joined)"),
}


def load_raw(db, root: Path | str) -> int:
    """Create the cleaned tables from the raw objects under `root` (root/raw/<type>/dt=*/...);
    returns the number of raw lines."""
    db.execute(raw_sql(root))
    return db.execute("SELECT count(*) FROM raw_lines").fetchone()[0]


def answers(db, columns: dict[str, tuple[str, ...]]) -> dict[str, list[tuple]]:
    """Each question's rows (with `columns[name]`), after load_raw."""
    return {
        name: db.execute(f"SELECT {', '.join(columns[name])} FROM ({sql})").fetchall() for name, sql in QUERIES.items()
    }


def normalised(rows) -> list[tuple]:
    """Rows in a stable order with floats rounded, to compare answers of two engines."""
    return sorted(tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in rows)
