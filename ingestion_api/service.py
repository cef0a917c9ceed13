"""GET /healthz (Kafka reachable, else why not) and GET /openapi.json; both open without an API key."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from .errors import unavailable_response
from .openapi import build_openapi

service = Blueprint("service", __name__)


@service.get("/healthz")
def healthz() -> Response:
    publisher = current_app.extensions["publisher"]
    if publisher.reachable():
        return jsonify({"status": "ok", "kafka": "reachable"})
    return unavailable_response(
        {"error": "Kafka unavailable", "kafka": "unreachable", "detail": publisher.problem()}, publisher.timeout_s
    )


@service.get("/openapi.json")
def openapi() -> Response:
    return jsonify(build_openapi(current_app.extensions["settings"]))
