"""The contract's types and rules (pinterest_common.schema) as Spark column expressions.

Both clean steps, the batch one (pinterest_assets, over the raw lake) and the streaming job, ask
`quarantine_reason` why a record is no cleanable event: NULL means it is cleaned, anything else
is the reason it is quarantined instead. The checks, first failing one wins:

1. the record itself (`record_problem`): `no_value` (a tombstone), `value_not_utf8`, and for the
   lake, `invalid_headers` (not the API's event_id, event_type, received_at, schema_version);
2. the value: `value_not_json`, `value_not_object`, `missing_field:<field>`,
   `wrong_type:<field>` (the types `schema.validate` checks in the API);
3. the field rules, EDGE and CLEANING, in field order: the rule's name (e.g. `latitude_in_range`,
   `age_at_least_13`). Rules named in PINTEREST_RELAXED_RULES are skipped.

The value is parsed once as a VARIANT (`parse_value`), which keeps the JSON types (a string "7"
and a number 7 differ, as they do for the API). A clean step that has the variant at hand
(the batch one) reads each field of it once (`with_value_fields`: its JSON type and its text,
stripped, as columns), asks `variant_reason` over those and cleans the same texts: one parse of
each value, one read of each field, for both the triage and the cleaning.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from .cleaning import OPTIONAL_RAW_FIELDS, parse_timestamp, strip
from .schema import (
    DATETIME,
    INTEGER,
    INTEGER_STRING,
    NUMBER_STRING,
    SCHEMA_VERSION,
    STRING,
    UUID_PATTERN,
    EventType,
    Field,
    Rule,
)

NO_VALUE, VALUE_NOT_UTF8, INVALID_HEADERS = "no_value", "value_not_utf8", "invalid_headers"
VALUE_NOT_JSON, VALUE_NOT_OBJECT = "value_not_json", "value_not_object"
MISSING_FIELD, WRONG_TYPE = "missing_field", "wrong_type"

_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INT", "BIGINT")
_WHOLE_DECIMAL = r"^DECIMAL\(\d+,0\)$"
_NUMBER_TYPES = (*_INTEGER_TYPES, "FLOAT", "DOUBLE")


def reason_category(reason: str) -> str:
    """The reason without its field: `wrong_type:latitude` -> `wrong_type`."""
    return reason.split(":", 1)[0]


def lake_line_problem(event_type: EventType, line_columns: Iterable[str] = ()) -> Column:
    """`record_problem` for a raw lake line (pinterest_assets' lake line columns)."""
    columns = set(line_columns)
    value_base64 = F.col("value_base64") if "value_base64" in columns else F.lit(None).cast("string")
    headers_ok = (
        F.coalesce(F.col("event_id").rlike(UUID_PATTERN), F.lit(False))
        & F.coalesce(F.col("event_type") == event_type.name, F.lit(False))
        & F.col("received_at_ts").isNotNull()
        & F.coalesce(F.col("schema_version") == SCHEMA_VERSION, F.lit(False))
    )
    return record_problem(F.col("value"), value_base64.isNotNull(), headers_ok)


def record_problem(value: Column, not_utf8: Column, headers_ok: Column | None = None) -> Column:
    """`no_value`, `value_not_utf8` or `invalid_headers`; NULL when none applies."""
    problem = F.when(not_utf8, F.lit(VALUE_NOT_UTF8)).when(value.isNull(), F.lit(NO_VALUE))
    if headers_ok is not None:
        problem = F.when(~headers_ok, F.lit(INVALID_HEADERS)).otherwise(problem)
    return problem


def parse_value(value: Column) -> Column:
    """The value (JSON text) as a VARIANT; NULL when it is no JSON."""
    return F.try_parse_json(value)


@dataclass(frozen=True)
class ValueFields:
    """Per field of a parsed value: its JSON type (`schema_of_variant`; NULL when the field is
    absent), its text (NULL when absent) and that text stripped, as columns."""

    kind: dict[str, Column]
    text: dict[str, Column]
    stripped: dict[str, Column]


def value_fields(names: Iterable[str], variant: Column) -> ValueFields:
    """The fields `names` of the parsed value `variant` as expressions over it."""
    texts = {name: F.variant_get(variant, f"$.{name}", "string") for name in names}
    return ValueFields(
        {name: F.schema_of_variant(F.variant_get(variant, f"$.{name}", "variant")) for name in names},
        texts,
        {name: strip(text) for name, text in texts.items()},
    )


def with_value_fields(frame: DataFrame, names: Iterable[str], variant: str) -> tuple[DataFrame, ValueFields]:
    """`frame` with each field `names` of its parsed value (the column `variant`) as columns of
    their own, each computed once per row, and the fields as references to them: the text
    columns are the event's fields as cleaning reads them (`schema.spark_raw_schema`). `names`:
    an event type's `field_names`, or those of several (the streaming job reads three topics)."""
    names = tuple(dict.fromkeys(names))
    fields = value_fields(names, F.col(variant))
    frame = frame.select(
        "*",
        *(fields.kind[n].alias(f"_kind__{n}") for n in names),
        *(fields.text[n].alias(f"_text__{n}") for n in names),
    )
    frame = frame.select("*", *(strip(F.col(f"_text__{n}")).alias(f"_stripped__{n}") for n in names))
    return frame, ValueFields(*({n: F.col(f"_{part}__{n}") for n in names} for part in ("kind", "text", "stripped")))


def quarantine_reason(
    event_type: EventType,
    value: Column,
    received_at: Column,
    first_problem: Column | None = None,
    relaxed: Iterable[str] = (),
) -> Column:
    """Why the event `value` (JSON text) received at `received_at` (a timestamp) is quarantined;
    NULL when it is cleaned. `first_problem` (e.g. `lake_line_problem`) is checked first."""
    return variant_reason(event_type, parse_value(value), received_at, first_problem, relaxed)


def variant_reason(
    event_type: EventType,
    variant: Column,
    received_at: Column,
    first_problem: Column | None = None,
    relaxed: Iterable[str] = (),
    fields: ValueFields | None = None,
) -> Column:
    """`quarantine_reason` for a value already parsed (`parse_value`): pass it as a column of its
    own so that Spark parses each value once, and its `fields` from `with_value_fields` so that
    each field is read once (default: expressions over `variant`)."""
    relaxed = set(relaxed)
    fields = fields or value_fields(event_type.field_names, variant)
    checks: list[tuple[Column, Column]] = [
        (variant.isNull(), F.lit(VALUE_NOT_JSON)),
        (~F.schema_of_variant(variant).startswith("OBJECT"), F.lit(VALUE_NOT_OBJECT)),
    ]
    optional = OPTIONAL_RAW_FIELDS[event_type.name]
    for field in event_type.fields:
        kind = fields.kind[field.name]
        if field.name not in optional:
            checks.append((kind.isNull(), F.lit(f"{MISSING_FIELD}:{field.name}")))
        checks.append(
            (
                kind.isNotNull() & ~_has_kind(field, kind, fields.stripped[field.name]),
                F.lit(f"{WRONG_TYPE}:{field.name}"),
            )
        )
    for field in event_type.fields:
        for rule in field.rules:
            if rule.name not in relaxed:
                broken = _rule_broken(rule, field, fields.stripped[field.name], received_at)
                checks.append((F.coalesce(broken, F.lit(False)), F.lit(rule.name)))
    reason = F.lit(None).cast("string")
    for condition, name in reversed(checks):
        reason = F.when(condition, name).otherwise(reason)
    if first_problem is not None:
        reason = F.coalesce(first_problem, reason)
    return reason


def _has_kind(field: Field, json_type: Column, text: Column) -> Column:
    """Whether a value of `json_type` (`schema_of_variant`) whose text, stripped, is `text` has
    the JSON type `field` needs (as schema.validate decides)."""
    is_string = json_type == "STRING"
    if field.kind == STRING:
        return is_string
    if field.kind == DATETIME:
        return is_string & parse_timestamp(text).isNotNull()
    if field.kind == INTEGER:
        return (
            json_type.isin(*_INTEGER_TYPES)
            | json_type.rlike(_WHOLE_DECIMAL)
            | (is_string & text.rlike(INTEGER_STRING.pattern))
        )
    return (
        json_type.isin(*_NUMBER_TYPES)
        | json_type.startswith("DECIMAL")
        | (is_string & text.rlike(NUMBER_STRING.pattern))
    )


def _rule_broken(rule: Rule, field: Field, stripped: Column, received_at: Column) -> Column:
    """`schema.rule_broken` for the field's stripped text (already of the right type); NULL
    counts as kept."""
    if field.kind == STRING:
        if rule.not_blank:
            return stripped == ""
        return (stripped != "") & ~stripped.rlike(rule.pattern or "")
    if field.kind == DATETIME:
        moment = parse_timestamp(stripped)
        broken = F.lit(False)
        if rule.earliest is not None:
            broken = broken | (moment < F.to_timestamp(F.lit(rule.earliest)))
        if rule.max_ahead_s is not None:
            broken = broken | (moment > received_at + F.make_dt_interval(secs=F.lit(rule.max_ahead_s)))
        return broken
    number = stripped.try_cast("double")
    broken = F.lit(False)
    if rule.one_of is not None:
        broken = broken | ~number.isin(*rule.one_of)
    if rule.minimum is not None:
        broken = broken | (number < rule.minimum)
    if rule.maximum is not None:
        broken = broken | (number > rule.maximum)
    return broken
