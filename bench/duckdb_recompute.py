"""Every question re-computed by DuckDB SQL straight from raw lake objects on local disk.

An independent implementation of the contract's cleaning rules and questions
(docs/DATA_CONTRACT.md sections 2 and 3): plain SQL, sharing no code with the Spark assets. The
integration test tests/integration/test_batch_recompute.py compares the Spark answers with it;
the benchmarks (bench/spark_batch.py) time it against Spark on the same objects. DuckDB is a
development dependency: the caller brings the connection.
"""

from __future__ import annotations

from pathlib import Path

RAW = """
CREATE VIEW raw_lines AS
SELECT * FROM read_json('{root}/raw/*/*/*.jsonl.gz', format='newline_delimited', columns={{
    event_id: 'VARCHAR', event_type: 'VARCHAR', received_at: 'VARCHAR', key: 'VARCHAR', value: 'VARCHAR'}});

CREATE MACRO field(v, name) AS json_extract_string(v, '$.' || name);
CREATE MACRO blank_to_null(s) AS CASE WHEN trim(s, ' \t\n\r' || chr(160)) = '' THEN NULL ELSE s END;
CREATE MACRO when_datetime(s) AS coalesce(
    try_strptime(s, '%Y-%m-%d %H:%M:%S'), try_strptime(s, '%Y-%m-%dT%H:%M:%S'), try_strptime(s, '%Y:%m:%d %H:%M:%S'));
CREATE MACRO followers(s) AS CASE
    WHEN regexp_matches(s, '^[0-9]+(\\.[0-9]+)?[kKmMbB]?$') THEN CAST(
        CAST(regexp_extract(s, '^([0-9]+(\\.[0-9]+)?)', 1) AS DECIMAL(38, 6)) *
        CASE lower(right(s, 1)) WHEN 'k' THEN 1000 WHEN 'm' THEN 1000000 WHEN 'b' THEN 1000000000 ELSE 1 END
        AS BIGINT)
    END;

CREATE TABLE pins AS
SELECT ind, unique_id, category, poster_name, follower_count FROM (
    SELECT CAST(field(value, 'index') AS INTEGER) AS ind,
           blank_to_null(field(value, 'unique_id')) AS unique_id,
           blank_to_null(field(value, 'category')) AS category,
           CASE WHEN field(value, 'poster_name') = 'User Info Error' THEN NULL
                ELSE blank_to_null(field(value, 'poster_name')) END AS poster_name,
           followers(field(value, 'follower_count')) AS follower_count,
           row_number() OVER (PARTITION BY field(value, 'unique_id') ORDER BY received_at DESC, event_id DESC) AS n
    FROM raw_lines WHERE event_type = 'pin')
WHERE n = 1;

CREATE TABLE geo AS
SELECT ind, country, post_time FROM (
    SELECT CAST(field(value, 'ind') AS INTEGER) AS ind,
           blank_to_null(field(value, 'country')) AS country,
           when_datetime(field(value, 'timestamp')) AS post_time,
           row_number() OVER (PARTITION BY CAST(field(value, 'ind') AS INTEGER) ORDER BY received_at DESC, event_id DESC) AS n
    FROM raw_lines WHERE event_type = 'geo')
WHERE n = 1;

CREATE TABLE users AS
SELECT ind, age, date_joined FROM (
    SELECT CAST(field(value, 'ind') AS INTEGER) AS ind,
           CAST(field(value, 'age') AS INTEGER) AS age,
           when_datetime(field(value, 'date_joined')) AS date_joined,
           row_number() OVER (PARTITION BY CAST(field(value, 'ind') AS INTEGER) ORDER BY received_at DESC, event_id DESC) AS n
    FROM raw_lines WHERE event_type = 'user')
WHERE n = 1;

CREATE TABLE joined AS
SELECT p.*, g.country, year(g.post_time) AS post_year, u.age, year(u.date_joined) AS join_year,
       CASE WHEN u.age BETWEEN 18 AND 24 THEN '18-24' WHEN u.age BETWEEN 25 AND 35 THEN '25-35'
            WHEN u.age BETWEEN 36 AND 50 THEN '36-50' WHEN u.age > 50 THEN '+50' END AS age_group
FROM pins p JOIN geo g USING (ind) JOIN users u USING (ind);
"""


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
        FROM {source} WHERE follower_count IS NOT NULL AND {' AND '.join(g.strip() + ' IS NOT NULL' for g in groups.split(','))}
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
    db.execute(RAW.format(root=root))
    return db.execute("SELECT count(*) FROM raw_lines").fetchone()[0]


def answers(db, columns: dict[str, tuple[str, ...]]) -> dict[str, list[tuple]]:
    """Each question's rows (with `columns[name]`), after load_raw."""
    return {name: db.execute(f"SELECT {', '.join(columns[name])} FROM ({sql})").fetchall()
            for name, sql in QUERIES.items()}


def normalised(rows) -> list[tuple]:
    """Rows in a stable order with floats rounded, to compare answers of two engines."""
    return sorted(tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in rows)
