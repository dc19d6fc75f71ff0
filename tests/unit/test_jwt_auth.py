"""The JWT auth modes' sans-I/O parts: local issuers from the template, and token verification."""

from __future__ import annotations

from pathlib import Path

import pytest
from joserfc import jwt

from appsync_emu.auth.issuers import Issuers, LocalIssuer
from appsync_emu.config.loader import load_project
from appsync_emu.config.model import LocalEndpoints

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
