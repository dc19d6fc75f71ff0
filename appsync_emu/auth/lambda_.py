"""AWS_LAMBDA auth: the API's Lambda authorizer function decides, called as AppSync calls it.

AppSync's rules (docs/APPSYNC.md §4.3), each a small function below so that unit tests need no
sockets and no workers:

- `IdentityValidationExpression` is a regular expression the token must match **before** any call
  (`TokenRule`); no match is a 401 and the function is not called.
- The function gets `{authorizationToken, requestContext: {apiId, accountId, requestId,
  queryString, operationName, variables}, requestHeaders}` (`build_request`); on the real-time
  endpoint the connection and each `start` are authorized, the connection with an empty
  `queryString` (docs/DECISIONS.md).
- Its answer (`parse_answer`) must be an object with a boolean `isAuthorized`; `resolverContext`
  becomes `ctx.identity.resolverContext`, `deniedFields` (`Type.field` or the field's ARN) come
  back null with `Unauthorized` errors, `ttlOverride` replaces `AuthorizerResultTtlInSeconds`.
- Answers are cached by token (`ResultCache`) for that many seconds, at most 3600; 0 disables.
- The call gets 10 s (AppSync's limit); an error, a timeout or a malformed answer refuses the
  request like `isAuthorized: false` and logs a WARNING saying why (docs/DECISIONS.md).

The call goes to the emulator's Lambda service, which runs the function in its own worker
processes: the event loop only awaits it, so a slow authorizer never holds up other requests.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import json_input, limits
from ..config.model import AuthMode, AuthProvider, GraphQLApi, Project, find_function
from ..support import NOT_EMULATED, Gap, GapKind
from .api_key import NOT_AUTHORIZED
from .context import AuthContext, AuthError

if TYPE_CHECKING:
    from ..lambdas.results import InvokeResult
    from ..lambdas.service import LambdaService

log = logging.getLogger("appsync_emu.auth")

#: Calls the function (a logical id) with an event and returns what it returned.
Invoke = Callable[[str, dict[str, Any]], Awaitable["InvokeResult"]]

_FIELD_ARN = re.compile(r"arn:aws[a-z-]*:appsync:[^:]*:[^:]*:apis/([^/]+)/types/([^/]+)/fields/([^/]+)")
_SHORT_FIELD = re.compile(r"([_A-Za-z][_0-9A-Za-z]*)\.([_A-Za-z][_0-9A-Za-z]*)")


class AuthorizerFailure(Exception):
    """The function could not give an answer AppSync accepts (raised, timed out, malformed answer)."""


@dataclass(frozen=True)
class AuthorizerConfig:
    """An API's `LambdaAuthorizerConfig`: which function, how long answers are kept, which tokens it sees."""

    uri: str  # AuthorizerUri as the template resolves it: an ARN, a name or a logical id
    ttl_s: int = 0  # AuthorizerResultTtlInSeconds
    expression: str | None = None  # IdentityValidationExpression

    @classmethod
    def of(cls, provider: AuthProvider) -> AuthorizerConfig:
        """The config of an AWS_LAMBDA provider; `ValueError` names what is wrong with it."""
        settings = provider.settings
        uri = settings.get("AuthorizerUri")
        if not isinstance(uri, str) or not uri:
            raise ValueError(f"LambdaAuthorizerConfig.AuthorizerUri must name a function, not {uri!r}")
        raw_ttl = settings.get("AuthorizerResultTtlInSeconds", 0)
        try:
            ttl = int(float(raw_ttl))
        except (TypeError, ValueError):
            raise ValueError(f"AuthorizerResultTtlInSeconds must be a number, not {raw_ttl!r}") from None
        if not 0 <= ttl <= limits.LAMBDA_AUTHORIZER_MAX_TTL_S:
            raise ValueError(
                f"AuthorizerResultTtlInSeconds must be between 0 and {limits.LAMBDA_AUTHORIZER_MAX_TTL_S}, not {ttl}"
            )
        expression = settings.get("IdentityValidationExpression")
        if expression is not None and not isinstance(expression, str):
            raise ValueError(f"IdentityValidationExpression must be a string, not {expression!r}")
        if expression:
            try:
                re.compile(expression)
            except re.error as err:
                raise ValueError(
                    f"IdentityValidationExpression {expression!r} is not a regular expression: {err}"
                ) from None
        return cls(uri, ttl, expression or None)


def lambda_provider(api: GraphQLApi) -> AuthProvider | None:
    """The API's AWS_LAMBDA provider (default or additional), if it has one (AppSync allows one)."""
    return next((p for p in (api.default_auth, *api.additional_auth) if p.mode is AuthMode.AWS_LAMBDA), None)


