"""Services, the sink, the DLQ tools and the CLI hand the same security to aiokafka."""

from __future__ import annotations

import ssl

import pytest
from aiokafka import AIOKafkaConsumer
from typer.testing import CliRunner

from agentbus.bus import BusSettings, KafkaSecurity, cli, dlqtool, toolclients
from agentbus.bus.security import client_options
from agentbus.bus.sink import ProducerSink

SCRAM = KafkaSecurity(
    protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", username="svc", password="s3cret"
)


def security_of(client) -> tuple[str, str | None, str | None, str | None, bool]:
    """What aiokafka's connection layer will use."""
    c = client._client if hasattr(client, "_client") else client.client
    return (
        c._security_protocol,
        c._sasl_mechanism,
        c._sasl_plain_username,
        c._sasl_plain_password,
        isinstance(c._ssl_context, ssl.SSLContext),
    )


EXPECTED = ("SASL_SSL", "SCRAM-SHA-512", "svc", "s3cret", True)


async def test_every_client_gets_the_service_security() -> None:
    settings = BusSettings(bootstrap_servers="broker:9093", security=SCRAM)
    assert client_options(settings)["bootstrap_servers"] == "broker:9093"
    consumer = dlqtool.new_consumer(settings)
    producers = [dlqtool.new_producer(settings), ProducerSink(settings).new_producer()]
    admin = dlqtool.new_admin(settings)
    try:
        assert security_of(consumer) == EXPECTED
        for producer in producers:
            assert security_of(producer) == EXPECTED
        assert admin._client._security_protocol == "SASL_SSL"
        assert admin._client._sasl_plain_username == "svc"
    finally:
        await consumer.stop()
        for producer in producers:
            await producer.stop()
        await admin.close()


async def test_plaintext_by_default() -> None:
    producer = ProducerSink(BusSettings()).new_producer()
    try:
        assert producer.client._security_protocol == "PLAINTEXT"
        assert producer._max_request_size == 8 * 1024 * 1024
    finally:
        await producer.stop()


def test_the_cli_takes_the_services_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[object, ...]] = []

    class Recording(AIOKafkaConsumer):
        async def start(self) -> None:
            seen.append((*security_of(self), self._client._bootstrap_servers))
            raise OSError("not connecting in a unit test")

    monkeypatch.setattr(toolclients, "AIOKafkaConsumer", Recording)
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": None,  # the --bootstrap flag's own variable wins when set
        "AGENTBUS_BUS__BOOTSTRAP_SERVERS": "kafka.internal:9093",
        "AGENTBUS_BUS__SECURITY__PROTOCOL": "SASL_SSL",
        "AGENTBUS_BUS__SECURITY__SASL_MECHANISM": "SCRAM-SHA-512",
        "AGENTBUS_BUS__SECURITY__USERNAME": "svc",
        "AGENTBUS_BUS__SECURITY__PASSWORD": "s3cret",
    }
    done = CliRunner().invoke(cli.app, ["dlq", "list", "orders"], env=env)
    assert done.exit_code == 1
    assert seen == [(*EXPECTED, "kafka.internal:9093")]
    assert done.output.strip() == "error: OSError: not connecting in a unit test"


def test_cli_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[object, ...]] = []

    class Recording(AIOKafkaConsumer):
        async def start(self) -> None:
            seen.append(security_of(self))
            raise OSError("stop")

    monkeypatch.setattr(toolclients, "AIOKafkaConsumer", Recording)
    env = {"AGENTBUS_BUS__SECURITY__PASSWORD": "pw", "AGENTBUS_BUS__SECURITY__USERNAME": "env"}
    args = ["--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanism", "PLAIN"]
    args += ["--username", "flag", "dlq", "show", "orders", "0", "0", "--bootstrap", "b:1"]
    done = CliRunner().invoke(cli.app, args, env=env)
    assert done.exit_code == 1
    assert seen == [("SASL_PLAINTEXT", "PLAIN", "flag", "pw", False)]


def test_an_invalid_security_setting_is_one_line() -> None:
    done = CliRunner().invoke(cli.app, ["--security-protocol", "TLS", "dlq", "list", "x"], env={})
    assert done.exit_code == 1
    assert done.output.startswith("error: invalid setting security.protocol")
    assert len(done.output.strip().splitlines()) == 1
