"""A three-node Kafka (KRaft) cluster for the fault suite: replication factor 3, min.insync.replicas 2.

Each node is the local stack's single-node `Kafka` service (devstack/services.py) with its own
ports, node id and directory, the same cluster id, and a controller quorum of all nodes (every
node is broker and controller). With producers at acks=all (the API's), a record is acknowledged
once two replicas hold it, so losing any one node loses nothing acknowledged; unclean leader
election stays off. Not part of `make up`: devstack/chaos starts and stops it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from pinterest_common.config import Settings

from . import kafka_ids
from .process import free_ports, port_open, read_pid, wait_until
from .services import LOCALHOST, Kafka

REPLICATION_FACTOR = 3
MIN_INSYNC_REPLICAS = 2


class KafkaNode(Kafka):
    """One node of a KafkaCluster: service name `kafka-<id>` in the cluster's state directory."""

    heap = "384m"

    def __init__(
        self, settings: Settings, state_dir: Path, node_id: int, ports: dict[int, tuple[int, int]], cluster_id: str
    ):
        self.name = f"kafka-{node_id}"
        super().__init__(settings, state_dir)
        self.node_id = node_id
        self._ports = ports  # node id -> (broker port, controller port), for every node
        self._cluster = cluster_id

    @property
    def port(self) -> int:
        return self._ports[self.node_id][0]

    @property
    def controller_port(self) -> int:
        return self._ports[self.node_id][1]

    def _cluster_id(self) -> str:
        return self._cluster

    def _properties(self) -> dict[str, str]:
        replicas = str(REPLICATION_FACTOR)
        voters = ",".join(f"{node}@{LOCALHOST}:{controller}" for node, (_, controller) in sorted(self._ports.items()))
        return {
            **self._base_properties(self.port, self.controller_port),  # PLAINTEXT: the fault suite's own cluster
            "node.id": str(self.node_id),
            "controller.quorum.voters": voters,
            # Kafka's default again (the single node's is 30 s): in a cluster, the session timeout is
            # how soon the controller moves leadership off a broker that died.
            "broker.session.timeout.ms": "9000",
            "default.replication.factor": replicas,
            "min.insync.replicas": str(MIN_INSYNC_REPLICAS),
            "unclean.leader.election.enable": "false",
            "offsets.topic.replication.factor": replicas,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": str(MIN_INSYNC_REPLICAS),
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": str(MIN_INSYNC_REPLICAS),
        }

    def healthy(self) -> bool:
        """Serving, and registered with the cluster as a broker."""
        return self.node_id in _broker_ids(self.endpoint)


class KafkaCluster:
    """`size` KafkaNodes on free ports under `state_dir` (kept there: a node restarts on its data)."""

    def __init__(self, settings: Settings, state_dir: Path, size: int = REPLICATION_FACTOR):
        self.state_dir = state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        free = iter(free_ports(2 * size))
        ports = {node: (next(free), next(free)) for node in range(1, size + 1)}
        cluster_id = kafka_ids.random_uuid()
        self.nodes = [KafkaNode(settings, state_dir, node, ports, cluster_id) for node in ports]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.endpoint for node in self.nodes)

    def node(self, node_id: int) -> KafkaNode:
        return next(node for node in self.nodes if node.node_id == node_id)

    def start(self, timeout_s: float = 240.0) -> None:
        """Launch every node that is not running, then wait until each is a registered broker
        (a node alone cannot be: the controllers need a quorum)."""
        for node in self.nodes:
            if not node.running():
                node.prepare()
                print(f"[devstack] starting {node.name} on {node.endpoint} (log: {node.log_file})", flush=True)
                node._launch()
        for node in self.nodes:
            wait_until(node.healthy, timeout_s, node.name, node.log_file)

    def stop(self) -> list[str]:
        return [node.name for node in reversed(self.nodes) if node.stop()]

    def pid(self, node_id: int) -> int | None:
        return read_pid(self.node(node_id).pid_file)

    def leader(self, topic: str, partition: int) -> int | None:
        """The node id leading `topic`'s `partition` (None: no leader right now)."""
        for info in self.describe([topic]):
            for p in info["partitions"]:
                if p["partition_index"] == partition:
                    return p["leader_id"] if p["leader_id"] >= 0 else None
        return None

    def describe(self, topics: Iterable[str]) -> list[dict]:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=10_000)
        try:
            return admin.describe_topics(list(topics))
        finally:
            admin.close()

    def under_replicated(self, topics: Iterable[str]) -> list[str]:
        """`topic/partition` of every partition whose in-sync replicas are fewer than its replicas."""
        return [
            f"{info['name']}/{p['partition_index']}"
            for info in self.describe(topics)
            for p in info["partitions"]
            if len(p["isr_nodes"]) < len(p["replica_nodes"])
        ]

    def wait_in_sync(self, topics: Iterable[str], timeout_s: float = 300.0) -> float:
        """Until every replica of `topics` is in sync again; the seconds it took."""
        topics = list(topics)
        started = time.monotonic()

        def in_sync() -> bool:
            try:
                return not self.under_replicated(topics)
            except Exception:  # noqa: BLE001 - metadata while a node restarts
                return False

        wait_until(in_sync, timeout_s, "the Kafka cluster's replicas in sync")
        return time.monotonic() - started


def _broker_ids(bootstrap: str) -> set[int]:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    host, port = bootstrap.rsplit(":", 1)
    if not port_open(host, int(port)):
        return set()
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    except (KafkaError, OSError, ValueError):
        return set()
    try:
        brokers = admin.describe_cluster().get("brokers", [])
        return {broker["broker_id"] for broker in brokers if not broker.get("is_fenced")}
    except (KafkaError, OSError):
        return set()
    finally:
        admin.close()
