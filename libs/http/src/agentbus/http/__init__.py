"""agentbus HTTP: app factory, tenant authentication, JSON errors, health."""

from .app import create_http_app
from .authenticator import AuthenticationError, Authenticator
from .dependencies import CurrentPrincipal, current_principal, get_authenticator, require_roles
from .errors import ApiError, error_response, install_error_handlers, not_found
from .health import ReadinessCheck, health_router
from .jwt_tokens import InvalidTokenError, JwtVerifier
from .keys import ApiKeyStore, hash_api_key, load_api_key_file, mint_api_key
from .principal import Principal, PrincipalKind
from .service import (
    bus_lifespan,
    bus_readiness_checks,
    run_async,
    run_service,
    service_http_app,
    settle_heap,
    uvicorn_server,
)
from .settings import ApiKeyEntry, HttpSettings, JwtSettings
from .tracing import UNTRACED_PATHS, telemetry_config
from .types import UtcDatetime, as_utc

__all__ = [
    "UNTRACED_PATHS",
    "ApiError",
    "ApiKeyEntry",
    "ApiKeyStore",
    "AuthenticationError",
    "Authenticator",
    "CurrentPrincipal",
    "HttpSettings",
    "InvalidTokenError",
    "JwtSettings",
    "JwtVerifier",
    "Principal",
    "PrincipalKind",
    "ReadinessCheck",
    "UtcDatetime",
    "as_utc",
    "bus_lifespan",
    "bus_readiness_checks",
    "create_http_app",
    "current_principal",
    "error_response",
    "get_authenticator",
    "hash_api_key",
    "health_router",
    "install_error_handlers",
    "load_api_key_file",
    "mint_api_key",
    "not_found",
    "require_roles",
    "run_async",
    "run_service",
    "service_http_app",
    "settle_heap",
    "telemetry_config",
    "uvicorn_server",
]
