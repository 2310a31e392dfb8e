"""Topic creation from the catalogue, over aiokafka's admin client."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code

from contracts.topics import TopicSpec, topic_configs

from .security import client_options
from .settings import BusSettings

__all__ = ["TopicResult", "ensure_topics", "wait_for_leaders"]

_ALREADY_EXISTS = 36


@dataclass(frozen=True)
class TopicResult:
    """What `ensure_topics` did with one topic."""

    name: str
    created: bool


async def ensure_topics(
    target: BusSettings | str,
    specs: Iterable[TopicSpec],
    *,
    replication_factor: int = 1,
    timeout_s: float = 30.0,
) -> list[TopicResult]:
    """Create the topics that do not exist yet; existing ones are left as they are.

    `target` is a service's BusSettings (bootstrap servers and security) or a bare
    bootstrap string for a PLAINTEXT cluster.
    """
    wanted = list(specs)
    settings = BusSettings(bootstrap_servers=target) if isinstance(target, str) else target
    admin = AIOKafkaAdminClient(client_id="agentbus-admin", **client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in wanted if spec.name not in existing]
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(
                        spec.name,
                        num_partitions=spec.partitions,
                        replication_factor=replication_factor,
                        topic_configs=topic_configs(spec, replication_factor=replication_factor),
                    )
                    for spec in missing
                ]
            )
            for name, code, *rest in response.topic_errors:
                if code not in (0, _ALREADY_EXISTS):
                    message = rest[0] if rest else ""
                    raise for_code(code)(f"creating {name}: {message}")
            await wait_for_leaders(admin, [spec.name for spec in missing], timeout_s)
        created = {spec.name for spec in missing}
        return [TopicResult(spec.name, spec.name in created) for spec in wanted]
    finally:
        await admin.close()


async def wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float) -> None:
    """New partitions answer NotLeaderForPartition until their leader is elected."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        described = await admin.describe_topics(names)
        ready = all(
            t.get("error_code", 0) == 0
            and t.get("partitions")
            and all(p.get("leader", -1) >= 0 for p in t["partitions"])
            for t in described
        )
        if ready:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"topics without leaders after {timeout_s}s: {names}")
        await asyncio.sleep(0.2)
