"""Picks the authorization mode of a request from its credential and has that mode's module check it.

The order follows the Amplify simulator's sound model (docs/APPSYNC.md §4.1): an
`x-api-key` means API_KEY and a wrong key is refused rather than falling through; an
`Authorization` starting `AWS4-HMAC-SHA256` means AWS_IAM; any other `Authorization` is a
token for Cognito, OIDC or a Lambda authorizer. A request whose mode the emulator does not
check (`modes.MODES`) is refused with errorType `NotEmulated`, naming the mode: never let
through, never a bare 401.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..config.model import DEFAULT_REGION, ApiKey, AuthMode, AuthProvider, GraphQLApi, LocalEndpoints
from ..support import NOT_EMULATED
from . import api_key, iam
from .cognito import UserPoolMode, real_issuer_url
from .context import AuthContext, AuthError
from .issuers import Issuers, oidc_name
from .jwts import UNPARSABLE, bare_token, load_jwks, peek
from .lambda_ import LambdaAuthorizer
from .modes import MODES
from .oidc import OidcMode
from .sigv4 import NO_AUTH_HEADER

if TYPE_CHECKING:
    from joserfc.jwk import KeySet

NOT_AUTHORIZED = api_key.NOT_AUTHORIZED
#: Modes whose credential is a token in the `Authorization` header.
TOKEN_MODES = (AuthMode.AMAZON_COGNITO_USER_POOLS, AuthMode.OPENID_CONNECT, AuthMode.AWS_LAMBDA)


def jwt_modes(
    api: GraphQLApi,
    issuers: Issuers,
    *,
    jwks: Mapping[str, Path] | None = None,
    trust_unverified: bool = False,
) -> list[UserPoolMode | OidcMode]:
    """The API's user pool and OIDC providers, each with its local issuer and the real one's JWKS if given.

    `jwks` maps a pool (logical id, pool id) or OIDC provider (name or configured Issuer) to a JWKS
    file; a name that is none of them, or a file that is no JWKS, raises ValueError saying so.
    """
    by_url: dict[str, KeySet] = {}
    for name, path in (jwks or {}).items():
        oidc = [p for p in api_providers(api, AuthMode.OPENID_CONNECT) if p.settings.get("Issuer") == name]
        issuer = None if oidc else issuers.get(name)
        keys = load_jwks(path)
        if oidc:
            by_url[str(oidc[0].settings["Issuer"])] = keys
        elif issuer is not None and issuer.pool_id is not None:
            by_url[real_issuer_url(issuer.pool_id)] = keys
        elif issuer is not None:
            by_url[issuer.name] = keys
    found: list[UserPoolMode | OidcMode] = []
    for provider in api_providers(api, AuthMode.AMAZON_COGNITO_USER_POOLS):
        pool_id = provider.settings.get("UserPoolId")
        issuer = next((i for i in issuers if i.pool_id is not None and i.pool_id == pool_id), None)
        if issuer is not None:
            found.append(
                UserPoolMode(
                    provider.settings,
                    issuer,
                    jwks=by_url.get(real_issuer_url(issuer.pool_id or "")),
                    trust_unverified=trust_unverified,
                )
            )
    for provider in api_providers(api, AuthMode.OPENID_CONNECT):
        configured = str(provider.settings.get("Issuer") or "")
        issuer = next((i for i in issuers if i.pool_id is None and i.name == oidc_name(configured)), None)
        if issuer is not None:
            given = by_url.get(configured) or by_url.get(issuer.name)
            found.append(OidcMode(provider.settings, issuer, jwks=given, trust_unverified=trust_unverified))
    return found


def api_providers(api: GraphQLApi, mode: AuthMode) -> list[AuthProvider]:
    """The API's providers of one mode, the default first."""
    return [p for p in (api.default_auth, *api.additional_auth) if p.mode is mode]


