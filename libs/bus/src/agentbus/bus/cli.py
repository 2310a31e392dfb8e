"""`agentbus` command line: create topics; list, show, redrive and purge dead letters.

Connection settings are a service's: `AGENTBUS_BUS__BOOTSTRAP_SERVERS`,
`AGENTBUS_BUS__SECURITY__PROTOCOL`, `..._SASL_MECHANISM`, `..._USERNAME`, `..._PASSWORD`,
`..._CA_FILE`, `AGENTBUS_BUS__METADATA_TIMEOUT_S`; the global options override them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.table import Column, Table

from contracts.topics import TopicSpec, all_topics

from . import dlqtool
from .admin import ensure_topics
from .dlq import dlq_topic
from .dlqtool import DeadLetter, DlqToolError
from .records import Header
from .settings import BusSettings

__all__ = ["ToolSettings", "app", "catalogue_table", "letters_table", "main"]

T = TypeVar("T")

app = typer.Typer(help="agentbus operations", no_args_is_help=True)
topics_app = typer.Typer(help="the topic catalogue", no_args_is_help=True)
dlq_app = typer.Typer(help="dead-letter topics", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
app.add_typer(dlq_app, name="dlq")
# Packages add command groups through the `agentbus.cli` entry point (e.g. `agentbus audit`).
# A group named without a command shows its help: a service's own CLI may serve by default
# (`audit` in a container), but `agentbus audit` must never start a second audit service.
for _group in entry_points(group="agentbus.cli"):
    app.add_typer(
        _group.load(), name=_group.name, invoke_without_command=False, no_args_is_help=True
    )
console = Console()
errors = Console(stderr=True, soft_wrap=True, highlight=False)


class ToolSettings(BaseSettings):
    """The CLI's settings: the same `bus` block (and env names) as every service's."""

    model_config = SettingsConfigDict(env_prefix="AGENTBUS_", env_nested_delimiter="__")

    bus: BusSettings = BusSettings()


@dataclass
class _Connection:
    """Global options; None leaves the environment's (or the default) value."""

    protocol: str | None = None
    sasl_mechanism: str | None = None
    username: str | None = None
    ca_file: str | None = None
    metadata_timeout_s: float | None = None

    def settings(self, bootstrap: str | None) -> BusSettings:
        bus = ToolSettings().bus
        security: dict[str, Any] = {
            "protocol": self.protocol,
            "sasl_mechanism": self.sasl_mechanism,
            "username": self.username,
            "ca_file": self.ca_file,
        }
        values: dict[str, Any] = {
            **bus.model_dump(),
            "security": {
                **bus.security.model_dump(),
                **{k: v for k, v in security.items() if v is not None},
            },
        }
        if bootstrap:
            values["bootstrap_servers"] = bootstrap
        if self.metadata_timeout_s is not None:
            values["metadata_timeout_s"] = self.metadata_timeout_s
        return BusSettings.model_validate(values)


Bootstrap = Annotated[
    str | None,
    typer.Option(
        "--bootstrap",
        envvar="KAFKA_BOOTSTRAP_SERVERS",
        help="Kafka bootstrap servers [default: AGENTBUS_BUS__BOOTSTRAP_SERVERS, 127.0.0.1:19092]",
        show_default=False,
    ),
]
DlqTopic = Annotated[str, typer.Argument(help="a topic or its dead-letter topic (<topic>.dlq)")]


@app.callback()
def connection(
    ctx: typer.Context,
    security_protocol: Annotated[
        str | None,
        typer.Option(help="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", show_default=False),
    ] = None,
    sasl_mechanism: Annotated[
        str | None,
        typer.Option(help="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", show_default=False),
    ] = None,
    username: Annotated[
        str | None,
        typer.Option(help="SASL user (password: AGENTBUS_BUS__SECURITY__PASSWORD)"),
    ] = None,
    ca_file: Annotated[str | None, typer.Option(help="CA bundle for TLS")] = None,
    metadata_timeout: Annotated[
        float | None, typer.Option(help="seconds to wait for the broker [default: 5]")
    ] = None,
) -> None:
    """Kafka operations; connection settings as for services (AGENTBUS_BUS__*)."""
    ctx.obj = _Connection(security_protocol, sasl_mechanism, username, ca_file, metadata_timeout)


def _settings(ctx: typer.Context, bootstrap: str | None) -> BusSettings:
    connection = ctx.obj if isinstance(ctx.obj, _Connection) else _Connection()
    try:
        return connection.settings(bootstrap)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        _fail(f"invalid setting {where}: {first['msg']}")


def _run(step: Coroutine[Any, Any, T]) -> T:
    """Run a tool; any failure is one line on stderr and exit status 1."""
    try:
        return asyncio.run(step)
    except DlqToolError as exc:
        _fail(str(exc))
    except Exception as exc:  # an operator tool: one line, never a traceback
        text = (str(exc) or type(exc).__name__).splitlines()[0]
        name = type(exc).__name__
        _fail(text if text.startswith(name) else f"{name}: {text}")


def _fail(message: str) -> NoReturn:
    errors.print(f"error: {message}", markup=False)
    raise typer.Exit(1)