def authorizer_gaps(project: Project) -> list[Gap]:
    """An authorizer the emulator cannot call: a function outside the template, or a config it cannot read."""
    provider = lambda_provider(project.api)
    if provider is None:
        return []
    subject = f"API {project.api.name}"
    origin = provider.origin or project.api.origin
    try:
        config = AuthorizerConfig.of(provider)
    except ValueError as err:
        return [Gap(GapKind.AUTH_MODE, f"AWS_LAMBDA ({err})", subject, origin)]
    if find_function(project.functions, config.uri) is None:
        return [
            Gap(
                GapKind.AUTH_MODE,
                f"AWS_LAMBDA with authorizer function {config.uri} (outside the template)",
                subject,
                origin,
            )
        ]
    return []


class TokenRule:
    """`IdentityValidationExpression`: the whole token must match (Java's `matches`, as AppSync is)."""

    def __init__(self, expression: str | None) -> None:
        self.pattern = re.compile(expression) if expression else None

    def admits(self, token: str) -> bool:
        return self.pattern is None or self.pattern.fullmatch(token) is not None


def _operation(body: bytes) -> tuple[str, str | None, dict[str, Any]]:
    """queryString, operationName and variables of a request body (HTTP) or `start` data; blanks if unreadable."""
    try:
        parsed = json_input.loads(body.decode()) if body else None
    except (json_input.NotJson, json_input.BadJson, UnicodeDecodeError):
        parsed = None
    if not isinstance(parsed, dict):
        return "", None, {}
    query, name, variables = parsed.get("query"), parsed.get("operationName"), parsed.get("variables")
    return (
        query if isinstance(query, str) else "",
        name if isinstance(name, str) and name else None,
        variables if isinstance(variables, dict) else {},
    )


def build_request(
    token: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    api_id: str,
    account_id: str,
    request_id: str,
    connection: bool,
) -> dict[str, Any]:
    """The event AppSync sends the authorizer; a real-time connection carries no operation."""
    query, name, variables = ("", None, {}) if connection else _operation(body)
    return {
        "authorizationToken": token,
        "requestContext": {
            "apiId": api_id,
            "accountId": account_id,
            "requestId": request_id,
            "queryString": query,
            "operationName": name,
            "variables": variables,
        },
        "requestHeaders": dict(headers),
    }


@dataclass(frozen=True)
class Answer:
    """An authorizer's accepted answer."""

    authorized: bool
    resolver_context: dict[str, Any]
    denied_fields: frozenset[str]  # "Type.field", of this API only
    ttl_override: int | None


def denied_field(entry: str, api_id: str) -> str | None:
    """`Type.field` for a short-form entry or a field ARN of this API; None for another API's ARN."""
    arn = _FIELD_ARN.fullmatch(entry)
    if arn is not None:
        return f"{arn.group(2)}.{arn.group(3)}" if arn.group(1) == api_id else None
    if _SHORT_FIELD.fullmatch(entry):
        return entry
    raise AuthorizerFailure(f"deniedFields entry {entry!r} is neither Type.field nor a field ARN")


def parse_answer(payload: Any, api_id: str) -> Answer:
    """The function's return value as an `Answer`, or `AuthorizerFailure` saying what is wrong with it."""
    if not isinstance(payload, dict):
        raise AuthorizerFailure(f"the answer must be an object with isAuthorized, not {type(payload).__name__}")
    authorized = payload.get("isAuthorized")
    if not isinstance(authorized, bool):
        raise AuthorizerFailure(f"isAuthorized must be true or false, not {authorized!r}")
    context = payload.get("resolverContext")
    if context is None:
        context = {}
    if not isinstance(context, dict):
        raise AuthorizerFailure(f"resolverContext must be an object, not {type(context).__name__}")
    entries = payload.get("deniedFields")
    if entries is None:
        entries = []
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise AuthorizerFailure("deniedFields must be a list of strings")
    denied = frozenset(f for f in (denied_field(e, api_id) for e in entries) if f is not None)
    ttl = payload.get("ttlOverride")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float)):
        raise AuthorizerFailure(f"ttlOverride must be a number of seconds, not {ttl!r}")
    return Answer(authorized, context, denied, None if ttl is None else int(ttl))


