"""FastStream security objects from KafkaSecurity settings (SASL/TLS in production)."""

from __future__ import annotations

import ssl

from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from .settings import KafkaSecurity

__all__ = ["kafka_security"]


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
