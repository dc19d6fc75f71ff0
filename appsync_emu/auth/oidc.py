"""OPENID_CONNECT: a JWT of the API's OIDC provider, verified as AppSync verifies it.

The token must be signed (RS256) by a key of the provider's JWKS, not have expired, have the
provider's issuer as `iss`, and, when the API sets them: an `aud` or `client_id` matching `ClientId`
(a regular expression), an `iat` no older than `IatTTL` and an `auth_time` no older than `AuthTTL`
(both in milliseconds, as AppSync's settings are; 0 or absent: not checked). The provider's local
issuer mints such tokens offline; tokens of the real provider (`iss` = the configured `Issuer`) are
verified against a JWKS file the user supplies (`--jwks NAME=FILE`), or accepted unverified only
with `--trust-unverified-tokens`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..config.model import AuthMode
from .context import AuthContext
from .jwts import Peeked, audience_of, refused, trusted_issuers, verified_claims

if TYPE_CHECKING:
    from joserfc.jwk import KeySet

    from .issuers import LocalIssuer

log = logging.getLogger("appsync_emu.auth")


def _ttl_s(value: Any) -> float | None:
    try:
        ms = float(value)
    except (TypeError, ValueError):
        return None
    return ms / 1000 if ms > 0 else None


class OidcMode:
    """The API's OIDC provider (the default mode or an additional one)."""

    mode = AuthMode.OPENID_CONNECT

    def __init__(
        self,
        settings: Mapping[str, Any],
        issuer: LocalIssuer,
        *,
        jwks: KeySet | None = None,
        trust_unverified: bool = False,
    ) -> None:
        self.issuer = issuer
        self.configured = str(settings.get("Issuer") or "")
        client = settings.get("ClientId")
        self.client_regex = re.compile(str(client)) if client else None
        self.iat_ttl_s = _ttl_s(settings.get("IatTTL"))
        self.auth_ttl_s = _ttl_s(settings.get("AuthTTL"))
        self.trusted = trusted_issuers(issuer, self.configured, jwks, trust_unverified)

    @property
    def issuer_urls(self) -> tuple[str, ...]:
        """The `iss` values routed to this mode: the local issuer's and the configured one."""
        return (self.issuer.url, self.configured) if self.configured else (self.issuer.url,)

    def authorize(
        self, token: str, peeked: Peeked, headers: Mapping[str, str], source_ip: str | None, now: float
    ) -> AuthContext:
        """Accept a valid token of this provider; else AppSync's 401."""
        trusted = self.trusted.get(peeked.issuer or "")
        if trusted is None:
            log.warning(
                "refused a token of the OIDC provider %s: the emulator verifies its tokens only against a JWKS "
                "given with --jwks %s=FILE (or accepts them unverified with --trust-unverified-tokens)",
                self.configured,
                self.issuer.name,
            )
            raise refused()
        claims = verified_claims(token, peeked, trusted, now)
        if self.client_regex is not None and not any(self.client_regex.fullmatch(c) for c in audience_of(claims)):
            raise refused()
        for claim, ttl in (("iat", self.iat_ttl_s), ("auth_time", self.auth_ttl_s)):
            if ttl is None:
                continue
            at = claims.get(claim)
            if not isinstance(at, int | float) or isinstance(at, bool) or now > at + ttl:
                raise refused()
        identity = {"sub": claims.get("sub"), "issuer": claims.get("iss"), "claims": claims}
        return AuthContext(self.mode, identity, dict(headers))
