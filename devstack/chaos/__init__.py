"""`make chaos` / `python -m devstack.chaos`: the fault-injection suite.

Approach. The suite starts its own throw-away stack (devstack.fresh.fresh_stack, prefix
`chaos-`: real Kafka in KRaft mode, PostgreSQL, the S3 server, the API and the streaming job on
free ports under $PINTEREST_HOME/tmp), and stops it at the end, always. Each scenario posts
emulator traffic through the real API (ingestion_api.traffic: every event named by a client id,
retried with the same id after a 502/503/504, a timeout or a connection error; one ledger line
per event tried), injects one fault or two while the events flow or the drain runs, heals it,
waits for the system to recover, drains Kafka into the raw lake the way `make batch --land-only`
does (python -m devstack.batch, a subprocess), and reconciles its ledger by client event
(devstack.reconcile: event type and client_event_id) against Kafka, the raw lake and the
streaming job's tables. The scenarios share the stack one after the other; each reconciles only
its own ledger, so events of earlier scenarios never count. Scenario 2 runs in a second stack of
its own (PostgreSQL and S3, a three-node Kafka cluster from devstack.kafka_cluster, an API on it,
the streaming job after the kills).

    1  Kafka broker SIGKILLed and restarted                       (kafka_faults.broker_killed)
    2  3-node cluster, partition leader SIGKILLed 3x under load   (kafka_faults.cluster_leader_killed)
    3  drain SIGKILLed mid-upload, then before its commit         (drain_faults.drain_killed)
    4  streaming driver SIGKILLed right after a micro-batch commit (streaming_faults.driver_killed)
    5  PostgreSQL SIGKILLed mid-write, then stopped, under the job (streaming_faults.postgres_restarted)
    6  S3 server SIGKILLed, then stopped, while drains upload     (drain_faults.s3_restarted)
    7  garbage written straight into the event topics             (garbage.garbage_in_topics)

Verdict (report.py): every acknowledged event at least once in Kafka and the raw lake (copies
from retries allowed, counted), exactly once in the streaming store, no unacknowledged event
more than once there, no rejected event anywhere; scenarios 1 and 2 must make the clients retry.
A scenario also fails when one of its expectations fails (the emulator gave up, the fault did not
come at its moment, garbage not kept in the raw lake exactly once, the streaming tables did not
catch up, an error); the exit status is then 1. Once after the shared stack's scenarios, a full
batch pass (clean step and analytics too) and devstack.accounting of their ledgers together: every
acknowledged event cleaned, superseded or quarantined, none unaccounted or twice, else exit 1.
docs/CHAOS.md describes the scenarios and the figures measured.
"""
