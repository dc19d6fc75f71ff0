"""What the two JWT modes share: reading a token's issuer before verifying it, checking its signature
and expiry with joserfc, the keys each accepted issuer signs with, and AppSync's refusals.

AppSync answers every refused token with 401 `UnauthorizedException`; the message says why only for
a token that does not parse (``Unable to parse JWT token.``) or has expired (``Token has expired.``)
(docs/DECISIONS.md). Only RS256 is accepted, as Cognito signs with it: `alg: none` and HS256 signed
with the public key as an HMAC secret are refused by joserfc's algorithm list before any key is used.

A signature is checked once per token and issuer: a verified token's claims are kept (as JSON, so a
resolver that changes `ctx.identity.claims` changes only its own copy), and its expiry is checked
on every request. Reading a token's issuer is cached the same way. Both caches hold at most
`CACHE_SIZE` tokens (docs/PERFORMANCE.md: a user pool request costs about as much as an API-key one).
"""

from __future__ import annotations

import copy
import functools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .context import AuthError

if TYPE_CHECKING:
    from joserfc.jwk import KeySet

    from .issuers import LocalIssuer

log = logging.getLogger("appsync_emu.auth")

NOT_AUTHORIZED = "You are not authorized to make this call."
UNPARSABLE = "Unable to parse JWT token."
EXPIRED = "Token has expired."
ALGORITHMS = ("RS256",)
#: Tokens whose issuer (peek) and verified claims (per trusted issuer) are kept.
CACHE_SIZE = 1024


def refused(message: str = NOT_AUTHORIZED) -> AuthError:
    return AuthError(401, "UnauthorizedException", message)


def bare_token(authorization: str) -> str:
    """The JWT of an `Authorization` value: clients may send it with a `Bearer ` prefix."""
    value = authorization.strip()
    return value[7:].strip() if value[:7].lower() == "bearer " else value


@dataclass(frozen=True)
class Peeked:
    """A token's header and claims, read without verifying anything (to pick the issuer that must verify it)."""

    header: dict[str, Any]
    claims: dict[str, Any]

    @property
    def issuer(self) -> str | None:
        iss = self.claims.get("iss")
        return iss if isinstance(iss, str) else None


@functools.lru_cache(maxsize=CACHE_SIZE)
def peek(token: str) -> Peeked | None:
    """Header and claims of a compact JWS, or None when `token` is not one (cached: treat the result as read-only)."""
    if token.count(".") != 2:
        return None
    from joserfc import jws
    from joserfc.errors import JoseError

    try:
        compact = jws.extract_compact(token.encode())
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(claims, dict) or not isinstance(compact.protected, dict):
        return None
    return Peeked(dict(compact.protected), claims)


@dataclass(frozen=True)
class TrustedIssuer:
    """An `iss` a mode accepts and the keys its tokens must verify with (None: accepted unverified, on request)."""

    url: str
    keys: KeySet | None
    local: bool = True  # minted by this emulator (else a real pool's or provider's)
    #: Tokens whose signature these keys verified -> their claims as JSON (at most CACHE_SIZE).
    verified: dict[str, str] = field(default_factory=dict, compare=False, repr=False)


def trusted_issuers(
    local: LocalIssuer, real_url: str, jwks: KeySet | None, trust_unverified: bool
) -> dict[str, TrustedIssuer]:
    """What a mode accepts, by `iss`: its local issuer's tokens, and the real pool's or provider's (`real_url`)
    when the user gave its JWKS, or unverified when they asked for that."""
    trusted = {local.url: TrustedIssuer(local.url, local.keyset())}
    if real_url and jwks is not None:
        trusted[real_url] = TrustedIssuer(real_url, jwks, local=False)
    elif real_url and trust_unverified:
        trusted[real_url] = TrustedIssuer(real_url, None, local=False)
    return trusted


def verified_claims(token: str, peeked: Peeked, trusted: TrustedIssuer, now: float) -> dict[str, Any]:
    """The claims of a token whose signature `trusted`'s keys verify and that has not expired; else AppSync's 401."""
    if trusted.keys is None:
        claims = copy.deepcopy(peeked.claims)
    elif (known := trusted.verified.get(token)) is not None:
        claims = json.loads(known)
    else:
        from joserfc import jwt
        from joserfc.errors import JoseError

        try:
            claims = dict(jwt.decode(token, trusted.keys, algorithms=list(ALGORITHMS)).claims)
        except (JoseError, ValueError) as err:
            log.info("refused a token of %s: %s", trusted.url, err.__class__.__name__)
            raise refused() from None
        if len(trusted.verified) >= CACHE_SIZE:
            trusted.verified.clear()
        trusted.verified[token] = json.dumps(claims)
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise refused()
    if now >= exp:
        raise refused(EXPIRED)
    return claims


def load_jwks(path: Path) -> KeySet:
    """A JWKS file (`{"keys": [...]}`, as `/.well-known/jwks.json` serves it) as a KeySet; else a ValueError."""
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise ValueError('not a JWKS: expected {"keys": [...]}')
        return KeySet.import_key_set(data)  # type: ignore[arg-type]
    except (OSError, ValueError, JoseError, TypeError) as err:
        raise ValueError(f"cannot read the JWKS {path}: {err}") from None


def audience_of(claims: Mapping[str, Any]) -> list[str]:
    """The client ids a token names: `aud` (a string or a list; id tokens) and `client_id` (access tokens)."""
    found: list[str] = []
    aud = claims.get("aud")
    if isinstance(aud, str):
        found.append(aud)
    elif isinstance(aud, list):
        found += [a for a in aud if isinstance(a, str)]
    client = claims.get("client_id")
    if isinstance(client, str):
        found.append(client)
    return found


def source_ips(source_ip: str | None) -> list[str]:
    return [source_ip] if source_ip else []
