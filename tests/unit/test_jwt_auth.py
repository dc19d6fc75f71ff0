"""The JWT auth modes' sans-I/O parts: local issuers from the template, and token verification."""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from joserfc import jwt

from appsync_emu.auth.authorizer import Authorizer, jwt_modes
from appsync_emu.auth.cognito import UserPoolMode
from appsync_emu.auth.context import AuthContext, AuthError
from appsync_emu.auth.directives import field_rules
from appsync_emu.auth.issuers import Issuers, LocalIssuer
from appsync_emu.auth.jwts import bare_token, load_jwks, peek
from appsync_emu.auth.oidc import OidcMode
from appsync_emu.config.loader import load_project
from appsync_emu.config.model import AuthMode, AuthProvider, GraphQLApi, LocalEndpoints, Origin

APP = Path(__file__).parents[1] / "fixtures" / "apps" / "cognito"
ENDPOINTS = LocalEndpoints("127.0.0.1", 4123)
NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def issuers() -> Issuers:
    return Issuers.from_project(load_project(APP, ENDPOINTS), ENDPOINTS)


def test_template_pool_and_oidc_provider_get_local_issuers(issuers: Issuers) -> None:
    project = load_project(APP, ENDPOINTS)
    pool = issuers.get()
    assert pool.name == "UserPool" and pool.kind == "cognito"
    assert pool.pool_id == project.outputs["PoolId"]
    assert pool.pool_id is not None and pool.pool_id.startswith("us-east-1_") and len(pool.pool_id) == 19
    # ProviderURL, the issuer URL and `iss` are one value
    assert pool.url == project.outputs["ProviderUrl"] == f"http://127.0.0.1:4123/{pool.pool_id}"
    assert pool.client_ids == (project.outputs["ClientId"],)
    assert issuers.get(pool.pool_id) is pool and issuers.get("UserPool") is pool
    oidc = issuers.get("auth.example.com")
    assert oidc.kind == "oidc" and oidc.pool_id is None
    assert oidc.url == "http://127.0.0.1:4123/_emu/oidc/auth.example.com"
    assert oidc.client_ids == ("example-client",)
    with pytest.raises(ValueError, match=r"no issuer named 'nope'.*UserPool \(us-east-1_"):
        issuers.get("nope")


def test_minted_id_and_access_tokens_carry_cognitos_claims(issuers: Issuers) -> None:
    pool = issuers.get()
    token = pool.mint(username="alice", groups=["admin"], claims={"email": "a@example.com"}, now=NOW)
    decoded = jwt.decode(token, pool.keyset(), algorithms=["RS256"])
    assert decoded.header == {"kid": pool.key.kid, "alg": "RS256"}
    claims = decoded.claims
    assert claims["iss"] == pool.url and claims["aud"] == pool.client_ids[0]
    assert claims["cognito:username"] == "alice" and claims["cognito:groups"] == ["admin"]
    assert claims["token_use"] == "id" and claims["email"] == "a@example.com"
    assert (claims["iat"], claims["auth_time"], claims["exp"]) == (NOW, NOW, NOW + 3600)
    assert claims["sub"] == pool.sub("alice") != pool.sub("bob")
    access = jwt.decode(pool.mint(username="alice", token_use="access", now=NOW), pool.keyset()).claims
    assert access["client_id"] == pool.client_ids[0] and "aud" not in access
    assert access["username"] == "alice" and access["token_use"] == "access" and "cognito:groups" not in access
    assert access["scope"] == "aws.cognito.signin.user.admin"


def test_discovery_and_jwks(issuers: Issuers) -> None:
    pool = issuers.get()
    assert pool.discovery()["issuer"] == pool.url
    assert pool.discovery()["jwks_uri"] == pool.url + "/.well-known/jwks.json"
    (key,) = pool.jwks()["keys"]
    assert key["kid"] == pool.key.kid and key["alg"] == "RS256" and key["use"] == "sig" and "d" not in key


