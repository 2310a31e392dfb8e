"""Test support for agentbus: a real broker, real databases, bounded waits."""

from .broker import docker_available, kafka_bootstrap_servers, repo_root
from .kafka import consume, create_topics, produce, raw_record, read_to_end, unique
from .ports import free_port
from .waiting import eventually

__all__ = [
    "consume",
    "create_topics",
    "docker_available",
    "eventually",
    "free_port",
    "kafka_bootstrap_servers",
    "produce",
    "raw_record",
    "read_to_end",
    "repo_root",
    "unique",
]
