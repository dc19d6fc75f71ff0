"""Picks the authorization mode of a request from its headers and checks the credential.

The order follows the Amplify simulator's sound model (APPSYNC-SPEC.md §4.1): an
`x-api-key` means API_KEY and a wrong key is refused rather than falling through; an
`Authorization` starting `AWS4-HMAC-SHA256` means IAM. Cognito, OIDC and Lambda
authorizers are modes the model knows; their checks come later, and until then a request
in those modes is refused with AppSync's 401 rather than let through.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from ..config.model import ApiKey, AuthMode, GraphQLApi
from .context import AuthContext, AuthError
from .sigv4 import NO_AUTH_HEADER

NOT_AUTHORIZED = "You are not authorized to make this call."


class Authorizer:
    """Checks HTTP requests and real-time header objects against the API's auth modes."""

    def __init__(
        self,
        api: GraphQLApi,
        api_keys: Mapping[str, ApiKey],
        iam_credentials: Mapping[str, str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api = api
        self.modes = frozenset(api.auth_modes)
        self.api_keys = dict(api_keys)  # value -> key
        self.iam_credentials = dict(iam_credentials)  # access key id -> secret
        self.clock = clock

    def authorize(
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
        """Accept or refuse a request given its lower-cased headers (and body, for IAM)."""
        api_key = headers.get("x-api-key")
        authorization = headers.get("authorization", "")
        if api_key is not None:
            return self._api_key(api_key, headers)
        if authorization.startswith("AWS4-HMAC-SHA256"):
            return self._iam(headers, method, path, query, body, source_ip, iam_paths)
        if authorization:
            raise AuthError(401, "UnauthorizedException", NOT_AUTHORIZED)
        if self.api.default_auth.mode is AuthMode.API_KEY:
            raise AuthError(401, "UnauthorizedException", NOT_AUTHORIZED)
        raise AuthError(401, "UnauthorizedException", NO_AUTH_HEADER)

    def _api_key(self, value: str, headers: Mapping[str, str]) -> AuthContext:
        if AuthMode.API_KEY not in self.modes:
            raise AuthError(401, "UnauthorizedException", NOT_AUTHORIZED)
        key = self.api_keys.get(value)
        if key is None or (key.expires is not None and key.expires <= self.clock()):
            raise AuthError(401, "UnauthorizedException", NOT_AUTHORIZED)
        return AuthContext(AuthMode.API_KEY, None, dict(headers))

    def _iam(
        self,
        headers: Mapping[str, str],
        method: str,
        path: str,
        query: str,
        body: bytes,
        source_ip: str | None,
        iam_paths: tuple[str, ...],
    ) -> AuthContext:
        from .sigv4 import SigV4Error, identity_dict, verify_sigv4

        if AuthMode.AWS_IAM not in self.modes:
            raise AuthError(401, "UnauthorizedException", NOT_AUTHORIZED)
        last: SigV4Error | None = None
        for candidate in iam_paths or (path,):
            try:
                principal = verify_sigv4(
                    method, candidate, query, headers, body, self.iam_credentials.get, now=self.clock()
                )
            except SigV4Error as err:
                last = err
                continue
            return AuthContext(AuthMode.AWS_IAM, identity_dict(principal, source_ip), dict(headers))
        assert last is not None
        raise AuthError(last.status, last.error_type, last.message)
