"""A dead letter is attributed only by headers that can be ids; anything else still counts."""

from __future__ import annotations

from aiokafka import ConsumerRecord
from evaluation.dead_letters import Letter


def record(headers: list[tuple[str, bytes]], value: bytes = b"x") -> ConsumerRecord:
    return ConsumerRecord(
        topic="tasks.completed.dlq",
        partition=1,
        offset=7,
        timestamp=1_763_700_000_000,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value),
        headers=headers,
    )


def test_headers_attribute_a_dead_letter_and_the_last_value_wins() -> None:
    letter = Letter(
        record(
            [
                ("ce_tenantid", b"acme"),
                ("ce_runid", b"run-1"),
                ("dlq.error.class", b"old.Error"),
                ("dlq.error.class", b"contracts.errors.EnvelopeError"),
                ("dlq.original.topic", b"tasks.completed"),
                ("dlq.failed.at", b"2026-11-21T09:00:00+00:00"),
            ]
        )
    )
    row = letter.row("acme")
    assert (row.tenant_id, row.run_id, row.original_topic) == ("acme", "run-1", "tasks.completed")
    assert row.error_class == "contracts.errors.EnvelopeError"
    assert row.failed_at.isoformat() == "2026-11-21T09:00:00+00:00"
    assert row.workflow is None  # the value is not an envelope: attributed through its run


def test_headers_that_cannot_be_ids_leave_it_unattributed() -> None:
    for tenant in (b"a" * 300, b"two words", b"", b"\xff\xfe"):
        assert Letter(record([("ce_tenantid", tenant), ("ce_runid", b"r" * 300)])).tenant is None
    bare = Letter(record([]))
    assert (bare.tenant, bare.run_id, bare.event_type) == (None, None, None)
    assert bare.row("x").original_topic == "tasks.completed.dlq"
    assert bare.row("x").failed_at.year == 2025  # from the record's timestamp