class ResultCache:
    """Answers by token until they expire; bounded, oldest entries go first."""

    def __init__(self, clock: Callable[[], float], max_entries: int = limits.LAMBDA_AUTHORIZER_CACHE_ENTRIES) -> None:
        self.clock = clock
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, Answer]] = OrderedDict()

    def get(self, token: str) -> Answer | None:
        found = self._entries.get(token)
        if found is None:
            return None
        expires, answer = found
        if self.clock() >= expires:
            del self._entries[token]
            return None
        return answer

    def put(self, token: str, answer: Answer, ttl_s: int) -> None:
        """Keep `answer` for `ttl_s` seconds (capped at AppSync's 3600); 0 or less keeps nothing."""
        ttl_s = min(ttl_s, limits.LAMBDA_AUTHORIZER_MAX_TTL_S)
        if ttl_s <= 0:
            self._entries.pop(token, None)
            return
        self._entries[token] = (self.clock() + ttl_s, answer)
        self._entries.move_to_end(token)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def _refused() -> AuthError:
    return AuthError(401, "UnauthorizedException", NOT_AUTHORIZED)


class LambdaAuthorizer:
    """Authorizes requests in AWS_LAMBDA mode by calling the API's authorizer function."""

    def __init__(
        self,
        config: AuthorizerConfig,
        function: str,
        invoke: Invoke,
        *,
        api_id: str,
        account_id: str,
        clock: Callable[[], float] = time.monotonic,
        timeout_s: float = limits.LAMBDA_AUTHORIZER_TIMEOUT_S,
    ) -> None:
        self.config = config
        self.function = function  # the function's logical id
        self.invoke = invoke
        self.api_id = api_id
        self.account_id = account_id
        self.timeout_s = timeout_s
        self.rule = TokenRule(config.expression)
        self.cache = ResultCache(clock)

    @classmethod
    def for_project(cls, project: Project, lambdas: LambdaService | None) -> LambdaAuthorizer | None:
        """The served API's authorizer (None if it has no AWS_LAMBDA mode); one it cannot call answers NotEmulated."""
        provider = lambda_provider(project.api)
        if provider is None:
            return None
        gaps = authorizer_gaps(project)
        if gaps or lambdas is None:
            return UnavailableLambdaAuthorizer(gaps[0].message if gaps else "the Lambda service is not running")
        config = AuthorizerConfig.of(provider)
        function = find_function(project.functions, config.uri)
        assert function is not None
        return cls(
            config,
            function.logical_id,
            lambdas.invoke,
            api_id=project.api.api_id,
            account_id=project.account_id,
        )

    async def authorize(
        self,
        token: str,
        headers: Mapping[str, str],
        body: bytes,
        source_ip: str | None,
        *,
        connection: bool,
    ) -> AuthContext:
        """Accept the token (with the function's resolverContext and deniedFields) or raise `AuthError` 401."""
        if not self.rule.admits(token):
            log.info("Lambda authorizer not called: the token does not match IdentityValidationExpression")
            raise _refused()
        answer = self.cache.get(token)
        if answer is None:
            answer = await self._ask(token, headers, body, connection)
            self.cache.put(token, answer, self.config.ttl_s if answer.ttl_override is None else answer.ttl_override)
        if not answer.authorized:
            raise _refused()
        return AuthContext(
            AuthMode.AWS_LAMBDA,
            identity={"resolverContext": answer.resolver_context},
            headers=dict(headers),
            denied_fields=answer.denied_fields,
        )

    async def _ask(self, token: str, headers: Mapping[str, str], body: bytes, connection: bool) -> Answer:
        from ..lambdas.errors import InvalidRuntimeException, LambdaServiceError

        request_id = str(uuid.uuid4())
        event = build_request(
            token,
            headers,
            body,
            api_id=self.api_id,
            account_id=self.account_id,
            request_id=request_id,
            connection=connection,
        )
        try:
            try:
                async with asyncio.timeout(self.timeout_s):
                    result = await self.invoke(self.function, event)
            except TimeoutError:
                raise AuthorizerFailure(f"it did not answer within {self.timeout_s:g} s") from None
            except InvalidRuntimeException as err:  # its runtime is not emulated here: say so, by name
                raise AuthError(401, NOT_EMULATED, f"The Lambda authorizer cannot run: {err.message}") from None
            except LambdaServiceError as err:
                raise AuthorizerFailure(f"Lambda refused the call: {err.code}: {err.message}") from None
            if result.function_error:
                raise AuthorizerFailure(f"it failed: {result.error_type}: {result.error_message}")
            return parse_answer(result.payload, self.api_id)
        except AuthorizerFailure as failure:
            log.warning("Lambda authorizer %s refused request %s because %s", self.function, request_id, failure)
            raise _refused() from None


class UnavailableLambdaAuthorizer(LambdaAuthorizer):
    """Stands for an authorizer the emulator cannot call (a gap `validate` and the banner name): NotEmulated."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def authorize(
        self,
        token: str,
        headers: Mapping[str, str],
        body: bytes,
        source_ip: str | None,
        *,
        connection: bool,
    ) -> AuthContext:
        raise AuthError(401, NOT_EMULATED, f"This request would be checked by a Lambda authorizer: {self.reason}")
