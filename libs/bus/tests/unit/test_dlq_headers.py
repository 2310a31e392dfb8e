"""Dead-letter headers keep the original bytes; redrives are addressed to the failed group."""

from __future__ import annotations

from agentbus.bus.dlq import (
    REDRIVE_GROUP_HEADER,
    REDRIVEN_FROM_HEADER,
    dead_letter_headers,
    describe,
    is_for_group,
    original_headers,
    redrive_headers,
)
from agentbus.bus.records import InboundRecord

ORIGINAL = [
    ("ce_id", b"evt-1"),
    ("x-bin", b"\xff\x00\xfe"),  # not UTF-8
    ("x-rep", b"one"),
    ("x-rep", b"two"),  # repeated name
    ("x-empty", b""),
]


def record(headers: list[tuple[str, bytes]]) -> InboundRecord:
    return InboundRecord("orders", 3, 41, b"k", b"v", headers)


def test_dead_letter_keeps_original_headers_byte_for_byte_and_adds_only_dlq_ones() -> None:
    headers = dead_letter_headers(
        record(ORIGINAL), ValueError("bad"), consumer_group="g1", attempts=2
    )
    assert headers[: len(ORIGINAL)] == ORIGINAL
    added = headers[len(ORIGINAL) :]
    assert added
    assert all(name.startswith("dlq.") for name, _ in added)
    info = describe(headers)
    assert (info.original_topic, info.original_partition, info.original_offset) == (
        "orders",
        3,
        41,
    )
    assert info.consumer_group == "g1"
    assert info.attempts == 2
    assert original_headers(headers) == ORIGINAL


def test_a_second_failure_wins_and_the_first_stays_as_history() -> None:
    first = dead_letter_headers(record(ORIGINAL), ValueError("a"), consumer_group="g1", attempts=1)
    again = InboundRecord("orders.dlq", 0, 5, b"k", b"v", first)
    second = dead_letter_headers(again, KeyError("b"), consumer_group="g2", attempts=3)
    assert second[: len(first)] == first
    assert describe(second).consumer_group == "g2"
    assert describe(second).original_topic == "orders.dlq"


def test_redrive_addresses_the_failed_group_only() -> None:
    letter = dead_letter_headers(record(ORIGINAL), ValueError("x"), consumer_group="g1", attempts=1)
    redriven = redrive_headers(letter, group="g1", source="orders.dlq/0/7")
    assert redriven[: len(ORIGINAL)] == ORIGINAL
    assert redriven[len(ORIGINAL) :] == [
        (REDRIVEN_FROM_HEADER, b"orders.dlq/0/7"),
        (REDRIVE_GROUP_HEADER, b"g1"),
    ]
    assert is_for_group(redriven, "g1")
    assert not is_for_group(redriven, "g2")
    assert is_for_group(ORIGINAL, "any-group"), "a record never redriven is for every group"


def test_a_second_redrive_replaces_the_addressing() -> None:
    once = redrive_headers(ORIGINAL, group="g1", source="orders.dlq/0/7")
    failed_again = dead_letter_headers(
        record(once), ValueError("x"), consumer_group="g2", attempts=1
    )
    twice = redrive_headers(failed_again, group="g2", source="orders.dlq/0/9")
    assert [v for k, v in twice if k == REDRIVE_GROUP_HEADER] == [b"g2"]
    assert [v for k, v in twice if k == REDRIVEN_FROM_HEADER] == [b"orders.dlq/0/9"]
    assert is_for_group(twice, "g2")
    assert not is_for_group(twice, "g1")


def test_a_dead_letter_without_a_group_is_redriven_to_every_group() -> None:
    redriven = redrive_headers(ORIGINAL, group="", source="orders.dlq/0/1")
    assert is_for_group(redriven, "g1")
    assert is_for_group(redriven, "g2")
