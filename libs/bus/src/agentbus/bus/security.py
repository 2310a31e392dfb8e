"""Kafka security from KafkaSecurity settings, for FastStream and for plain aiokafka clients."""

from __future__ import annotations

import ssl
from typing import Any

from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from .settings import BusSettings, KafkaSecurity

__all__ = ["client_options", "kafka_security"]


def kafka_security(sec: KafkaSecurity) -> BaseSecurity | None:
    """None for PLAINTEXT; TLS and SASL (PLAIN or SCRAM) otherwise."""
    if sec.protocol == "PLAINTEXT":
        return None
    context = ssl.create_default_context(cafile=sec.ca_file) if "SSL" in sec.protocol else None
    if sec.protocol == "SSL":
        return BaseSecurity(ssl_context=context)
    if not sec.username or sec.password is None:
        raise ValueError("SASL needs security.username and security.password")
    password = sec.password.get_secret_value()
    use_ssl = sec.protocol == "SASL_SSL"
    kinds = {"SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}
    kind = kinds.get(sec.sasl_mechanism or "PLAIN", SASLPlaintext)
    return kind(username=sec.username, password=password, ssl_context=context, use_ssl=use_ssl)


def client_options(settings: BusSettings | KafkaSecurity) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client (producer, consumer, admin).

    Given BusSettings, also the bootstrap servers; the same translation FastStream uses,
    so services, the `agentbus` CLI and the admin tools connect alike.
    """
    if isinstance(settings, KafkaSecurity):
        return parse_security(kafka_security(settings))
    return {
        "bootstrap_servers": settings.bootstrap_servers,
        **parse_security(kafka_security(settings.security)),
    }
