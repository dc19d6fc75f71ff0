"""API_KEY: the `x-api-key` header names one of the API's keys, which has not expired."""

from __future__ import annotations

from collections.abc import Mapping

from ..config.model import ApiKey, AuthMode
from .context import AuthContext, AuthError

NOT_AUTHORIZED = "You are not authorized to make this call."


def authorize(keys: Mapping[str, ApiKey], value: str, headers: Mapping[str, str], now: float) -> AuthContext:
    """Accept a known, unexpired key (`ctx.identity` is null for API keys); else AppSync's 401."""
    key = keys.get(value)
    if key is None or (key.expires is not None and key.expires <= now):
        raise AuthError(401, "UnauthorizedException", NOT_AUTHORIZED)
    return AuthContext(AuthMode.API_KEY, None, headers if isinstance(headers, dict) else dict(headers))
