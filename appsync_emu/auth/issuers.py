"""Local token issuers: one per Cognito user pool and per OIDC provider of the API, minting RS256 JWTs offline.

A `LocalIssuer` mints tokens with Cognito's claim set and serves OpenID discovery and a JWKS at
its URL, the `iss` of its tokens: `<emulator base URL>/<pool id>` for a user pool (shaped like
Cognito's `https://cognito-idp.<region>.amazonaws.com/<pool id>`) and
`<emulator base URL>/_emu/oidc/<name>` for an OIDC provider. JWTs are made and checked with
joserfc (docs/DECISIONS.md); nothing here parses or signs a JWT by hand.

All issuers of this machine sign with one RSA key kept next to the machine secret
(`signing_key_path`, mode 0600), so tokens minted by `appsync-emu token` are accepted by a server
started later, and survive restarts (docs/SECURITY.md). Each issuer still checks `iss`, so a
token of one pool does not open an API that trusts another.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..config.cognito import default_client_id
from ..config.model import DEFAULT_REGION, AuthMode, LocalEndpoints, Project
from ..secret import secret_path

if TYPE_CHECKING:  # joserfc (and cryptography) load only when a template has an issuer
    from joserfc.jwk import KeySet, RSAKey

log = logging.getLogger("appsync_emu.auth")

ALGORITHM = "RS256"
#: The `scope` of access tokens Cognito issues for its own user API (what Amplify's sign-in gets).
ACCESS_SCOPE = "aws.cognito.signin.user.admin"
_OIDC_PREFIX = "/_emu/oidc/"
_NAMESPACE = uuid.UUID("5f0c7a52-6a64-4d4e-9d55-0b5c1f1e3a17")  # fixed: subs stay stable across versions


def signing_key_path() -> Path:
    """Where the issuers' private key is kept: beside the machine secret (`$XDG_CONFIG_HOME/appsync-emu`)."""
    return secret_path().with_name("jwt-signing-key.pem")


@functools.cache
def signing_key() -> RSAKey:
    """This machine's RS256 key (2048 bits), made on first use; random for this process if it cannot be kept."""
    from joserfc.jwk import RSAKey

    path = signing_key_path()
    try:
        return _with_kid(RSAKey.import_key(path.read_bytes()))
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as err:
        log.warning("cannot read the token signing key %s (%s): tokens are valid for this run only", path, err)
        return _with_kid(RSAKey.generate_key(2048))
    key = RSAKey.generate_key(2048)
    pem = key.as_pem(private=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
    except FileExistsError:
        return _with_kid(RSAKey.import_key(path.read_bytes()))  # another process made it first
    except OSError as err:
        log.warning("cannot keep the token signing key in %s (%s): tokens are valid for this run only", path, err)
    return _with_kid(key)


def _with_kid(key: RSAKey) -> RSAKey:
    """The key with `kid` (its RFC 7638 thumbprint), `use` and `alg` set, as Cognito's JWKS entries have."""
    from joserfc.jwk import RSAKey

    return RSAKey.import_key(key.as_dict(private=True), {"kid": key.thumbprint(), "use": "sig", "alg": ALGORITHM})


class LocalIssuer:
    """One user pool's or OIDC provider's issuer on this emulator."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        pool_id: str | None = None,
        client_ids: Sequence[str] = (),
        key: RSAKey | None = None,
        logical_id: str | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.pool_id = pool_id
        self.client_ids = tuple(client_ids)
        self.logical_id = logical_id
        self._key = key

    @property
    def key(self) -> RSAKey:
        if self._key is None:
            self._key = signing_key()
        return self._key

    @property
    def kind(self) -> Literal["cognito", "oidc"]:
        return "cognito" if self.pool_id is not None else "oidc"

    @property
    def region(self) -> str:
        return self.pool_id.split("_", 1)[0] if self.pool_id and "_" in self.pool_id else DEFAULT_REGION

    def sub(self, username: str) -> str:
        """The `sub` of a user: a UUID stable per pool (or provider) and username."""
        return str(uuid.uuid5(_NAMESPACE, f"{self.pool_id or self.url}\0{username}"))

    def mint(
        self,
        *,
        username: str,
        groups: Sequence[str] = (),
        claims: Mapping[str, Any] | None = None,
        expires_in: int = 3600,
        token_use: Literal["id", "access"] = "id",
        client_id: str | None = None,
        now: float | None = None,
    ) -> str:
        """An RS256 JWT for `username` with Cognito's claims; `claims` are added last and may replace any."""
        from joserfc import jwt

        if token_use not in ("id", "access"):
            raise ValueError(f"token_use must be 'id' or 'access', not {token_use!r}")
        issued = int(time.time() if now is None else now)
        client = client_id or (self.client_ids[0] if self.client_ids else default_client_id(self.pool_id or self.url))
        body: dict[str, Any] = {"sub": self.sub(username)}
        if groups:
            body["cognito:groups"] = list(groups)
        body["iss"] = self.url
        if token_use == "id":
            body.update({"cognito:username": username, "aud": client, "email_verified": False})
        else:
            body.update({"client_id": client, "scope": ACCESS_SCOPE, "username": username})
        body.update(
            {
                "origin_jti": str(uuid.uuid4()),
                "event_id": str(uuid.uuid4()),
                "token_use": token_use,
                "auth_time": issued,
                "exp": issued + int(expires_in),
                "iat": issued,
                "jti": str(uuid.uuid4()),
            }
        )
        if claims:
            body.update(claims)
        return jwt.encode(
            {"kid": self.key.kid, "alg": ALGORITHM}, body, self.key, algorithms=[ALGORITHM], default_type=None
        )

    def jwks(self) -> dict[str, Any]:
        """The public keys, as served at `url + "/.well-known/jwks.json"`."""
        public = self.key.as_dict(private=False)
        return {"keys": [{k: public[k] for k in ("alg", "e", "kid", "kty", "n", "use") if k in public}]}

    def keyset(self) -> KeySet:
        """The public keys as a joserfc KeySet, for verifying."""
        from joserfc.jwk import KeySet

        return KeySet.import_key_set(self.jwks())  # type: ignore[arg-type]

    def discovery(self) -> dict[str, Any]:
        """OpenID Provider metadata, as served at `url + "/.well-known/openid-configuration"`."""
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/.well-known/jwks.json",
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "response_types_supported": ["code", "token"],
            "subject_types_supported": ["public"],
            "scopes_supported": ["openid", "email", "phone", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "token_use", "cognito:groups"],
        }

    def describe(self) -> dict[str, Any]:
        """What `/_emu/config` and the banner show of this issuer."""
        return {
            "name": self.name,
            "kind": self.kind,
            "poolId": self.pool_id,
            "clientIds": list(self.client_ids),
            "issuer": self.url,
            "jwksUri": f"{self.url}/.well-known/jwks.json",
        }

    def __repr__(self) -> str:
        return f"LocalIssuer({self.name!r}, {self.url!r})"


