"""`agentbus` command line: create topics; list, show, redrive and purge dead letters."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from contracts.topics import all_topics

from . import dlqtool
from .admin import ensure_topics
from .dlq import dlq_topic

__all__ = ["app", "main"]

app = typer.Typer(help="agentbus operations", no_args_is_help=True)
topics_app = typer.Typer(help="the topic catalogue", no_args_is_help=True)
dlq_app = typer.Typer(help="dead-letter topics", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
app.add_typer(dlq_app, name="dlq")
console = Console()

Bootstrap = Annotated[
    str,
    typer.Option("--bootstrap", envvar="KAFKA_BOOTSTRAP_SERVERS", help="Kafka bootstrap servers"),
]
DlqTopic = Annotated[str, typer.Argument(help="a topic or its dead-letter topic (<topic>.dlq)")]


def _dlq(name: str) -> str:
    return name if name.endswith(".dlq") else dlq_topic(name)


@topics_app.command("create")
def topics_create(
    bootstrap: Bootstrap = "127.0.0.1:19092",
    replication_factor: Annotated[int, typer.Option(min=1)] = 1,
) -> None:
    """Create every catalogue topic and its dead-letter topic (idempotent)."""
    results = asyncio.run(
        ensure_topics(
            bootstrap, all_topics(include_dlq=True), replication_factor=replication_factor
        )
    )
    table = Table("topic", "status")
    for result in results:
        table.add_row(result.name, "created" if result.created else "exists")
    console.print(table)


@topics_app.command("list")
def topics_list() -> None:
    """Show the catalogue: name, key, partitions, retention, event types."""
    table = Table("topic", "partitions", "cleanup", "retention ms", "event types")
    for spec in all_topics(include_dlq=False):
        table.add_row(
            spec.name,
            str(spec.partitions),
            spec.cleanup_policy,
            str(spec.retention_ms),
            "\n".join(spec.event_types),
        )
    console.print(table)


@dlq_app.command("list")
def dlq_list(topic: DlqTopic, bootstrap: Bootstrap = "127.0.0.1:19092", limit: int = 100) -> None:
    """List dead letters with their cause."""
    letters = asyncio.run(dlqtool.read(bootstrap, _dlq(topic), limit=limit))
    table = Table(
        "partition", "offset", "error", "message", "from", "group", "attempts", "failed at"
    )
    for d in letters:
        i = d.info
        if i is None:
            table.add_row(str(d.partition), str(d.offset), "(no dlq headers)", "", "", "", "", "")
            continue
        table.add_row(
            str(d.partition),
            str(d.offset),
            i.error_class.rsplit(".", 1)[-1],
            i.error_message[:80],
            f"{i.original_topic}/{i.original_partition}/{i.original_offset}",
            i.consumer_group,
            str(i.attempts),
            i.failed_at,
        )
    console.print(table)
    console.print(f"{len(letters)} dead letter(s) in {_dlq(topic)}")


@dlq_app.command("show")
def dlq_show(
    topic: DlqTopic, partition: int, offset: int, bootstrap: Bootstrap = "127.0.0.1:19092"
) -> None:
    """Print one dead letter: headers and value."""
    try:
        letter = asyncio.run(dlqtool.read_one(bootstrap, _dlq(topic), partition, offset))
    except LookupError as exc:
        console.print(
            f"[red]no record at {_dlq(topic)} partition {partition} offset {offset}: {exc}"
        )
        raise typer.Exit(1) from exc
    out = {
        "partition": letter.partition,
        "offset": letter.offset,
        "key": (letter.key or b"").decode("utf-8", "replace"),
        "headers": {k: v.decode("utf-8", "replace") for k, v in letter.headers},
        "value": (letter.value or b"").decode("utf-8", "replace"),
    }
    console.print_json(json.dumps(out))


@dlq_app.command("redrive")
def dlq_redrive(
    topic: DlqTopic,
    bootstrap: Bootstrap = "127.0.0.1:19092",
    partition: Annotated[int | None, typer.Option(help="with --offset: redrive one record")] = None,
    offset: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Publish dead letters back to their original topic (all not yet redriven, or one)."""
    if (partition is None) != (offset is None):
        raise typer.BadParameter("--partition and --offset go together")
    only = (partition, offset) if partition is not None and offset is not None else None
    letters = asyncio.run(dlqtool.redrive(bootstrap, _dlq(topic), only=only))
    for d in letters:
        assert d.info is not None
        console.print(f"redrove {_dlq(topic)}/{d.partition}/{d.offset} -> {d.info.original_topic}")
    console.print(f"{len(letters)} record(s) redriven")


@dlq_app.command("purge")
def dlq_purge(
    topic: DlqTopic,
    bootstrap: Bootstrap = "127.0.0.1:19092",
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Delete every record now in a dead-letter topic."""
    name = _dlq(topic)
    if not yes:
        typer.confirm(f"Delete every record in {name}? This cannot be undone", abort=True)
    deleted = asyncio.run(dlqtool.purge(bootstrap, name))
    console.print(f"purged {sum(deleted.values())} record(s) from {name}")


def main() -> None:
    """Console-script entry point."""
    app()
