"""HTTP: authenticated checks, JSON errors, restore only in-tenant and with the role."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentbus.guard import TOKEN_PATTERN, Guard
from contracts.envelope import decode

from .harness import ACME_V1, key_of, policy_dir, read_records, running, write_policy

pytestmark = pytest.mark.integration

SSN = "219-09-9999"


async def test_check_restore_and_errors(
    kafka_bootstrap: str, database_url: str, tmp_path: Path, guard: Guard
) -> None:
    policies = policy_dir(tmp_path)
    write_policy(
        policies, "acme", ACME_V1 + "entities:\n  US_SSN: {action: mask, mask: tokenize}\n"
    )
    async with running(kafka_bootstrap, database_url, policies, guard) as h:
        response = await h.post("bo", "/v1/guardrail/check", {"content": {"note": f"ssn {SSN}"}})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["decision"] == "mask"
        assert body["policy_version"] == "1"
        assert body["findings"][0]["kind"] == "pii.us_ssn"
        assert body["findings"][0]["path"] == "/note"
        assert SSN not in response.text
        masked = body["masked_content"]
        token = TOKEN_PATTERN.search(masked["note"])
        assert token is not None

        # Restore: needs the role (403), stays in the tenant (404), then works.
        denied = await h.post("bo", "/v1/guardrail/restore", {"content": masked})
        assert (denied.status_code, denied.json()["code"]) == (403, "auth.forbidden")
        foreign = await h.post("gil", "/v1/guardrail/restore", {"content": masked})
        assert (foreign.status_code, foreign.json()["code"]) == (404, "not_found")
        assert SSN not in foreign.text
        restored = await h.post("ann", "/v1/guardrail/restore", {"content": masked})
        assert restored.status_code == 200
        assert restored.json()["content"] == {"note": f"ssn {SSN}"}

        # Which policy version is in force, per tenant.
        mine = await h.http.get(
            "/v1/guardrail/policies/default", headers={"X-API-Key": key_of("bo")}
        )
        assert (mine.json()["version"], mine.json()["shared"]) == ("1", False)
        unknown = await h.http.get(
            "/v1/guardrail/policies/strict", headers={"X-API-Key": key_of("bo")}
        )
        assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")

        # Errors are JSON {code, message}.
        anonymous = await h.http.post("/v1/guardrail/check", json={"content": "x"})
        assert (anonymous.status_code, anonymous.json()["code"]) == (401, "auth.missing")
        invalid = await h.post("bo", "/v1/guardrail/check", {"content": "x", "direction": "up"})
        assert (invalid.status_code, invalid.json()["code"]) == (422, "request.invalid")
        assert "direction" in invalid.json()["message"]
        missing = await h.post("bo", "/v1/guardrail/check", {"content": "x", "policy": "nope"})
        assert (missing.status_code, missing.json()["code"]) == (404, "not_found")

        # Output validation: failing the declared schema blocks with the failing path.
        schema = {"type": "object", "properties": {"total": {"type": "integer"}}}
        blocked = await h.post(
            "bo",
            "/v1/guardrail/check",
            {"content": '{"total": "12"}', "direction": "output", "output_schema": schema},
        )
        assert blocked.json()["decision"] == "block"
        assert blocked.json()["findings"][0]["path"] == "/total"
        assert "/total" in blocked.json()["reason"]

        # Every decision is audited: 4 checks (one 404 made none) and 3 restores.
        audits = [
            decode(r.headers, r.value).data
            for r in await read_records(kafka_bootstrap, h.topics.audit, count=4, extra_s=1.0)
        ]
        actions = sorted(a.action for a in audits)
        assert actions == ["guardrail.check"] * 2 + ["guardrail.restore"] * 2
        restore_outcomes = sorted(a.outcome for a in audits if a.action == "guardrail.restore")
        assert restore_outcomes == ["denied", "succeeded"]
        assert all(SSN not in a.model_dump_json() for a in audits)


async def test_probes_and_openapi(
    kafka_bootstrap: str, sqlite_url: str, tmp_path: Path, guard: Guard
) -> None:
    async with running(kafka_bootstrap, sqlite_url, policy_dir(tmp_path), guard) as h:
        assert (await h.http.get("/healthz")).status_code == 200
        ready = await h.http.get("/readyz")
        assert ready.status_code == 200, ready.text
        paths = (await h.http.get("/openapi.json")).json()["paths"]
        assert {"/v1/guardrail/check", "/v1/guardrail/restore"} <= set(paths)
