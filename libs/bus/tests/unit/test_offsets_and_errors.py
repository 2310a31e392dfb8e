"""Offset commits never pass an unsettled record; error classification."""

from __future__ import annotations

import httpx
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError, RequestTimedOutError
from pydantic import BaseModel, ValidationError

from agentbus.bus.errors import PermanentError, TransientError, is_transient
from agentbus.bus.offsets import OffsetTracker
from contracts.errors import ContractViolationError

A0, A1 = TopicPartition("a", 0), TopicPartition("a", 1)


class FakeConsumer:
    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = assigned
        self.commits: list[dict[TopicPartition, int]] = []
        self.fail = False

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.fail:
            raise CommitFailedError("rebalanced")
        self.commits.append(dict(offsets))


async def test_commits_the_position_after_the_last_settled_record_per_batch():
    consumer = FakeConsumer({A0, A1})
    tracker = OffsetTracker(commit_every=3, commit_interval_s=60)
    await tracker.settled(consumer, "a", 0, 10)
    await tracker.settled(consumer, "a", 1, 4)
    assert consumer.commits == []
    await tracker.settled(consumer, "a", 0, 11)
    assert consumer.commits == [{A0: 12, A1: 5}]


async def test_revoked_partitions_are_committed_and_unassigned_ones_never():
    consumer = FakeConsumer({A0})
    tracker = OffsetTracker(commit_every=100, commit_interval_s=60)
    await tracker.settled(consumer, "a", 0, 1)
    await tracker.settled(consumer, "a", 1, 9)  # settled before A1 moved away
    await tracker.on_partitions_revoked([A0])
    assert consumer.commits == [{A0: 2}]
    await tracker.flush()
    assert consumer.commits == [{A0: 2}], "no commit for a partition we do not own"


async def test_a_failed_commit_is_survivable():
    consumer = FakeConsumer({A0})
    consumer.fail = True
    tracker = OffsetTracker(commit_every=1, commit_interval_s=60)
    await tracker.settled(consumer, "a", 0, 1)  # logs, does not raise


class Model(BaseModel):
    n: int


def validation_error() -> ValidationError:
    try:
        Model.model_validate({"n": "x"})
    except ValidationError as exc:
        return exc
    raise AssertionError


def status_error(code: int) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    return httpx.HTTPStatusError(
        "x", request=request, response=httpx.Response(code, request=request)
    )


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (TransientError("x"), True),
        (TimeoutError(), True),
        (ConnectionResetError(), True),
        (httpx.ConnectError("refused"), True),
        (status_error(503), True),
        (status_error(429), True),
        (status_error(400), False),
        (RequestTimedOutError(), True),
        (PermanentError("x"), False),
        (ContractViolationError("x"), False),
        (validation_error(), False),
        (KeyError("a bug"), False),
    ],
)
def test_only_transient_errors_are_retried(error: BaseException, transient: bool):
    assert is_transient(error) is transient


def test_security_settings_map_to_faststream_objects():
    from faststream.security import SASLScram512

    from agentbus.bus.security import kafka_security
    from agentbus.bus.settings import KafkaSecurity

    assert kafka_security(KafkaSecurity()) is None
    scram = kafka_security(
        KafkaSecurity(
            protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", username="planner", password="s"
        )
    )
    assert isinstance(scram, SASLScram512)
    assert scram.use_ssl
    with pytest.raises(ValueError, match="username"):
        kafka_security(KafkaSecurity(protocol="SASL_PLAINTEXT"))


async def test_lag_is_the_distance_from_the_last_settled_record_to_the_high_watermark():
    consumer = FakeConsumer({A0})
    consumer.highwater = lambda tp: 50  # type: ignore[attr-defined]
    tracker = OffsetTracker(commit_every=100, commit_interval_s=60)
    assert tracker.lag() == {}
    await tracker.settled(consumer, "a", 0, 9)
    assert tracker.lag() == {A0: 40}
