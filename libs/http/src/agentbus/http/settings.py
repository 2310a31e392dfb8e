"""HTTP settings: a plain model that each service's BaseSettings nests as `http`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator

from contracts.types import TenantId

__all__ = ["ApiKeyEntry", "HttpSettings", "JwtSettings"]


class ApiKeyEntry(BaseModel):
    """One API key: its SHA-256 (preferred) or the key itself (development), and who it is."""

    key_sha256: str | None = Field(default=None, description="hex SHA-256 of the key")
    key: SecretStr | None = Field(default=None, description="the key itself; development only")
    tenant: TenantId
    subject: str = Field(min_length=1)
    roles: list[str] = Field(default_factory=list)
    kind: Literal["user", "service"] = "user"

    @model_validator(mode="after")
    def _one_key_form(self) -> ApiKeyEntry:
        if (self.key_sha256 is None) == (self.key is None):
            raise ValueError("give exactly one of key_sha256 or key")
        if self.key_sha256 is not None:
            digest = self.key_sha256.strip().lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError("key_sha256 must be 64 hex characters")
            self.key_sha256 = digest
        return self


class JwtSettings(BaseModel):
    """Bearer JWTs: HS256 with a shared secret, or RS256/ES256 with the issuer's public key."""

    algorithm: Literal["HS256", "RS256", "ES256"] = "HS256"
    secret: SecretStr | None = Field(default=None, description="HS256 shared secret")
    public_key: str | None = Field(default=None, description="PEM public key (RS256/ES256)")
    public_key_file: Path | None = Field(default=None, description="file holding the PEM key")
    audience: str | None = None
    issuer: str | None = None
    leeway_s: float = Field(default=30.0, ge=0, description="clock skew tolerated on exp/nbf")
    tenant_claim: str = "tenant"
    roles_claim: str = "roles"

    @model_validator(mode="after")
    def _key_for_algorithm(self) -> JwtSettings:
        if self.algorithm == "HS256" and self.secret is None:
            raise ValueError("HS256 needs jwt.secret")
        if self.algorithm != "HS256" and self.public_key is None and self.public_key_file is None:
            raise ValueError(f"{self.algorithm} needs jwt.public_key or jwt.public_key_file")
        return self


class HttpSettings(BaseModel):
    """Where a service listens and whom it lets in."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    api_keys: list[ApiKeyEntry] = Field(default_factory=list)
    api_keys_file: Path | None = Field(
        default=None, description="JSON file: a list of api key entries (added to api_keys)"
    )
    jwt: JwtSettings | None = None
    readiness_timeout_s: float = Field(default=3.0, gt=0, description="per readiness check")
    graceful_shutdown_s: float = Field(
        default=10.0, gt=0, description="time in-flight requests get after SIGTERM"
    )
    docs: bool = Field(default=True, description="serve /docs and /openapi.json")
