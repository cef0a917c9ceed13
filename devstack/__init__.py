"""The local service stack: real Kafka, PostgreSQL and an S3 server as plain processes.

`python -m devstack up|down|status|fetch` drives it (the Makefile's `up`, `down`, `status`);
the test suite starts the same services through `devstack.stack.Stack`.
"""
