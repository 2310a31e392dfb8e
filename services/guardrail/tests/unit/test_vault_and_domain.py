"""Vault keys per tenant, AES-GCM bound to tenant and token; contract mapping without values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from guardrail.domain import audit_fields, contract_verdict
from guardrail.handlers import Checker, EngineError
from guardrail.settings import GuardrailSettings
from guardrail.vault import Sealed, VaultCipher, VaultKeyError
from opentelemetry import metrics

from agentbus.guard import CompiledPolicy, Guard, PolicyStore, parse_policy
from contracts.events import Decision, Direction
from contracts.types import StepRef

CIPHER = VaultCipher(b"k" * 40)


def test_keys_differ_per_tenant_and_are_stable() -> None:
    assert CIPHER.keys("acme") == VaultCipher(b"k" * 40).keys("acme")
    assert CIPHER.keys("acme") != CIPHER.keys("globex")
    assert CIPHER.keys("acme") != VaultCipher(b"j" * 40).keys("acme")


def test_sealed_value_opens_only_for_its_tenant_and_token() -> None:
    sealed = CIPHER.seal("acme", "tok1", "219-09-9999")
    assert b"219-09-9999" not in sealed.ciphertext
    assert CIPHER.open("acme", "tok1", sealed) == "219-09-9999"
    with pytest.raises(VaultKeyError):
        CIPHER.open("globex", "tok1", sealed)
    with pytest.raises(VaultKeyError):
        CIPHER.open("acme", "tok2", sealed)
    tampered = Sealed(sealed.nonce, bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:])
    with pytest.raises(VaultKeyError):
        CIPHER.open("acme", "tok1", tampered)


def test_contract_verdict_and_audit_fields_carry_no_raw_values() -> None:
    policy = CompiledPolicy(
        parse_policy("name: p\nversion: 2\ncategories: {pii: {action: mask, mask: tokenize}}\n")
    )
    raw = "card 4111 1111 1111 1111 mail anna@example.com"
    verdict = Guard().check(raw, policy, CIPHER.keys("acme"))
    data = contract_verdict(
        verdict, step=StepRef(run_id="r1", step_id="s1"), request_id="q1", direction=Direction.INPUT
    )
    assert data.decision is Decision.MASK
    assert data.policy_version == "2"
    assert {f.entity for f in data.findings} == {"CREDIT_CARD", "EMAIL_ADDRESS"}
    published = data.model_dump_json() + repr(audit_fields(verdict, Direction.INPUT))
    assert "4111 1111 1111 1111" not in published
    assert "anna@example.com" not in published
    assert "pii.credit_card" in published


def test_settings_defaults_run_locally() -> None:
    settings = GuardrailSettings()
    assert settings.bus.consumer_group == "guardrail"
    assert settings.http.port == 8084
    assert (settings.policy_dir / "_default" / "default.yaml").exists()


def test_partial_env_keeps_the_guardrail_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDRAIL_BUS__BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("GUARDRAIL_HTTP__HOST", "0.0.0.0")
    settings = GuardrailSettings()
    assert settings.bus.bootstrap_servers == "kafka:9092"
    assert settings.bus.consumer_group == "guardrail"
    assert settings.bus.database_url.endswith("guardrail.db")
    assert settings.http.port == 8084


def test_engine_failures_never_repeat_the_content(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    class Exploding(Guard):
        def check(self, content: Any, *args: Any, **kwargs: Any) -> Any:
            raise ValueError(f"cannot handle {content}")

    (tmp_path / "_default").mkdir()
    (tmp_path / "_default" / "default.yaml").write_text("name: default\nversion: 1\n")
    checker = Checker(
        guard=Exploding(warm_up=False),
        policies=PolicyStore(tmp_path),
        cipher=CIPHER,
        verdicts_topic="v",
        audit_topic="a",
        meter=metrics.get_meter("test"),
    )
    with pytest.raises(EngineError) as caught:
        checker.evaluate("acme", "ssn 219-09-9999", policy=None, direction=None, output_schema=None)
    assert "219-09-9999" not in str(caught.value)
    assert "ValueError" in str(caught.value)
    assert "219-09-9999" not in caplog.text
    assert "guard engine failed" in caplog.text
