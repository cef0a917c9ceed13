"""The ingestion front door: a Flask API that validates events and writes them to Kafka,
and an emulator that posts realistic user traffic to it."""
