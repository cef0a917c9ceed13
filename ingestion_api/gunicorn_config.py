"""gunicorn settings for the API (`gunicorn -c python:ingestion_api.gunicorn_config ...`).

PINTEREST_API_WORKERS processes (default 2, one per core of the local machine), each an asyncio
event loop (ingestion_api.asgi.BufferingWorker, gunicorn's ASGI worker) that reads every request
whole, headers and body, before the Flask app runs in a pool of PINTEREST_API_THREADS threads, as
a request mostly waits for Kafka's acknowledgement. A slow client costs a coroutine, not a thread;
PINTEREST_API_READ_TIMEOUT_S bounds how long its request may take to arrive.
The app is not preloaded: each worker builds its own app, and so its own Kafka producer,
after the fork.
"""

from pinterest_common.config import get_settings

_settings = get_settings()

worker_class = "ingestion_api.asgi.BufferingWorker"
workers = _settings.api_workers
preload_app = False
# The event loop reports to the arbiter every second; far longer means a stuck worker.
timeout = max(30, int(3 * _settings.api_kafka_timeout_s))
graceful_timeout = 15
keepalive = 5  # also bounds the wait for the next request's headers on a kept-alive connection
accesslog = "-"
errorlog = "-"
