"""Optional API-key authentication for the event endpoints.

When PINTEREST_API_KEYS is set, a request must present one of the keys, as `X-API-Key: <key>`
or `Authorization: Bearer <key>`. Keys are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac

from flask import Response, current_app, request

from .errors import error_response


def _presented_key() -> bytes | None:
    key = request.headers.get("X-API-Key")
    if key is None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        key = token.strip() if scheme.lower() == "bearer" else None
    return key.encode() if key else None


def require_api_key() -> Response | None:
    """A `before_request` hook: None lets the request through, a 401 answer stops it."""
    keys = current_app.extensions["settings"].api_keys
    if not keys:
        return None
    presented = _presented_key()
    # Compare against every key, so the time taken does not tell which one nearly matched.
    if presented is not None and any([hmac.compare_digest(presented, key.encode()) for key in keys]):
        return None
    response = error_response(
        401, "missing or invalid API key", ["send a valid key as 'X-API-Key: <key>' or 'Authorization: Bearer <key>'"]
    )
    response.headers["WWW-Authenticate"] = 'Bearer realm="pinterest-ingestion"'
    return response
