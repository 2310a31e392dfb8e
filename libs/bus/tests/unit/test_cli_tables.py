"""The CLI's tables stay readable in an 80-column terminal."""

from __future__ import annotations

import io

from rich.console import Console

from agentbus.bus.cli import catalogue_table, letters_table
from agentbus.bus.dlq import dead_letter_headers
from agentbus.bus.dlqtool import DeadLetter
from agentbus.bus.records import InboundRecord
from contracts.topics import all_topics


def render(table) -> list[str]:
    console = Console(width=80, file=io.StringIO(), color_system=None)
    console.print(table)
    return console.file.getvalue().splitlines()


def letter(offset: int, message: str) -> DeadLetter:
    record = InboundRecord("approval.requests", 4, 123456, b"run-1", b"{}", [("ce_id", b"e")])
    error = ValueError(message)
    headers = dead_letter_headers(record, error, consumer_group="approval-service", attempts=5)

    class Raw:
        partition, key, value = 2, b"run-1", b"{}"

    raw = Raw()
    raw.offset, raw.headers = offset, headers  # type: ignore[attr-defined]
    return DeadLetter.of(raw)


def test_dead_letters_fit_80_columns_with_every_fact_whole() -> None:
    long = "approval deadline 2025-01-02T12:00:00Z is before the request time " * 4
    lines = render(letters_table([letter(17, long), letter(1234567, "short")]))
    assert max(len(line) for line in lines) <= 80
    text = "\n".join(lines)
    for fact in ("2/17", "2/1234567", "ValueError", "approval.requests", "4/123456"):
        assert fact in text, f"{fact} is cut or wrapped"
    assert "approval-service" in text
    assert "5x" in text
    assert "…" not in text, "nothing is elided"


def test_the_catalogue_fits_80_columns_with_every_name_whole() -> None:
    specs = all_topics(include_dlq=False)
    lines = render(catalogue_table(specs))
    assert max(len(line) for line in lines) <= 80
    text = "\n".join(lines)
    for spec in specs:
        assert spec.name in text
        for event_type in spec.event_types:
            assert event_type.removeprefix("agentbus.") in text
    assert "forever" in text
    assert "…" not in text
