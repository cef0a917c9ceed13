"""Scenarios 1 and 2: Kafka brokers SIGKILLed under load.

1. The single broker of the stack killed and restarted: the API answers 503 meanwhile, the
   emulator retries under the same client ids; every acknowledged event is in Kafka and the raw
   lake, and once in the streaming tables.
2. A three-node cluster (RF 3, min.insync.replicas 2, the API's producer at acks=all): the leader
   of the partition the probe writes to killed three times under load, restarted each time (and
   back in sync before the next kill). Records answered 503 may have been written anyway, so
   Kafka holds copies of retried events; a streaming job started on the cluster after the kills
   must still hold every acknowledged event exactly once.
Both must make the clients retry (a 503 or a timeout): a scenario whose clients never retried
fails (ScenarioResult.must_retry).
"""

from __future__ import annotations

import os
import time

from pinterest_common.config import get_settings
from pinterest_common.kafka_admin import EVENT_TOPICS, PLATFORM_TOPICS, ensure_topics
from pinterest_common.schema import PIN

from ..api_service import IngestionApi
from ..fresh import fresh_stack
from ..kafka_cluster import REPLICATION_FACTOR, KafkaCluster
from ..streaming_service import SparkStreaming
from .harness import (
    Context,
    Probe,
    Traffic,
    api_unavailable,
    check_traffic,
    drain_until_ok,
    kill_9,
    reconcile,
    streaming_caught_up,
)
from .report import ScenarioResult

OUTAGE_S = 8.0  # how long the single broker stays down
CLUSTER_KILLS = 3
CLUSTER_DOWN_S = 5.0  # how long a killed cluster node stays down
STALL_S = 60.0  # no acknowledgement for this long after the cluster healed: the API is stuck


def rate_for(events: int, seconds: float = 30.0) -> float:
    """A pace that spreads `events` over about `seconds`, so the fault comes under load."""
    return max(2.0, events / seconds)


