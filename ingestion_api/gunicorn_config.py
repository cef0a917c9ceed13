"""gunicorn settings for the API (`gunicorn -c python:ingestion_api.gunicorn_config ...`).

gthread workers: PINTEREST_API_WORKERS processes (default 2, one per core of the local machine)
with PINTEREST_API_THREADS threads each, as a request mostly waits for Kafka's acknowledgement.
The app is not preloaded: each worker builds its own app, and so its own Kafka producer,
after the fork.
"""

from pinterest_common.config import get_settings

_settings = get_settings()

worker_class = "gthread"
workers = _settings.api_workers
threads = _settings.api_threads
preload_app = False
# A request waits for Kafka at most PINTEREST_API_KAFKA_TIMEOUT_S; far longer means a stuck worker.
timeout = max(30, int(3 * _settings.api_kafka_timeout_s))
graceful_timeout = 15
keepalive = 5
accesslog = "-"
errorlog = "-"
