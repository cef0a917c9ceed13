"""The Flask application factory: `gunicorn 'ingestion_api.app:create_app()'`."""

from __future__ import annotations

from typing import cast

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from pinterest_common.config import Settings, get_settings

from .errors import register_error_handlers
from .kafka_producer import KafkaPublisher, Publisher
from .recommendations import recommendations
from .routes import events
from .service import service


def create_app(settings: Settings | None = None, producer: Publisher | None = None) -> Flask:
    """The API. `producer` defaults to a KafkaPublisher for `settings` (one per process)."""
    settings = settings or get_settings()
    app = Flask(__name__)
    cast(DefaultJSONProvider, app.json).sort_keys = False  # Flask's default provider
    app.extensions["settings"] = settings
    app.extensions["publisher"] = producer or KafkaPublisher(settings)
    app.register_blueprint(events)
    app.register_blueprint(service)
    app.register_blueprint(recommendations)
    register_error_handlers(app)
    return app
