"""One authenticator for API keys and JWTs, built from HttpSettings."""

from __future__ import annotations

from .jwt_tokens import InvalidTokenError, JwtVerifier, looks_like_jwt
from .keys import ApiKeyStore, load_api_key_file
from .principal import Principal
from .settings import HttpSettings

__all__ = ["AuthenticationError", "Authenticator"]


class AuthenticationError(Exception):
    """No credential (code auth.missing) or a wrong one (auth.invalid)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Authenticator:
    """Maps a presented credential (API key or JWT) to a Principal."""

    def __init__(self, keys: ApiKeyStore, jwt: JwtVerifier | None = None) -> None:
        self.keys = keys
        self.jwt = jwt

    @classmethod
    def from_settings(cls, settings: HttpSettings) -> Authenticator:
        """Keys from settings and the key file; a JWT verifier when `jwt` is configured."""
        entries = list(settings.api_keys)
        if settings.api_keys_file is not None:
            entries += load_api_key_file(settings.api_keys_file)
        verifier = JwtVerifier(settings.jwt) if settings.jwt is not None else None
        return cls(ApiKeyStore(entries), verifier)

    def authenticate(self, credential: str | None) -> Principal:
        """The caller's principal; AuthenticationError when missing or not accepted."""
        if not credential:
            raise AuthenticationError("auth.missing", "send an API key or a bearer token")
        if self.jwt is not None and looks_like_jwt(credential):
            try:
                return self.jwt.verify(credential)
            except InvalidTokenError as exc:
                raise AuthenticationError("auth.invalid", str(exc)) from exc
        principal = self.keys.lookup(credential)
        if principal is None:
            raise AuthenticationError("auth.invalid", "credential not accepted")
        return principal
