"""The OpenAPI 3.1 document, generated from the event schema (pinterest_common.schema)."""

from __future__ import annotations

import re

from pinterest_common import schema
from pinterest_common.config import Settings
from pinterest_common.records import CLIENT_EVENT_ID_MAX_LENGTH
from pinterest_common.schema import DATETIME, EVENT_TYPES, INTEGER, NUMBER, EventType, Field

from .canonical import CANONICAL_TRIPLE

_STRFTIME_PATTERNS = {"%Y": r"\d{4}", "%m": r"\d{2}", "%d": r"\d{2}", "%H": r"\d{2}", "%M": r"\d{2}", "%S": r"\d{2}"}


def _datetime_pattern() -> str:
    def one(fmt: str) -> str:
        parts = re.split(r"(%[YmdHMS])", fmt)
        return "".join(_STRFTIME_PATTERNS.get(part) or re.escape(part) for part in parts)

    return "^(?:" + "|".join(one(fmt) for fmt in schema.DATETIME_FORMATS) + ")$"


def _padded(regex: re.Pattern) -> str:
    """The validator's numeric-string pattern; it strips surrounding whitespace before matching."""
    return r"^\s*(?:" + regex.pattern.removeprefix("^").removesuffix("$") + r")\s*$"


def _rules_text(field: Field) -> str:
    """The field's contract rules in words: EDGE ones answer 422, CLEANING ones quarantine."""
    edge = [f"{r.name} ({r.description})" for r in field.rules if r.stage == schema.EDGE]
    cleaning = [f"{r.name} ({r.description})" for r in field.rules if r.stage == schema.CLEANING]
    return " ".join(
        text
        for text in (
            f"Refused with 422 unless: {'; '.join(edge)}." if edge else "",
            f"Accepted but quarantined by cleaning unless: {'; '.join(cleaning)}." if cleaning else "",
        )
        if text
    )


def _bounds(field: Field) -> dict:
    """The EDGE rules' numeric bounds, as JSON Schema (they apply to numbers, not numeric strings)."""
    bounds: dict = {}
    for rule in field.rules:
        if rule.stage == schema.EDGE and rule.minimum is not None:
            bounds["minimum"] = rule.minimum
        if rule.stage == schema.EDGE and rule.maximum is not None:
            bounds["maximum"] = rule.maximum
    return bounds


def _field_schema(field: Field) -> dict:
    text = " ".join(part for part in (field.description, _rules_text(field)) if part)
    described = {"description": text} if text else {}
    if field.kind == INTEGER:
        return {"type": ["integer", "string"], "pattern": _padded(schema.INTEGER_STRING), **_bounds(field), **described}
    if field.kind == NUMBER:
        return {"type": ["number", "string"], "pattern": _padded(schema.NUMBER_STRING), **_bounds(field), **described}
    if field.kind == DATETIME:
        return {"type": "string", "pattern": _datetime_pattern(), **described}
    return {"type": "string", **described}


def event_schema(event_type: EventType) -> dict:
    return {
        "type": "object",
        "properties": {field.name: _field_schema(field) for field in event_type.fields},
        "required": list(event_type.field_names),
        "additionalProperties": False,
        "example": CANONICAL_TRIPLE[event_type.name],
    }


_CLIENT_EVENT_ID = {
    "type": "string",
    "pattern": f"^[\\x21-\\x7e]{{1,{CLIENT_EVENT_ID_MAX_LENGTH}}}$",
    "description": "The client's name for the event (1 to 255 visible ASCII characters): a retry sends the same "
    "one, and every store after the raw lake keeps the first copy of each (event type, client id).",
}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": _CLIENT_EVENT_ID,
    "description": "Names the event (single endpoint) or, on the batch endpoint, every element without an envelope "
    "of its own as `<key>:<position>`. Without it the event_id is the client id. An invalid key is "
    "answered 400.",
}
_ACCEPTED = {
    "type": "object",
    "properties": {
        "event_id": {"type": "string", "format": "uuid"},
        "client_event_id": {**_CLIENT_EVENT_ID, "description": "The Idempotency-Key, or the event_id without one"},
        "event_type": {"type": "string"},
        "received_at": {"type": "string"},
        "topic": {"type": "string"},
        "partition": {"type": "integer"},
        "offset": {"type": "integer"},
    },
}
_ERROR = {
    "type": "object",
    "properties": {
        "status": {"type": "integer"},
        "error": {"type": "string"},
        "problems": {"type": "array", "items": {"type": "string"}},
        "dead_letter_id": {
            "type": ["string", "null"],
            "description": "event_id of the dead-letter record; null if it could not be written",
        },
    },
}
_BATCH = {
    "type": "object",
    "properties": {
        "event_type": {"type": "string"},
        "accepted": {"type": "integer"},
        "rejected": {"type": "integer"},
        "failed": {"type": "integer"},
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "description": (
                    "per event, by position: status 202 with the accepted fields, 422 with problems and "
                    "dead_letter_id, or 503 with error"
                ),
            },
        },
    },
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _envelope(model: str) -> dict:
    """A batch element that names its event: the event's bytes are written to Kafka as sent."""
    return {
        "type": "object",
        "title": f"Named{model}",
        "properties": {"idempotency_key": _CLIENT_EVENT_ID, "event": _ref(model)},
        "required": ["idempotency_key", "event"],
        "additionalProperties": False,
    }


