"""The Lambda authorizer's rules without sockets or workers: the event, the answer, the cache, the token rule."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from appsync_emu.auth.authorizer import Authorizer
from appsync_emu.auth.context import AuthError
from appsync_emu.auth.lambda_ import (
    Answer,
    AuthorizerConfig,
    AuthorizerFailure,
    LambdaAuthorizer,
    ResultCache,
    TokenRule,
    UnavailableLambdaAuthorizer,
    authorizer_gaps,
    build_request,
    denied_field,
    parse_answer,
)
from appsync_emu.config.model import AuthMode, AuthProvider, GraphQLApi, LambdaFunction, Origin, Project
from appsync_emu.lambdas.errors import InvalidRuntimeException, TooManyRequestsException
from appsync_emu.lambdas.results import InvokeResult

API_ID = "abcdefghijklmnopqrstuvwxyz"
ARN = f"arn:aws:appsync:us-east-1:123456789012:apis/{API_ID}/types"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeFunction:
    """Answers with `answers` in turn and records each event it was called with."""

    def __init__(self, *answers: Any, error: str | None = None) -> None:
        self.answers = list(answers)
        self.error = error
        self.events: list[dict[str, Any]] = []

    async def __call__(self, function: str, event: dict[str, Any]) -> InvokeResult:
        assert function == "AuthFn"
        self.events.append(event)
        payload = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return InvokeResult("rid", payload, self.error, 1.0)


def authorizer(invoke: Any, clock: Clock | None = None, **config: Any) -> LambdaAuthorizer:
    return LambdaAuthorizer(
        AuthorizerConfig("AuthFn", **config),
        "AuthFn",
        invoke,
        api_id=API_ID,
        account_id="123456789012",
        clock=clock or Clock(),
    )


def run(auth: LambdaAuthorizer, token: str = "tok", *, body: bytes = b"", connection: bool = False) -> Any:
    headers = {"authorization": token, "host": "localhost:4000"}
    return asyncio.run(auth.authorize(token, headers, body, "127.0.0.1", connection=connection))


# --- the event ---------------------------------------------------------------------------------


def test_the_event_has_appsyncs_shape_with_the_operation_from_the_body() -> None:
    body = json.dumps({"query": "query Q { me }", "operationName": "Q", "variables": {"a": 1}}).encode()
    headers = {"authorization": "tok", "host": "h"}
    event = build_request(
        "tok", headers, body, api_id=API_ID, account_id="111122223333", request_id="r-1", connection=False
    )
    assert event == {
        "authorizationToken": "tok",
        "requestContext": {
            "apiId": API_ID,
            "accountId": "111122223333",
            "requestId": "r-1",
            "queryString": "query Q { me }",
            "operationName": "Q",
            "variables": {"a": 1},
        },
        "requestHeaders": headers,
    }


@pytest.mark.parametrize(
    ("body", "connection"),
    [
        (b"{}", True),  # a real-time connection carries no operation
        (json.dumps({"query": "{ x }"}).encode(), True),
        (b"not json", False),
        (b"[1]", False),
        (json.dumps({"query": 5, "operationName": "", "variables": []}).encode(), False),
    ],
)
def test_a_connection_or_an_unreadable_body_gives_blank_operation_fields(body: bytes, connection: bool) -> None:
    event = build_request("t", {}, body, api_id=API_ID, account_id="1", request_id="r", connection=connection)
    context = event["requestContext"]
    assert (context["queryString"], context["operationName"], context["variables"]) == ("", None, {})


# --- the answer --------------------------------------------------------------------------------


def test_a_full_answer_is_read() -> None:
    answer = parse_answer(
        {
            "isAuthorized": True,
            "resolverContext": {"tenant": "t1", "n": 2},
            "deniedFields": ["Query.secret", f"{ARN}/Mutation/fields/deleteAll"],
            "ttlOverride": 30,
        },
        API_ID,
    )
    assert answer == Answer(True, {"tenant": "t1", "n": 2}, frozenset({"Query.secret", "Mutation.deleteAll"}), 30)


def test_a_minimal_answer_has_an_empty_context_and_no_override() -> None:
    assert parse_answer({"isAuthorized": False}, API_ID) == Answer(False, {}, frozenset(), None)


def test_denied_fields_in_both_forms_and_another_apis_arn_is_ignored() -> None:
    assert denied_field("Post.body", API_ID) == "Post.body"
    assert denied_field(f"{ARN}/Post/fields/body", API_ID) == "Post.body"
    other = "arn:aws:appsync:us-east-1:123456789012:apis/otherapi/types/Post/fields/body"
    assert denied_field(other, API_ID) is None
    with pytest.raises(AuthorizerFailure, match=r"neither Type\.field nor a field ARN"):
        denied_field("Post", API_ID)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("yes", "must be an object"),
        (None, "must be an object"),
        ({}, "isAuthorized must be true or false"),
        ({"isAuthorized": "true"}, "isAuthorized must be true or false"),
        ({"isAuthorized": True, "resolverContext": "x"}, "resolverContext must be an object"),
        ({"isAuthorized": True, "deniedFields": "Query.a"}, "deniedFields must be a list"),
        ({"isAuthorized": True, "deniedFields": [1]}, "deniedFields must be a list"),
        ({"isAuthorized": True, "ttlOverride": "60"}, "ttlOverride must be a number"),
        ({"isAuthorized": True, "ttlOverride": True}, "ttlOverride must be a number"),
    ],
)
def test_a_malformed_answer_is_a_failure_saying_what_is_wrong(payload: Any, reason: str) -> None:
    with pytest.raises(AuthorizerFailure, match=reason):
        parse_answer(payload, API_ID)


# --- the cache ---------------------------------------------------------------------------------


def test_the_cache_keeps_an_answer_until_its_ttl_and_zero_keeps_nothing() -> None:
    clock = Clock()
    cache = ResultCache(clock)
    yes = Answer(True, {}, frozenset(), None)
    cache.put("a", yes, 10)
    cache.put("b", yes, 0)
    assert cache.get("a") is yes and cache.get("b") is None
    clock.now += 9.9
    assert cache.get("a") is yes
    clock.now += 0.1
    assert cache.get("a") is None and len(cache) == 0


def test_the_cache_caps_ttls_at_an_hour_and_drops_the_oldest_past_its_size() -> None:
    clock = Clock()
    cache = ResultCache(clock, max_entries=2)
    yes = Answer(True, {}, frozenset(), None)
    cache.put("a", yes, 100_000)
    clock.now += 3600
    assert cache.get("a") is None
    for token in ("x", "y", "z"):
        cache.put(token, yes, 60)
    assert [cache.get(t) for t in ("x", "y", "z")] == [None, yes, yes]


# --- the token rule and the config ---------------------------------------------------------------


def test_the_identity_validation_expression_must_match_the_whole_token() -> None:
    rule = TokenRule("[a-z]+-[0-9]+")
    assert rule.admits("abc-12")
    assert not rule.admits("abc-12x") and not rule.admits("xabc-12 ")
    assert TokenRule(None).admits("anything")


def provider(**settings: Any) -> AuthProvider:
    return AuthProvider(AuthMode.AWS_LAMBDA, settings, Origin(Path("template.yaml"), "Api", 3))


def test_the_config_is_read_from_the_providers_settings() -> None:
    config = AuthorizerConfig.of(
        provider(AuthorizerUri="arn:aws:lambda:us-east-1:1:function:f", AuthorizerResultTtlInSeconds="60")
    )
    assert config == AuthorizerConfig("arn:aws:lambda:us-east-1:1:function:f", 60, None)


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({}, "AuthorizerUri must name a function"),
        ({"AuthorizerUri": "f", "AuthorizerResultTtlInSeconds": 3601}, "between 0 and 3600"),
        ({"AuthorizerUri": "f", "AuthorizerResultTtlInSeconds": "soon"}, "must be a number"),
        ({"AuthorizerUri": "f", "IdentityValidationExpression": "(unclosed"}, "is not a regular expression"),
    ],
)
def test_a_config_the_emulator_cannot_use_is_named(settings: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        AuthorizerConfig.of(provider(**settings))


def project_with(uri: str, functions: dict[str, LambdaFunction] | None = None) -> Project:
    api = GraphQLApi(
        logical_id="Api",
        name="lambda-api",
        api_id=API_ID,
        origin=Origin(Path("template.yaml"), "Api", 1),
        schema_sdl="type Query { a: String }",
        schema_origin=Origin(Path("schema.graphql")),
        default_auth=provider(AuthorizerUri=uri),
    )
    return Project(template_path=Path("template.yaml"), apis=[api], functions=functions or {})


def test_an_authorizer_outside_the_template_is_a_gap_naming_it_and_answers_not_emulated() -> None:
    project = project_with("arn:aws:lambda:us-east-1:123456789012:function:elsewhere")
    [gap] = authorizer_gaps(project)
    assert gap.blocking and "AWS_LAMBDA with authorizer function" in gap.message and "elsewhere" in gap.message
    stand_in = LambdaAuthorizer.for_project(project, None)
    assert isinstance(stand_in, UnavailableLambdaAuthorizer)
    with pytest.raises(AuthError) as refused:
        run(stand_in)
    assert refused.value.error_type == "NotEmulated" and "elsewhere" in refused.value.message


def test_an_authorizer_in_the_template_is_no_gap(tmp_path: Path) -> None:
    fn = LambdaFunction("AuthFn", "stack-AuthFn", "index.handler", "python3.11", tmp_path, Origin(tmp_path))
    assert (
        authorizer_gaps(project_with("arn:aws:lambda:us-east-1:123456789012:function:stack-AuthFn", {"AuthFn": fn}))
        == []
    )


# --- the authorizer ------------------------------------------------------------------------------


def test_an_authorized_token_gives_lambda_mode_with_the_resolver_context_and_denied_fields() -> None:
    function = FakeFunction({"isAuthorized": True, "resolverContext": {"user": "ann"}, "deniedFields": ["Query.x"]})
    body = json.dumps({"query": "{ me }"}).encode()
    context = run(authorizer(function), body=body)
    assert context.mode is AuthMode.AWS_LAMBDA
    assert context.identity == {"resolverContext": {"user": "ann"}}
    assert context.denied_fields == frozenset({"Query.x"})
    assert context.headers["authorization"] == "tok"
    assert function.events[0]["requestContext"]["queryString"] == "{ me }"


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"isAuthorized": False}, None),
        ("nonsense", None),
        ({"errorMessage": "boom", "errorType": "Error"}, "Unhandled"),
    ],
)
def test_a_refusal_a_malformed_answer_or_a_function_error_is_appsyncs_401(payload: Any, error: str | None) -> None:
    with pytest.raises(AuthError) as refused:
        run(authorizer(FakeFunction(payload, error=error)))
    assert (refused.value.status, refused.value.error_type) == (401, "UnauthorizedException")
    assert refused.value.message == "You are not authorized to make this call."


def test_answers_are_cached_by_token_for_the_configured_ttl() -> None:
    clock = Clock()
    function = FakeFunction({"isAuthorized": True})
    auth = authorizer(function, clock, ttl_s=60)
    run(auth, "a"), run(auth, "a"), run(auth, "b")
    assert [e["authorizationToken"] for e in function.events] == ["a", "b"]
    clock.now += 60
    run(auth, "a")
    assert len(function.events) == 3


def test_ttl_override_replaces_the_configured_ttl_and_zero_disables_caching() -> None:
    clock = Clock()
    function = FakeFunction({"isAuthorized": True, "ttlOverride": 0})
    auth = authorizer(function, clock, ttl_s=300)
    run(auth), run(auth)
    assert len(function.events) == 2
    longer = FakeFunction({"isAuthorized": True, "ttlOverride": 5000})
    auth = authorizer(longer, clock)  # the API caches nothing, the function asks for more than the 1 h cap
    run(auth)
    clock.now += 3599
    run(auth)
    assert len(longer.events) == 1
    clock.now += 1
    run(auth)
    assert len(longer.events) == 2


def test_refusals_are_cached_too_but_failures_are_not() -> None:
    refusing = FakeFunction({"isAuthorized": False})
    auth = authorizer(refusing, ttl_s=60)
    for _ in range(2):
        with pytest.raises(AuthError):
            run(auth)
    assert len(refusing.events) == 1
    failing = FakeFunction({"errorMessage": "boom"}, error="Unhandled")
    auth = authorizer(failing, ttl_s=60)
    for _ in range(2):
        with pytest.raises(AuthError):
            run(auth)
    assert len(failing.events) == 2


def test_a_token_the_expression_refuses_is_never_sent_to_the_function() -> None:
    function = FakeFunction({"isAuthorized": True})
    auth = authorizer(function, expression="Bearer [a-z]+")
    with pytest.raises(AuthError) as refused:
        run(auth, "Bearer ABC")
    assert refused.value.status == 401 and function.events == []
    run(auth, "Bearer abc")
    assert len(function.events) == 1


def test_an_authorizer_that_does_not_answer_in_time_is_a_401() -> None:
    started = asyncio.Event()

    async def never(function: str, event: dict[str, Any]) -> InvokeResult:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    auth = authorizer(never)
    auth.timeout_s = 0.01
    with pytest.raises(AuthError) as refused:
        run(auth)
    assert started.is_set() and refused.value.error_type == "UnauthorizedException"


def test_lambda_service_errors_are_401_but_a_runtime_the_emulator_lacks_is_not_emulated() -> None:
    async def throttled(function: str, event: dict[str, Any]) -> InvokeResult:
        raise TooManyRequestsException()

    async def no_node(function: str, event: dict[str, Any]) -> InvokeResult:
        raise InvalidRuntimeException("The runtime parameter of nodejs20.x needs Node.js")

    with pytest.raises(AuthError) as refused:
        run(authorizer(throttled))
    assert refused.value.error_type == "UnauthorizedException"
    with pytest.raises(AuthError) as refused:
        run(authorizer(no_node))
    assert refused.value.error_type == "NotEmulated" and "nodejs20.x" in refused.value.message


# --- routing in the Authorizer -------------------------------------------------------------------


def test_the_authorizer_routes_tokens_to_the_lambda_authorizer_and_says_which_are_connections() -> None:
    project = project_with("AuthFn")
    function = FakeFunction({"isAuthorized": True})
    router = Authorizer(project.api, {}, {}, lambda_authorizer=authorizer(function))

    async def both() -> None:
        headers = {"authorization": "tok"}
        await router.authorize(headers, path="/graphql/connect", body=b"{}", iam_paths=("/graphql/connect",))
        body = json.dumps({"query": "subscription { s }"}).encode()
        await router.authorize(headers, path="/graphql", body=body, iam_paths=("/graphql",))
        await router.authorize(headers, path="/graphql", body=body)

    asyncio.run(both())
    assert [e["requestContext"]["queryString"] for e in function.events] == [
        "",
        "subscription { s }",
        "subscription { s }",
    ]