def _headers_json(headers: list[Header]) -> dict[str, str | list[str | None] | None]:
    """Headers as text (a null value as null); a repeated name shows all its values, in order."""
    out: dict[str, str | list[str | None] | None] = {}
    for name, raw in headers:
        value = None if raw is None else raw.decode("utf-8", "replace")
        if name not in out:
            out[name] = value
        else:
            before = out[name]
            out[name] = [*before, value] if isinstance(before, list) else [before, value]
    return out


def _dlq(name: str) -> str:
    return name if name.endswith(".dlq") else dlq_topic(name)


def _retention(ms: int) -> str:
    if ms < 0:
        return "forever"
    days, rest = divmod(ms, 24 * 3600 * 1000)
    return f"{days}d" if not rest else f"{ms // 1000}s"


def catalogue_table(specs: tuple[TopicSpec, ...]) -> Table:
    """The catalogue as a table that stays readable at 80 columns."""
    table = Table("topic", "parts", "kept", "event types")
    for spec in specs:
        table.add_row(
            spec.name,
            str(spec.partitions),
            _retention(spec.retention_ms),
            "\n".join(t.removeprefix("agentbus.") for t in spec.event_types),
        )
    return table


def letters_table(letters: list[DeadLetter]) -> Table:
    """Dead letters with their cause, readable at 80 columns (the message wraps)."""
    table = Table(
        Column("p/offset", no_wrap=True),
        Column("cause", ratio=1),
        Column("from, group, tries", overflow="fold"),
    )
    for d in letters:
        i = d.info
        if i is None:
            table.add_row(f"{d.partition}/{d.offset}", "(no dlq headers)", "")
            continue
        table.add_row(
            f"{d.partition}/{d.offset}",
            f"{i.error_class.rsplit('.', 1)[-1]}: {i.error_message[:160]}",
            f"{i.original_topic} {i.original_partition}/{i.original_offset}\n"
            f"{i.consumer_group}\n{i.attempts}x, {i.failed_at[:19]}",
        )
    return table


@topics_app.command("create")
def topics_create(
    ctx: typer.Context,
    bootstrap: Bootstrap = None,
    replication_factor: Annotated[int, typer.Option(min=1)] = 1,
) -> None:
    """Create every catalogue topic and its dead-letter topic (idempotent)."""
    settings = _settings(ctx, bootstrap)
    results = _run(
        ensure_topics(settings, all_topics(include_dlq=True), replication_factor=replication_factor)
    )
    table = Table("topic", "status")
    for result in results:
        table.add_row(result.name, "created" if result.created else "exists")
    console.print(table)


@topics_app.command("list")
def topics_list() -> None:
    """Show the catalogue: name, partitions, retention, event types."""
    console.print(catalogue_table(all_topics(include_dlq=False)))


@dlq_app.command("list")
def dlq_list(
    ctx: typer.Context, topic: DlqTopic, bootstrap: Bootstrap = None, limit: int = 100
) -> None:
    """List dead letters with their cause."""
    letters = _run(dlqtool.read(_settings(ctx, bootstrap), _dlq(topic), limit=limit))
    console.print(letters_table(letters))
    console.print(f"{len(letters)} dead letter(s) in {_dlq(topic)}")


@dlq_app.command("show")
def dlq_show(
    ctx: typer.Context,
    topic: DlqTopic,
    partition: int,
    offset: int,
    bootstrap: Bootstrap = None,
) -> None:
    """Print one dead letter: headers and value."""
    settings = _settings(ctx, bootstrap)
    letter = _run(dlqtool.read_one(settings, _dlq(topic), partition, offset))
    out = {
        "partition": letter.partition,
        "offset": letter.offset,
        "key": (letter.key or b"").decode("utf-8", "replace"),
        "headers": _headers_json(letter.headers),
        "value": (letter.value or b"").decode("utf-8", "replace"),
    }
    console.print_json(json.dumps(out))


@dlq_app.command("redrive")
def dlq_redrive(
    ctx: typer.Context,
    topic: DlqTopic,
    bootstrap: Bootstrap = None,
    partition: Annotated[int | None, typer.Option(help="with --offset: redrive one record")] = None,
    offset: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Publish dead letters back to their original topic, for the group that failed them."""
    if (partition is None) != (offset is None):
        raise typer.BadParameter("--partition and --offset go together")
    only = (partition, offset) if partition is not None and offset is not None else None
    letters = _run(dlqtool.redrive(_settings(ctx, bootstrap), _dlq(topic), only=only))
    for d in letters:
        assert d.info is not None
        console.print(
            f"redrove {_dlq(topic)}/{d.partition}/{d.offset} -> {d.info.original_topic} "
            f"(group {d.info.consumer_group or 'any'})"
        )
    console.print(f"{len(letters)} record(s) redriven")


@dlq_app.command("purge")
def dlq_purge(
    ctx: typer.Context,
    topic: DlqTopic,
    bootstrap: Bootstrap = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Delete every record now in a dead-letter topic."""
    name = _dlq(topic)
    settings = _settings(ctx, bootstrap)
    if not yes:
        typer.confirm(f"Delete every record in {name}? This cannot be undone", abort=True)
    deleted = _run(dlqtool.purge(settings, name))
    console.print(f"purged {sum(deleted.values())} record(s) from {name}")


def main() -> None:
    """Console-script entry point."""
    # aiokafka logs each failed connection attempt; the tool reports the outcome once.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    app()