def _json(schema_ref: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema_ref}}}


def _errors(auth: bool) -> dict:
    errors = {
        "400": _json(_ref("Error"), "malformed JSON (also written to pinterest.dlq)"),
        "413": _json(_ref("Error"), "body or batch too large (also written to pinterest.dlq)"),
        "415": _json(_ref("Error"), "Content-Type is not JSON (also written to pinterest.dlq)"),
        "503": _json(_ref("Error"), "Kafka did not acknowledge in time; retry after Retry-After seconds"),
    }
    if auth:
        errors["401"] = _json(_ref("Error"), "missing or invalid API key")
    return errors


def _operations(event_type: EventType, auth: bool) -> dict:
    name, model = event_type.name, event_type.name.capitalize() + "Event"
    security = {"security": [{"ApiKey": []}, {"Bearer": []}]} if auth else {}
    single = {
        "post": {
            "summary": f"Ingest one {name} event",
            "operationId": f"post_{name}",
            **security,
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(model)}}},
            "responses": {
                "202": _json(_ACCEPTED, f"acknowledged by Kafka (topic {event_type.topic})"),
                "422": _json(_ref("Error"), "the event breaks the schema (also written to pinterest.dlq)"),
                **_errors(auth),
            },
        },
    }
    batch = {
        "post": {
            "summary": f"Ingest a JSON array of {name} events",
            "operationId": f"post_{name}_batch",
            **security,
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"type": "array", "minItems": 1, "items": {"oneOf": [_ref(model), _envelope(model)]}}
                    }
                },
            },
            "responses": {
                "202": _json(_BATCH, "every event acknowledged by Kafka"),
                "207": _json(_BATCH, "some events acknowledged, the others rejected (see results)"),
                "422": _json(_BATCH, "every event rejected, or the body is not a non-empty array"),
                **_errors(auth),
            },
        },
    }
    return {f"/{name}/": single, f"/{name}/batch": batch}


def build_openapi(settings: Settings) -> dict:
    auth = bool(settings.api_keys)
    paths: dict = {}
    for event_type in EVENT_TYPES.values():
        paths.update(_operations(event_type, auth))
    paths["/healthz"] = {
        "get": {
            "summary": "Kafka is reachable",
            "operationId": "healthz",
            "responses": {
                "200": {"description": "Kafka answers"},
                "503": {"description": "Kafka does not answer; `detail` says why (e.g. authentication failed)"},
            },
        }
    }
    paths["/recommendations/profiles"] = {
        "get": {
            "summary": "The most popular profiles of the latest rolling hour (streaming table profile_popularity)",
            "operationId": "recommendProfiles",
            "parameters": [
                {
                    "name": "category",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": list(schema.CATEGORIES)},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
                },
            ],
            "responses": {
                "200": {
                    "description": "profiles ranked by popularity_score, then pins_posted, latest_follower_count, "
                    "poster_name"
                },
                "400": _json(_ref("Error"), "invalid query parameters"),
                "503": {"description": "the streaming database is unavailable"},
                **({"401": {"description": "missing or invalid API key"}} if auth else {}),
            },
        }
    }
    components: dict = {
        "schemas": {
            **{e.name.capitalize() + "Event": event_schema(e) for e in EVENT_TYPES.values()},
            "Error": _ERROR,
        },
    }
    if auth:
        components["securitySchemes"] = {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "Bearer": {"type": "http", "scheme": "bearer"},
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Pinterest event ingestion API",
            "version": str(schema.SCHEMA_VERSION),
            "description": "Events are validated against the data contract and written to Kafka "
            "(pinterest.pin|geo|user); a 2xx answer means Kafka acknowledged them.",
        },
        "paths": paths,
        "components": components,
    }
