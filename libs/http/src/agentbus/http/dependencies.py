"""FastAPI dependencies: authenticate every route, demand roles."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from .authenticator import AuthenticationError, Authenticator
from .errors import ApiError
from .principal import Principal
from .tracing import mark_tenant

__all__ = ["CurrentPrincipal", "current_principal", "get_authenticator", "require_roles"]

# auto_error=False: we answer 401 ourselves, as JSON with a stable code.
_bearer = HTTPBearer(auto_error=False, description="API key or JWT")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="agentbus"'}


def get_authenticator(request: Request) -> Authenticator:
    """The authenticator `create_http_app` stored on the app."""
    authenticator: Authenticator | None = getattr(request.app.state, "authenticator", None)
    if authenticator is None:
        raise RuntimeError("no authenticator on app.state; build the app with create_http_app")
    return authenticator


async def current_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The authenticated caller; 401 `auth.missing` / `auth.invalid` otherwise."""
    credential = bearer.credentials if bearer is not None else api_key
    try:
        principal = get_authenticator(request).authenticate(credential)
    except AuthenticationError as exc:
        raise ApiError(401, exc.code, exc.message, headers=_CHALLENGE) from exc
    request.state.principal = principal
    mark_tenant(principal)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates and then demands every one of `roles` (403)."""
    needed = frozenset(roles)

    async def dependency(principal: CurrentPrincipal) -> Principal:
        missing = needed - principal.roles
        if missing:
            raise ApiError(
                403, "auth.forbidden", f"this needs the role(s): {', '.join(sorted(missing))}"
            )
        return principal

    return dependency