def broker_killed(ctx: Context, result: ScenarioResult) -> None:
    result.must_retry = True
    ledger = ctx.ledger(1)
    kafka = ctx.service("kafka")
    traffic = Traffic(ctx, ledger, ctx.events, rate_for(ctx.events), ctx.seed + 1).start()
    traffic.wait_accepted(ctx.events // 5)
    traffic.under_load("the broker was killed", result)
    pid = kill_9(kafka.pid_file, "kafka")
    ctx.say(f"SIGKILLed the Kafka broker (pid {pid}) after {traffic.accepted} acknowledged events")
    time.sleep(OUTAGE_S / 2)
    unavailable = api_unavailable(ctx)
    result.notes.append(f"API /healthz during the outage: {'503' if unavailable else 'not 503'}")
    if not unavailable:
        result.problems.append("the API did not answer 503 on /healthz while Kafka was down")
    time.sleep(OUTAGE_S / 2)
    healed = time.monotonic()
    kafka.start()
    ctx.say(f"Kafka restarted on its data in {time.monotonic() - healed:.0f}s; probing the API ...")
    Probe(ctx, ledger).until_accepted()
    result.recovery_s = time.monotonic() - healed
    result.recovery_what = "from the restart of Kafka until the API acknowledged an event again"
    ctx.say(f"the API acknowledges again {result.recovery_s:.1f}s after the restart began")
    check_traffic(traffic.wait(), result)
    drain_until_ok(ctx, "scenario-1")
    streaming_caught_up(ctx, ledger, result)
    reconcile(ctx, ledger, result)


def cluster_leader_killed(ctx: Context, result: ScenarioResult) -> None:
    """In a stack of its own: PostgreSQL and S3 from fresh_stack, the Kafka cluster, an API on it
    and, after the kills, the streaming job."""
    result.must_retry = True
    with fresh_stack(prefix="chaos-cluster-", services=["postgres", "s3"]) as settings:
        cluster = KafkaCluster(settings, settings.stack_dir / "kafka-cluster")
        job: SparkStreaming | None = None  # on the cluster's settings
        try:
            ctx.say(f"starting a {len(cluster.nodes)}-node Kafka cluster on {cluster.bootstrap_servers}")
            cluster.start()
            os.environ["KAFKA_BOOTSTRAP_SERVERS"] = cluster.bootstrap_servers  # fresh_stack restores it
            settings = get_settings()
            ensure_topics(settings, settings.topic_partitions, PLATFORM_TOPICS, replication_factor=REPLICATION_FACTOR)
            described = cluster.describe(EVENT_TOPICS)
            factors = {len(p["replica_nodes"]) for info in described for p in info["partitions"]}
            result.notes.append(f"topics {', '.join(EVENT_TOPICS)}: replication factor {sorted(factors)}")
            if factors != {REPLICATION_FACTOR}:
                result.problems.append(f"the event topics have replication factors {sorted(factors)}, not 3")
            api = IngestionApi(settings, settings.stack_dir)
            api.start()  # stopped by fresh_stack (its pid file is the stack's)
            job = SparkStreaming(settings, settings.stack_dir)
            own = Context(settings, ctx.workdir, ctx.say, ctx.events, ctx.seed, services={"streaming": job})
            _kill_leaders(own, cluster, api, result)
        finally:
            if job is not None and job.stop():  # before its Kafka goes
                ctx.say("stopped the streaming job")
            stopped = cluster.stop()
            ctx.say(f"stopped the cluster: {', '.join(stopped) or 'nothing was running'}")


def _kill_leaders(ctx: Context, cluster: KafkaCluster, api: IngestionApi, result: ScenarioResult) -> None:
    ledger = ctx.ledger(2)
    probe = Probe(ctx, ledger)
    probe.until_accepted(120)  # learns the partition the probe's key maps to
    partition = probe.partition
    assert partition is not None  # set by the acknowledgement
    recoveries, resyncs = [], []
    for kill in range(1, CLUSTER_KILLS + 1):
        share = ctx.events // CLUSTER_KILLS
        traffic = Traffic(ctx, ledger, share, rate_for(share, 20), ctx.seed + 20 + kill).start()
        traffic.wait_accepted(share // 4)
        leader = cluster.leader(PIN.topic, partition)
        if leader is None:
            raise RuntimeError(f"{PIN.topic}/{partition} has no leader before kill {kill}")
        traffic.under_load(f"kill {kill}", result)
        pid = kill_9(cluster.node(leader).pid_file, f"kafka-{leader}")
        killed = time.monotonic()
        ctx.say(
            f"kill {kill}/{CLUSTER_KILLS}: SIGKILLed kafka-{leader} (pid {pid}), leader of "
            f"{PIN.topic}/{partition}, after {traffic.accepted} acknowledged events of this round"
        )
        recoveries.append(probe.until_accepted())
        new_leader = cluster.leader(PIN.topic, partition)
        ctx.say(
            f"kill {kill}: the API acknowledges on {PIN.topic}/{partition} again after "
            f"{recoveries[-1]:.1f}s (new leader kafka-{new_leader})"
        )
        time.sleep(max(0.0, CLUSTER_DOWN_S - (time.monotonic() - killed)))
        restarted = time.monotonic()
        cluster.start()
        resyncs.append(cluster.wait_in_sync(EVENT_TOPICS) + (time.monotonic() - restarted))
        ctx.say(f"kill {kill}: kafka-{leader} restarted and every replica in sync {resyncs[-1]:.0f}s after its restart")
        if not traffic.progressing(STALL_S):
            result.problems.append(
                f"kill {kill}: the API acknowledged none of the emulator's events for {STALL_S:.0f}s after every "
                "replica was back in sync (503 'Kafka did not acknowledge the record within 5s'); the suite "
                "restarted the API, whose new producers write again"
            )
            ctx.say(
                f"kill {kill}: the API's traffic is stalled {STALL_S:.0f}s after the cluster healed; restarting the API"
            )
            api.stop()
            api.start()
        check_traffic(traffic.wait(), result)
    result.recovery_s = max(recoveries)
    result.recovery_what = (
        "the longest of the kills, from the SIGKILL of the partition leader until the API "
        "acknowledged an event on that partition again"
    )
    result.notes.append("per kill, seconds until acknowledged again: " + ", ".join(f"{r:.1f}" for r in recoveries))
    result.notes.append(
        "per kill, seconds from the restart until all replicas were in sync: " + ", ".join(f"{r:.0f}" for r in resyncs)
    )
    ctx.say("starting the streaming job on the cluster (it reads the topics from the beginning)")
    ctx.service("streaming").start()
    drain_until_ok(ctx, "scenario-2")
    streaming_caught_up(ctx, ledger, result)
    reconcile(ctx, ledger, result)
