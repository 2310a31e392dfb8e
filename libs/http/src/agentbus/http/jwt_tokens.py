"""Bearer JWT verification: signature, expiry, optional audience/issuer, tenant and roles."""

from __future__ import annotations

import re
from typing import Any

import jwt

from contracts.types import TENANT_ID_PATTERN

from .principal import Principal, PrincipalKind
from .settings import JwtSettings

__all__ = ["InvalidTokenError", "JwtVerifier", "looks_like_jwt"]

_TENANT = re.compile(TENANT_ID_PATTERN)


class InvalidTokenError(Exception):
    """The token is malformed, badly signed, expired or lacks a claim; message is safe to show."""


def looks_like_jwt(credential: str) -> bool:
    """JWS compact form: three base64url parts; minted API keys contain no dots."""
    return credential.count(".") == 2 and credential.startswith("eyJ")


class JwtVerifier:
    """Verifies tokens from one issuer configuration and maps claims to a Principal."""

    def __init__(self, settings: JwtSettings) -> None:
        self._settings = settings
        self._key: Any
        if settings.algorithm == "HS256":
            assert settings.secret is not None  # JwtSettings validates this
            self._key = settings.secret.get_secret_value()
        elif settings.public_key is not None:
            self._key = settings.public_key
        else:
            assert settings.public_key_file is not None
            self._key = settings.public_key_file.read_text()

    def verify(self, token: str) -> Principal:
        """The principal the token names; InvalidTokenError on any failure."""
        s = self._settings
        required = ["exp", "sub", s.tenant_claim]
        if s.audience is not None:
            required.append("aud")
        if s.issuer is not None:
            required.append("iss")
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[s.algorithm],  # pinned: never trust the token's own "alg"
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway_s,
                options={"require": required, "verify_aud": s.audience is not None},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidTokenError("token expired") from exc
        except jwt.InvalidSignatureError as exc:
            raise InvalidTokenError("token signature does not verify") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidTokenError(f"token lacks the {exc.claim!r} claim") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidTokenError("token audience is not accepted") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidTokenError("token issuer is not accepted") from exc
        except jwt.PyJWTError as exc:
            raise InvalidTokenError("token is not valid") from exc
        return self._principal(claims)

    def _principal(self, claims: dict[str, Any]) -> Principal:
        s = self._settings
        tenant, subject = claims[s.tenant_claim], claims["sub"]
        if not isinstance(tenant, str) or not tenant or not isinstance(subject, str) or not subject:
            raise InvalidTokenError(f"token {s.tenant_claim!r} and 'sub' must be non-empty strings")
        if not _TENANT.fullmatch(tenant):
            raise InvalidTokenError(f"token {s.tenant_claim!r} is not a tenant id")
        raw_roles = claims.get(s.roles_claim, [])
        if isinstance(raw_roles, str):
            roles = frozenset(raw_roles.split())
        elif isinstance(raw_roles, list) and all(isinstance(r, str) for r in raw_roles):
            roles = frozenset(raw_roles)
        else:
            raise InvalidTokenError(f"token {s.roles_claim!r} must be a list of strings")
        kind: PrincipalKind = "service" if claims.get("kind") == "service" else "user"
        return Principal(tenant_id=tenant, subject=subject, roles=roles, kind=kind)