class Authorizer:
    """Checks HTTP requests and real-time header objects against the API's auth modes."""

    def __init__(
        self,
        api: GraphQLApi,
        api_keys: Mapping[str, ApiKey],
        iam_credentials: Mapping[str, str],
        clock: Callable[[], float] = time.time,
        *,
        region: str = DEFAULT_REGION,
        endpoints: LocalEndpoints | None = None,
        jwt_modes: Sequence[UserPoolMode | OidcMode] = (),
        lambda_authorizer: LambdaAuthorizer | None = None,
    ) -> None:
        self.api = api
        self.modes = frozenset(api.auth_modes)
        self.api_keys = dict(api_keys)  # value -> key
        self.iam_credentials = dict(iam_credentials)  # access key id -> secret
        self.clock = clock
        self.region = region  # the API's: SigV4 credential scopes must name it
        #: This server's host:port forms, which a real-time header object's signed `host` must be.
        self.hosts = iam.endpoint_hosts(endpoints) if endpoints is not None else None
        #: The user pool and OIDC modes by the `iss` of the tokens they verify (`build_jwt_modes`).
        self.jwt_by_issuer: dict[str, UserPoolMode | OidcMode] = {
            url: jwt_mode for jwt_mode in jwt_modes for url in jwt_mode.issuer_urls
        }
        #: The API's Lambda authorizer (`auth/lambda_.py`); None when it has none the emulator can call.
        self.lambda_authorizer = lambda_authorizer

    async def authorize(
        self,
        headers: Mapping[str, str],
        *,
        method: str = "POST",
        path: str = "/graphql",
        query: str = "",
        body: bytes = b"",
        source_ip: str | None = None,
        iam_paths: tuple[str, ...] = (),
    ) -> AuthContext:
        """Accept or refuse a request given its lower-cased headers (and body, for IAM).

        A coroutine because some modes (a Lambda authorizer) wait on a call; the others return at once.
        """
        value = headers.get("x-api-key")
        authorization = headers.get("authorization", "")
        if value is not None:
            self._require(AuthMode.API_KEY)
            return api_key.authorize(self.api_keys, value, headers, self.clock())
        if authorization.startswith("AWS4-HMAC-SHA256"):
            self._require(AuthMode.AWS_IAM)
            return iam.authorize(
                self.iam_credentials,
                headers,
                method=method,
                paths=iam_paths or (path,),
                query=query,
                body=body,
                source_ip=source_ip,
                now=self.clock(),
                region=self.region,
                hosts=self.hosts if iam_paths else None,  # real-time header objects come with iam_paths
            )
        if authorization and self.jwt_by_issuer:
            # A JWT goes to the user pool or OIDC provider that issued it (its `iss`); any other token
            # to the Lambda authorizer when there is one (docs/DECISIONS.md).
            token = bare_token(authorization)
            peeked = peek(token)
            if peeked is not None and (jwt_mode := self.jwt_by_issuer.get(peeked.issuer or "")) is not None:
                return jwt_mode.authorize(token, peeked, headers, source_ip, self.clock())
        if authorization and self.lambda_authorizer is not None:
            connection = bool(iam_paths) and path.endswith("/connect")  # a real-time connection, not a start
            return await self.lambda_authorizer.authorize(
                authorization, headers, body, source_ip, connection=connection
            )
        if authorization:
            self._not_emulated([m for m in TOKEN_MODES if m in self.modes])
            unparsable = self.jwt_by_issuer and peek(bare_token(authorization)) is None
            raise AuthError(401, "UnauthorizedException", UNPARSABLE if unparsable else NOT_AUTHORIZED)
        default = self.api.default_auth.mode
        self._not_emulated([default] if default not in MODES else [])
        if default is AuthMode.API_KEY:
            raise AuthError(401, "UnauthorizedException", NOT_AUTHORIZED)
        raise AuthError(401, "UnauthorizedException", NO_AUTH_HEADER)

    def _require(self, mode: AuthMode) -> None:
        if mode not in self.modes:
            raise AuthError(401, "UnauthorizedException", NOT_AUTHORIZED)

    @staticmethod
    def _not_emulated(modes: list[AuthMode]) -> None:
        """Refuse, naming the modes, when the request would be checked under modes the emulator does not check."""
        if modes and all(m not in MODES for m in modes):
            names = " or ".join(m.value for m in modes)
            raise AuthError(
                401,
                NOT_EMULATED,
                f"This request would be checked with {names} authorization, which the emulator does not emulate "
                "yet. Use an auth mode it emulates (API_KEY, AWS_IAM) if the API allows one.",
            )