def oidc_name(issuer: str) -> str:
    """A provider's name from its configured Issuer: host and path with what is not URL-safe as '-'."""
    bare = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", issuer).strip("/")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", bare) or "oidc"


def oidc_client_id(pattern: str | None) -> str | None:
    """The client id to mint OIDC tokens for: the configured ClientId when it is a plain id (a regex
    of letters, digits and `._:@/-` also matches itself); None when it needs a real regex match."""
    return pattern if pattern and re.fullmatch(r"[A-Za-z0-9._:@/-]+", pattern) else None


class Issuers:
    """All local issuers of one emulator: its user pools first, then its OIDC providers."""

    def __init__(self, issuers: Sequence[LocalIssuer] = ()) -> None:
        self._issuers = list(issuers)

    @classmethod
    def from_project(cls, project: Project, endpoints: LocalEndpoints) -> Issuers:
        """An issuer per user pool of the project (`Project.user_pools`) and per OIDC provider of its API."""
        found = [
            LocalIssuer(
                pool.logical_id or pool.pool_id,
                pool.issuer,
                pool_id=pool.pool_id,
                client_ids=pool.client_ids,
                logical_id=pool.logical_id,
            )
            for pool in project.user_pools
        ]
        if project.apis:
            api = project.api
            used = [p.settings.get("UserPoolId") for p in (api.default_auth, *api.additional_auth)]
            # the pools the API uses first, in its order, so that `get()` names the one tokens are for
            found.sort(key=lambda i: used.index(i.pool_id) if i.pool_id in used else len(used))
            for provider in (api.default_auth, *api.additional_auth):
                if provider.mode is not AuthMode.OPENID_CONNECT:
                    continue
                configured = str(provider.settings.get("Issuer") or "")
                name = oidc_name(configured)
                if any(i.name == name for i in found):
                    continue
                client = oidc_client_id(str(provider.settings.get("ClientId") or "") or None)
                found.append(
                    LocalIssuer(
                        name, f"{endpoints.base_url}{_OIDC_PREFIX}{name}", client_ids=[client] if client else []
                    )
                )
        return cls(found)

    def __iter__(self) -> Iterator[LocalIssuer]:
        return iter(self._issuers)

    def __len__(self) -> int:
        return len(self._issuers)

    def get(self, pool: str | None = None) -> LocalIssuer:
        """An issuer by logical id, pool id or name; None: the API's first user pool. Else a ValueError naming them."""
        if pool is None:
            cognito = [i for i in self._issuers if i.kind == "cognito"]
            if cognito:
                return cognito[0]
            if len(self._issuers) == 1:
                return self._issuers[0]
        else:
            for issuer in self._issuers:
                if pool in (issuer.name, issuer.pool_id, issuer.logical_id, issuer.url):
                    return issuer
        names = ", ".join(f"{i.name} ({i.pool_id})" if i.pool_id else i.name for i in self._issuers)
        if not names:
            raise ValueError(
                "the template has no Cognito user pool or OIDC provider to mint tokens for "
                "(add an AWS::Cognito::UserPool, or a UserPoolConfig or OpenIDConnectConfig to the API)"
            )
        wanted = f"no issuer named {pool!r}" if pool is not None else "several issuers and no user pool"
        raise ValueError(f"{wanted}; the template's issuers are: {names}")

    def by_url(self, url: str) -> LocalIssuer | None:
        """The issuer whose `iss` is `url`."""
        return next((i for i in self._issuers if i.url == url), None)
