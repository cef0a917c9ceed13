"""JSON error answers: every error the API gives, including Flask's own (404, 405), is JSON."""

from __future__ import annotations

import math

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException


def error_response(status: int, error: str, problems: list[str] | None = None, **extra) -> Response:
    body = {"status": status, "error": error, "problems": problems or [error], **extra}
    response = jsonify(body)
    response.status_code = status
    return response


def unavailable_response(body: dict, retry_after_s: float) -> Response:
    """503 with Retry-After: Kafka did not acknowledge in time; nothing was accepted."""
    response = jsonify({"status": 503, **body})
    response.status_code = 503
    response.headers["Retry-After"] = str(max(1, math.ceil(retry_after_s)))
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        response = error_response(exc.code or 500, exc.name.lower(), [exc.description or exc.name])
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response