def test_a_pool_named_by_a_literal_id_gets_an_issuer(tmp_path: Path) -> None:
    schema = tmp_path / "schema.graphql"
    schema.write_text("type Query { a: String }\n")
    (tmp_path / "template.yaml").write_text(
        """
Resources:
  Api:
    Type: AWS::AppSync::GraphQLApi
    Properties:
      Name: real-pool
      AuthenticationType: AMAZON_COGNITO_USER_POOLS
      UserPoolConfig: {UserPoolId: eu-west-1_RealPool1, AwsRegion: eu-west-1, DefaultAction: ALLOW}
  Schema:
    Type: AWS::AppSync::GraphQLSchema
    Properties: {ApiId: !GetAtt Api.ApiId, DefinitionS3Location: schema.graphql}
"""
    )
    issuers = Issuers.from_project(load_project(tmp_path, ENDPOINTS), ENDPOINTS)
    pool = issuers.get()
    assert (pool.name, pool.pool_id, pool.url) == (
        "eu-west-1_RealPool1",
        "eu-west-1_RealPool1",
        "http://127.0.0.1:4123/eu-west-1_RealPool1",
    )
    assert pool.region == "eu-west-1"
    assert jwt.decode(pool.mint(username="bob"), pool.keyset()).claims["aud"]  # a stable default client


def test_no_issuer_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no Cognito user pool or OIDC provider"):
        Issuers().get()
    lone = LocalIssuer("x", "http://h/_emu/oidc/x")
    assert Issuers([lone]).get() is lone


# --- Verification ---------------------------------------------------------------------------------------------------

HEADERS = {"host": "127.0.0.1:4123"}


def _pool_issuer() -> LocalIssuer:
    return LocalIssuer(
        "UserPool", "http://127.0.0.1:4123/us-east-1_pool00001", pool_id="us-east-1_pool00001", client_ids=["web-1"]
    )


def _oidc_issuer() -> LocalIssuer:
    return LocalIssuer("auth.example.com", "http://127.0.0.1:4123/_emu/oidc/auth.example.com", client_ids=["spa"])


def user_pool(settings: dict[str, object] | None = None, **options: object) -> UserPoolMode:
    base: dict[str, object] = {"UserPoolId": "us-east-1_pool00001", "DefaultAction": "ALLOW"}
    return UserPoolMode({**base, **(settings or {})}, _pool_issuer(), **options)  # type: ignore[arg-type]


def check(mode: UserPoolMode | OidcMode, token: str, now: float = NOW + 10) -> AuthContext:
    peeked = peek(bare_token(token))
    assert peeked is not None
    return mode.authorize(bare_token(token), peeked, HEADERS, "10.0.0.7", now)


def refusal(mode: UserPoolMode | OidcMode, token: str, now: float = NOW + 10) -> str:
    with pytest.raises(AuthError) as caught:
        check(mode, token, now)
    assert (caught.value.status, caught.value.error_type) == (401, "UnauthorizedException")
    return caught.value.message


def test_a_valid_id_token_gives_appsyncs_user_pool_identity() -> None:
    mode = user_pool()
    token = mode.issuer.mint(username="alice", groups=["admin", "dev"], now=NOW)
    auth = check(mode, "Bearer " + token)
    assert auth.mode is AuthMode.AMAZON_COGNITO_USER_POOLS and auth.groups == {"admin", "dev"}
    identity = auth.identity
    assert identity is not None
    assert set(identity) == {"sub", "issuer", "username", "claims", "sourceIp", "defaultAuthStrategy", "groups"}
    assert identity["username"] == "alice" and identity["sub"] == mode.issuer.sub("alice")
    assert identity["issuer"] == mode.issuer.url and identity["sourceIp"] == ["10.0.0.7"]
    assert identity["defaultAuthStrategy"] == "ALLOW" and identity["groups"] == ["admin", "dev"]
    assert identity["claims"]["token_use"] == "id"


