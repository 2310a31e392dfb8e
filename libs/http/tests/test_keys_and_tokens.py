"""API key store, key file, settings validation and JWT verification (no server)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from agentbus.http import (
    ApiKeyEntry,
    ApiKeyStore,
    AuthenticationError,
    Authenticator,
    HttpSettings,
    JwtSettings,
    hash_api_key,
    mint_api_key,
)
from agentbus.http.keys_cli import main as apikey_main


def test_minted_keys_are_unique_and_stored_only_as_digest() -> None:
    key = mint_api_key()
    assert key != mint_api_key()
    entry = ApiKeyEntry(key_sha256=hash_api_key(key), tenant="t1", subject="svc", roles=["a"])
    store = ApiKeyStore([entry])
    principal = store.lookup(key)
    assert principal is not None
    assert (principal.tenant_id, principal.subject, principal.roles) == ("t1", "svc", {"a"})
    assert store.lookup(key + "x") is None
    assert store.lookup("") is None


def test_entry_needs_exactly_one_key_form_and_a_hex_digest() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        ApiKeyEntry(tenant="t", subject="s")
    with pytest.raises(ValidationError, match="64 hex"):
        ApiKeyEntry(key_sha256="abc", tenant="t", subject="s")
    upper = hash_api_key("k").upper()
    assert ApiKeyEntry(key_sha256=upper, tenant="t", subject="s").key_sha256 == upper.lower()


def test_duplicate_keys_are_refused() -> None:
    entry = ApiKeyEntry.model_validate({"key": "k1", "tenant": "t", "subject": "a"})
    with pytest.raises(ValueError, match="listed twice"):
        ApiKeyStore([entry, entry])


def test_key_file_adds_to_settings(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(
        json.dumps([{"key_sha256": hash_api_key("from-file"), "tenant": "t2", "subject": "f"}])
    )
    settings = HttpSettings.model_validate(
        {"api_keys": [{"key": "inline", "tenant": "t1", "subject": "i"}], "api_keys_file": path}
    )
    auth = Authenticator.from_settings(settings)
    assert auth.authenticate("from-file").tenant_id == "t2"
    assert auth.authenticate("inline").tenant_id == "t1"
    with pytest.raises(AuthenticationError) as missing:
        auth.authenticate(None)
    assert missing.value.code == "auth.missing"


def test_jwt_settings_demand_a_key() -> None:
    with pytest.raises(ValidationError, match="HS256 needs"):
        JwtSettings()
    with pytest.raises(ValidationError, match="ES256 needs"):
        JwtSettings(algorithm="ES256")


def test_es256_token_with_audience_and_issuer() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    settings = HttpSettings(
        jwt=JwtSettings(algorithm="ES256", public_key=pem, audience="agentbus", issuer="idp")
    )
    auth = Authenticator.from_settings(settings)
    claims = {
        "sub": "alice",
        "tenant": "acme",
        "roles": "approver finance",
        "exp": int(time.time()) + 60,
        "aud": "agentbus",
        "iss": "idp",
    }
    principal = auth.authenticate(jwt.encode(claims, private, algorithm="ES256"))
    assert principal.roles == {"approver", "finance"}
    assert principal.tenant_id == "acme"
    for wrong in ({"aud": "other"}, {"iss": "evil"}):
        with pytest.raises(AuthenticationError, match="not accepted"):
            auth.authenticate(jwt.encode(claims | wrong, private, algorithm="ES256"))
    no_tenant = {k: v for k, v in claims.items() if k != "tenant"}
    with pytest.raises(AuthenticationError, match="'tenant' claim"):
        auth.authenticate(jwt.encode(no_tenant, private, algorithm="ES256"))
    # An HS256 token signed with the public key as secret (the classic alg confusion).
    with pytest.raises(AuthenticationError):
        auth.authenticate(jwt.encode(claims, "x" * 32, algorithm="HS256"))


def test_apikey_cli_prints_key_and_matching_entry(capsys: pytest.CaptureFixture[str]) -> None:
    apikey_main(["--tenant", "acme", "--subject", "bob", "--role", "approver"])
    lines = capsys.readouterr().out.splitlines()
    key = lines[0].removeprefix("key: ")
    entry = ApiKeyEntry.model_validate(json.loads(lines[1].removeprefix("entry: ")))
    assert Authenticator(ApiKeyStore([entry])).authenticate(key).roles == {"approver"}


def test_a_tenant_id_no_event_may_carry_is_refused_in_keys_and_tokens() -> None:
    # Tenant ids name rows, folders and files: letters, digits, '.', '_' and '-' only.
    for odd in ("acme/../x", "acme corp", ".hidden", "a" * 129, "x\x00"):
        with pytest.raises(ValidationError, match="tenant"):
            ApiKeyEntry(key="k", tenant=odd, subject="s")
    assert ApiKeyEntry(key="k", tenant="acme-eu.2_b", subject="s").tenant == "acme-eu.2_b"
    secret = "s" * 32
    auth = Authenticator.from_settings(HttpSettings(jwt=JwtSettings(secret=secret)))
    claims = {"sub": "alice", "tenant": "acme/../x", "exp": int(time.time()) + 60}
    with pytest.raises(AuthenticationError, match="not a tenant id"):
        auth.authenticate(jwt.encode(claims, secret, algorithm="HS256"))
    ok = auth.authenticate(jwt.encode(claims | {"tenant": "acme"}, secret, algorithm="HS256"))
    assert ok.tenant_id == "acme"
