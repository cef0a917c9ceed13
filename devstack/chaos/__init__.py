"""`make chaos` / `python -m devstack.chaos`: the fault-injection suite.

Approach. The suite starts its own throw-away stack (devstack.fresh.fresh_stack, prefix
`chaos-`: real Kafka in KRaft mode, PostgreSQL, the S3 server, the API and the streaming job on
free ports under $PINTEREST_HOME/tmp), and stops it at the end, always. Each scenario posts
emulator traffic through the real API (ingestion_api.traffic: retries 503s and connection
errors, writes every acknowledged event_id to a ledger of its own), injects one fault while the
events flow or the drain runs, heals it, waits for the system to recover, drains Kafka into the
raw lake the way `make batch --land-only` does (python -m pinterest_assets.batch, a subprocess),
and reconciles its ledger by event_id (devstack.reconcile) against Kafka, the raw lake and the
streaming job's tables. The scenarios share the stack one after the other; each reconciles only
its own ledger, so events of earlier scenarios never count. Scenario 2 runs in a second stack of
its own (PostgreSQL and S3, a three-node Kafka cluster from devstack.kafka_cluster, an API on it).

    1  Kafka broker SIGKILLed and restarted                       (kafka_faults.broker_killed)
    2  3-node cluster, partition leader SIGKILLed 3x under load   (kafka_faults.cluster_leader_killed)
    3  drain SIGKILLed mid-upload, then before its commit         (drain_faults.drain_killed)
    4  streaming driver SIGKILLed and restarted                   (streaming_faults.driver_killed)
    5  PostgreSQL stopped and started under the streaming job     (streaming_faults.postgres_restarted)
    6  S3 server stopped and started while a drain uploads        (drain_faults.s3_restarted)
    7  garbage written straight into the event topics             (garbage.garbage_in_topics)

Every scenario reports the events acknowledged, found, lost and duplicated per store, and its
recovery time (report.py). A scenario fails when anything acknowledged is lost or duplicated in
a store it reconciles, or one of its expectations fails (the emulator gave up, garbage not
kept in the raw lake exactly once, the streaming tables did not catch up, an error); the exit status is then 1.
docs/CHAOS.md describes the scenarios and the figures measured.
"""
