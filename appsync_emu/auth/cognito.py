"""AMAZON_COGNITO_USER_POOLS: a user pool's ID or access token, verified as AppSync verifies it.

The token must be signed by the pool (RS256, a key of its JWKS), not have expired, name the pool as
`iss`, be an `id` or `access` token, and, when the API sets `AppIdClientRegex`, come from a matching
app client (`aud` of an ID token, `client_id` of an access token). The pool's issuer is the local
one (`issuers.LocalIssuer`); a real pool's tokens (`iss` `https://cognito-idp.<region>.amazonaws.com/<id>`)
are verified against a JWKS file the user supplies (`--jwks POOL=FILE`), or accepted unverified only
with `--trust-unverified-tokens`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..config.model import AuthMode
from .context import AuthContext
from .jwts import Peeked, refused, source_ips, trusted_issuers, verified_claims

if TYPE_CHECKING:
    from joserfc.jwk import KeySet

    from .issuers import LocalIssuer

log = logging.getLogger("appsync_emu.auth")


def real_issuer_url(pool_id: str) -> str:
    """The `iss` of a real Cognito pool's tokens."""
    region = pool_id.split("_", 1)[0]
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"


class UserPoolMode:
    """One user pool provider of the API (the default mode or an additional one)."""

    mode = AuthMode.AMAZON_COGNITO_USER_POOLS

    def __init__(
        self,
        settings: Mapping[str, Any],
        issuer: LocalIssuer,
        *,
        jwks: KeySet | None = None,
        trust_unverified: bool = False,
    ) -> None:
        self.issuer = issuer
        self.pool_id = issuer.pool_id or str(settings.get("UserPoolId"))
        regex = settings.get("AppIdClientRegex")
        self.client_regex = re.compile(str(regex)) if regex else None
        #: `ctx.identity.defaultAuthStrategy`; DENY is enforced per field (auth/directives.py).
        self.default_action = str(settings.get("DefaultAction") or "ALLOW").upper()
        self.real_url = real_issuer_url(self.pool_id)
        self.trusted = trusted_issuers(issuer, self.real_url, jwks, trust_unverified)

    @property
    def issuer_urls(self) -> tuple[str, ...]:
        """The `iss` values routed to this mode: the local issuer's, and the real pool's (refused without a JWKS)."""
        return (self.issuer.url, self.real_url)

    def authorize(
        self, token: str, peeked: Peeked, headers: Mapping[str, str], source_ip: str | None, now: float
    ) -> AuthContext:
        """Accept a valid token of this pool; else AppSync's 401."""
        trusted = self.trusted.get(peeked.issuer or "")
        if trusted is None:
            log.warning(
                "refused a token of the real user pool %s: the emulator verifies such tokens only against the pool's "
                "JWKS given with --jwks %s=FILE (or accepts them unverified with --trust-unverified-tokens)",
                self.pool_id,
                self.pool_id,
            )
            raise refused()
        claims = verified_claims(token, peeked, trusted, now)
        token_use = claims.get("token_use")
        if token_use not in ("id", "access"):
            raise refused()
        if self.client_regex is not None:
            client = claims.get("aud") if token_use == "id" else claims.get("client_id")
            if not isinstance(client, str) or not self.client_regex.fullmatch(client):
                raise refused()
        username = claims.get("cognito:username") if token_use == "id" else claims.get("username")
        groups = claims.get("cognito:groups")
        group_list = [g for g in groups if isinstance(g, str)] if isinstance(groups, list) else []
        identity = {
            "sub": claims.get("sub"),
            "issuer": claims.get("iss"),
            "username": username,
            "claims": claims,
            "sourceIp": source_ips(source_ip),
            "defaultAuthStrategy": self.default_action,
            "groups": group_list or None,
        }
        return AuthContext(self.mode, identity, dict(headers), groups=frozenset(group_list))