def test_an_access_token_names_its_user_and_no_groups_is_null() -> None:
    mode = user_pool()
    identity = check(mode, mode.issuer.mint(username="bob", token_use="access", now=NOW)).identity
    assert identity is not None and identity["username"] == "bob" and identity["groups"] is None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hand_made(header: dict[str, object], claims: dict[str, object], sign: Callable[[bytes], bytes]) -> str:
    """A token built byte by byte, as an attacker would (joserfc refuses to make these)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


def test_forged_tokens_are_refused() -> None:
    from joserfc import jwt as jose_jwt
    from joserfc.jwk import RSAKey

    refused = "You are not authorized to make this call."
    mode = user_pool()
    kid = mode.issuer.key.kid
    claims = dict(
        jose_jwt.decode(mode.issuer.mint(username="eve", groups=["admin"], now=NOW), mode.issuer.keyset()).claims
    )
    # another RSA key, even with the pool's kid
    other = RSAKey.generate_key(2048)
    assert refusal(mode, jose_jwt.encode({"alg": "RS256", "kid": kid}, claims, other)) == refused
    # alg none, with and without a signature
    assert refusal(mode, _hand_made({"alg": "none", "kid": kid}, claims, lambda _: b"")) == refused
    assert refusal(mode, _hand_made({"alg": "none"}, claims, lambda _: b"x")) == refused
    # HS256 keyed with the pool's public key (algorithm confusion), in both forms a verifier might hold it
    for secret in (mode.issuer.key.as_pem(private=False), json.dumps(mode.issuer.jwks()["keys"][0]).encode()):
        confused = _hand_made(
            {"alg": "HS256", "kid": kid}, claims, lambda data, key=secret: hmac.new(key, data, "sha256").digest()
        )
        assert refusal(mode, confused) == refused
    # changed claims under the original signature
    header, _payload, signature = mode.issuer.mint(username="eve", now=NOW).split(".")
    tampered = _b64(json.dumps({**claims, "cognito:groups": ["root"]}).encode())
    assert refusal(mode, f"{header}.{tampered}.{signature}") == refused


def test_expiry_is_checked_with_the_clock() -> None:
    mode = user_pool()
    token = mode.issuer.mint(username="alice", expires_in=60, now=NOW)
    check(mode, token, now=NOW + 59)
    assert refusal(mode, token, now=NOW + 60) == "Token has expired."


def test_a_verified_tokens_claims_are_kept_but_expiry_is_checked_each_time_and_copies_are_handed_out() -> None:
    mode = user_pool()
    token = mode.issuer.mint(username="alice", groups=["admin"], expires_in=60, now=NOW)
    first = check(mode, token, now=NOW + 1).identity
    assert first is not None and len(mode.trusted[mode.issuer.url].verified) == 1  # the signature is checked once
    first["claims"]["cognito:groups"].append("root")  # a resolver changing ctx.identity changes its own copy
    second = check(mode, token, now=NOW + 2)
    assert second.groups == {"admin"} and second.identity is not None
    assert second.identity["claims"]["cognito:groups"] == ["admin"]
    assert refusal(mode, token, now=NOW + 60) == "Token has expired."
    header, _payload, signature = token.split(".")
    tampered = _b64(json.dumps({**second.identity["claims"], "cognito:groups": ["root"]}).encode())
    assert refusal(mode, f"{header}.{tampered}.{signature}") == "You are not authorized to make this call."


def test_token_use_and_app_client_regex() -> None:
    mode = user_pool({"AppIdClientRegex": "web-.*"})
    check(mode, mode.issuer.mint(username="a", now=NOW))
    check(mode, mode.issuer.mint(username="a", token_use="access", now=NOW))
    assert refusal(mode, mode.issuer.mint(username="a", client_id="mobile-1", now=NOW))
    assert refusal(mode, mode.issuer.mint(username="a", client_id="mobile-1", token_use="access", now=NOW))
    # the regex must match all of the client id, and an id token's `client_id` claim does not count
    assert refusal(mode, mode.issuer.mint(username="a", client_id="xweb-1", now=NOW))
    assert refusal(mode, mode.issuer.mint(username="a", client_id="m", claims={"client_id": "web-1"}, now=NOW))
    assert refusal(mode, mode.issuer.mint(username="a", claims={"token_use": "refresh"}, now=NOW))


def test_a_foreign_issuer_is_refused_even_with_a_good_signature() -> None:
    mode = user_pool()
    other = LocalIssuer("Other", "http://127.0.0.1:4123/us-east-1_other0001", pool_id="us-east-1_other0001")
    token = other.mint(username="alice", now=NOW)
    # routed here by a lie in `iss` would not help either: the claim is signed
    peeked = peek(token)
    assert peeked is not None and peeked.issuer == other.url
    with pytest.raises(AuthError):
        mode.authorize(token, peeked, HEADERS, None, NOW)


def test_real_pool_tokens_need_the_users_jwks_or_an_explicit_opt_in(tmp_path: Path) -> None:
    from joserfc.jwk import RSAKey

    real_key = RSAKey.generate_key(2048, parameters={"kid": "real-1", "alg": "RS256", "use": "sig"})
    real = LocalIssuer(
        "real", "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool00001", pool_id="us-east-1_pool00001"
    )
    real._key = real_key  # what the real pool signs with
    token = real.mint(username="alice", now=NOW)
    assert refusal(user_pool(), token)  # no JWKS: refused
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(real.jwks()))
    assert check(user_pool(jwks=load_jwks(jwks)), token).identity["username"] == "alice"  # type: ignore[index]
    wrong = tmp_path / "other.json"
    wrong.write_text(json.dumps(_pool_issuer().jwks()))
    assert refusal(user_pool(jwks=load_jwks(wrong)), token)
    # unverified only when asked, and then even a bad signature passes (the banner warns)
    assert check(user_pool(trust_unverified=True), token[:-4] + "AAAA").identity["username"] == "alice"  # type: ignore[index]
    with pytest.raises(ValueError, match="not a JWKS"):
        load_jwks(tmp_path.joinpath("x.json")) if tmp_path.joinpath("x.json").write_text("[]") else None


def test_oidc_checks_client_id_and_the_ttls_in_milliseconds() -> None:
    issuer = _oidc_issuer()
    settings = {"Issuer": "https://auth.example.com", "ClientId": "spa|web", "IatTTL": 60_000, "AuthTTL": 120_000}
    mode = OidcMode(settings, issuer)
    token = issuer.mint(username="carol", now=NOW)
    auth = check(mode, token, now=NOW + 59)
    assert auth.mode is AuthMode.OPENID_CONNECT
    assert auth.identity == {"sub": issuer.sub("carol"), "issuer": issuer.url, "claims": auth.identity["claims"]}  # type: ignore[index]
    assert refusal(mode, token, now=NOW + 61)  # issued more than IatTTL ago
    late_iat = issuer.mint(username="carol", claims={"iat": NOW + 100, "auth_time": NOW}, now=NOW)
    check(mode, late_iat, now=NOW + 119)
    assert refusal(mode, late_iat, now=NOW + 121)  # authenticated more than AuthTTL ago
    assert refusal(mode, issuer.mint(username="carol", client_id="other", now=NOW))
    check(mode, issuer.mint(username="carol", client_id="web", token_use="access", now=NOW))
    no_ttl = OidcMode({"Issuer": "https://auth.example.com"}, issuer)
    check(no_ttl, issuer.mint(username="carol", client_id="anything", now=NOW), now=NOW + 3000)


def test_unparsable_tokens() -> None:
    assert peek("garbage") is None and peek("a.b.c") is None and peek("") is None
    assert bare_token("bearer abc") == "abc" and bare_token(" Bearer  x ") == "x" and bare_token("xyz") == "xyz"


# --- Routing and directives -------------------------------------------------------------------------------------------


async def test_the_authorizer_routes_a_jwt_by_its_issuer(issuers: Issuers) -> None:
    project = load_project(APP, ENDPOINTS)
    api = project.api
    authorizer = Authorizer(api, {}, {}, clock=lambda: NOW + 1, jwt_modes=jwt_modes(api, issuers))
    pool, oidc = issuers.get(), issuers.get("auth.example.com")
    auth = await authorizer.authorize({"authorization": pool.mint(username="alice", now=NOW)})
    assert auth.mode is AuthMode.AMAZON_COGNITO_USER_POOLS
    auth = await authorizer.authorize({"authorization": "Bearer " + oidc.mint(username="carol", now=NOW)})
    assert auth.mode is AuthMode.OPENID_CONNECT
    stranger = LocalIssuer("x", "https://issuer.example.net", pool_id=None)
    for value, message in (
        ("garbage", "Unable to parse JWT token."),
        (stranger.mint(username="mallory", now=NOW), "You are not authorized to make this call."),
    ):
        with pytest.raises(AuthError) as caught:
            await authorizer.authorize({"authorization": value})
        assert (caught.value.status, caught.value.message) == (401, message)
    with pytest.raises(AuthError, match="Valid authorization header not provided"):
        await authorizer.authorize({})


class RecordingLambda:
    """Stands for the Lambda authorizer: records the tokens that reach it and accepts them."""

    def __init__(self) -> None:
        self.tokens: list[str] = []

    async def authorize(
        self, token: str, headers: Mapping[str, str], body: bytes, source_ip: str | None, *, connection: bool
    ) -> AuthContext:
        self.tokens.append(token)
        return AuthContext(AuthMode.AWS_LAMBDA, {"resolverContext": {}}, dict(headers))


async def test_with_a_lambda_authorizer_too_only_tokens_no_issuer_claims_go_to_it(issuers: Issuers) -> None:
    api = load_project(APP, ENDPOINTS).api
    fake = RecordingLambda()
    authorizer = Authorizer(
        api,
        {},
        {},
        clock=lambda: NOW + 1,
        jwt_modes=jwt_modes(api, issuers),
        lambda_authorizer=fake,  # type: ignore[arg-type]
    )
    pool = issuers.get()
    ours = pool.mint(username="alice", now=NOW)
    assert (await authorizer.authorize({"authorization": ours})).mode is AuthMode.AMAZON_COGNITO_USER_POOLS
    expired = pool.mint(username="alice", expires_in=1, now=NOW - 100)
    with pytest.raises(AuthError, match="Token has expired"):
        await authorizer.authorize({"authorization": expired})  # refused by its pool, not passed on
    foreign = LocalIssuer("x", "https://issuer.example.net").mint(username="m", now=NOW)
    for token in ("custom-token-123", "Bearer " + foreign, foreign):
        assert (await authorizer.authorize({"authorization": token})).mode is AuthMode.AWS_LAMBDA
    assert fake.tokens == ["custom-token-123", "Bearer " + foreign, foreign]  # as sent


def test_token_requests_are_checked(issuers: Issuers) -> None:
    from appsync_emu.auth.routes import TokenRequestError, mint_pair

    pair = mint_pair(issuers, {"user": "alice", "groups": ["admin"], "claims": {"email": "a@b.c"}, "expiresIn": 60})
    assert set(pair) == {"idToken", "accessToken", "expiresIn", "tokenType", "issuer", "poolId", "clientId"}
    pool = issuers.get()
    claims = jwt.decode(pair["idToken"], pool.keyset()).claims
    assert claims["exp"] - claims["iat"] == 60 and claims["email"] == "a@b.c"
    assert jwt.decode(pair["accessToken"], pool.keyset()).claims["token_use"] == "access"
    assert mint_pair(issuers, {"user": "c", "pool": "auth.example.com"})["issuer"].endswith(
        "/_emu/oidc/auth.example.com"
    )
    for bad, message in (
        ({}, '"user"'),
        ({"user": "a", "groups": "admin"}, '"groups"'),
        ({"user": "a", "claims": []}, '"claims"'),
        ({"user": "a", "expiresIn": 0}, '"expiresIn"'),
        ({"user": "a", "expiresIn": 86_401}, '"expiresIn"'),
        ({"user": "a", "pool": "nope"}, "no issuer named 'nope'"),
    ):
        with pytest.raises(TokenRequestError, match=message):
            mint_pair(issuers, bad)


def test_jwks_names_must_be_the_apis_pools_or_providers(issuers: Issuers, tmp_path: Path) -> None:
    api = load_project(APP, ENDPOINTS).api
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(issuers.get().jwks()))
    modes = jwt_modes(api, issuers, jwks={"UserPool": jwks, "https://auth.example.com": jwks})
    assert [len(m.trusted) for m in modes] == [2, 2]
    with pytest.raises(ValueError, match="no issuer named 'Nope'"):
        jwt_modes(api, issuers, jwks={"Nope": jwks})


SDL = """
type Query {
  open: String
  grouped: String @aws_auth(cognito_groups: ["admin"])
  anyUser: String @aws_cognito_user_pools
}
"""


def _api(default_action: str, *extra: AuthMode) -> GraphQLApi:
    settings = {"UserPoolId": "us-east-1_pool00001", "DefaultAction": default_action}
    origin = Origin(Path("schema.graphql"))
    return GraphQLApi(
        logical_id="Api",
        name="t",
        api_id="a" * 26,
        origin=origin,
        schema_sdl=SDL,
        schema_origin=origin,
        default_auth=AuthProvider(AuthMode.AMAZON_COGNITO_USER_POOLS, settings),
        additional_auth=[AuthProvider(m) for m in extra],
    )


def test_default_action_deny_opens_only_fields_a_directive_names() -> None:
    from appsync_emu.schema import build_appsync_schema

    schema = build_appsync_schema(SDL, Origin(Path("schema.graphql")))
    deny = field_rules(schema, _api("DENY"))
    user = AuthContext(AuthMode.AMAZON_COGNITO_USER_POOLS, {}, groups=frozenset({"dev"}))
    admin = AuthContext(AuthMode.AMAZON_COGNITO_USER_POOLS, {}, groups=frozenset({"admin"}))
    assert not deny[("Query", "open")].allows(admin)
    assert deny[("Query", "grouped")].allows(admin) and not deny[("Query", "grouped")].allows(user)
    assert ("Query", "anyUser") not in deny  # any user of the pool: no guard
    allow = field_rules(schema, _api("ALLOW"))
    assert ("Query", "open") not in allow  # every user may read it: no guard
    assert not allow[("Query", "grouped")].allows(user)
    # on a multi-auth API @aws_auth is ignored: the default mode applies
    multi = field_rules(schema, _api("ALLOW", AuthMode.API_KEY))
    assert multi[("Query", "grouped")].allows(user)


@pytest.mark.parametrize(
    ("config", "extra", "message"),
    [
        (
            "{UserPoolId: !Ref Pool, DefaultAction: DENY}",
            "      AdditionalAuthenticationProviders: [{AuthenticationType: API_KEY}]",
            "DefaultAction DENY is only valid when AMAZON_COGNITO_USER_POOLS is the API's only mode",
        ),
        (
            "{UserPoolId: !Ref Pool, DefaultAction: ALLOW}",
            "      AdditionalAuthenticationProviders:\n"
            "        - {AuthenticationType: AMAZON_COGNITO_USER_POOLS, UserPoolConfig: {UserPoolId: !Ref Pool, "
            "DefaultAction: ALLOW}}",
            "AdditionalAuthenticationProviders/0/UserPoolConfig has no DefaultAction",
        ),
    ],
)
def test_default_actions_appsync_refuses_are_config_errors(
    tmp_path: Path, config: str, extra: str, message: str
) -> None:
    from appsync_emu.config.model import ConfigErrors

    (tmp_path / "schema.graphql").write_text("type Query { a: String }\n")
    (tmp_path / "template.yaml").write_text(
        f"""
Resources:
  Pool:
    Type: AWS::Cognito::UserPool
  Api:
    Type: AWS::AppSync::GraphQLApi
    Properties:
      Name: t
      AuthenticationType: AMAZON_COGNITO_USER_POOLS
      UserPoolConfig: {config}
{extra}
  Schema:
    Type: AWS::AppSync::GraphQLSchema
    Properties: {{ApiId: !GetAtt Api.ApiId, DefinitionS3Location: schema.graphql}}
"""
    )
    with pytest.raises(ConfigErrors) as caught:
        load_project(tmp_path, ENDPOINTS)
    assert any(message in str(e) for e in caught.value.errors), caught.value.errors
