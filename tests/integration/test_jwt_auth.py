"""The JWT modes end to end: the real server, tokens from its local issuers, httpx, gql and raw WebSockets.

The `cognito` fixture app has a user pool as its default mode and API_KEY and an OIDC provider as
additional modes, with a field only the "admin" group may read. Forged, expired and foreign tokens
are tried on every path: HTTP, the real-time connection and each subscription's `start`.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import Client, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.appsync_auth import AppSyncJWTAuthentication
from gql.transport.appsync_websockets import AppSyncWebsocketsTransport
from gql.transport.exceptions import TransportQueryError
from joserfc import jwt
from joserfc.jwk import RSAKey

from appsync_emu.auth.issuers import LocalIssuer
from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from appsync_emu.server import banner
from tests.conftest import APPS
from tests.integration.wsclient import RawClient

APP = APPS / "cognito"
NOT_AUTHORIZED = {"errorType": "UnauthorizedException", "message": "You are not authorized to make this call."}


@pytest.fixture(scope="module")
def api() -> Iterator[EmulatorHandle]:
    handle = start_emulator(APP, keepalive_s=5)
    yield handle
    handle.stop()


def host_of(api: EmulatorHandle) -> str:
    return api.graphql_url.split("/")[2]


def post(api: EmulatorHandle, query: str, authorization: str | None = None, **extra: str) -> httpx.Response:
    headers = {"authorization": authorization} if authorization is not None else {}
    return httpx.post(api.graphql_url, json={"query": query}, headers={**headers, **extra}, timeout=10)


def forged_tokens(api: EmulatorHandle) -> dict[str, str]:
    """Tokens that must be refused, each with the pool's claims."""
    pool = api.emulator.issuers.get()
    claims = jwt.decode(pool.mint(username="mallory", groups=["admin"]), pool.keyset()).claims
    other_key = RSAKey.generate_key(2048)
    header, _, signature = pool.mint(username="mallory").split(".")
    body = jwt.encode({"alg": "RS256"}, {**claims, "cognito:groups": ["admin", "root"]}, other_key).split(".")[1]
    stranger = LocalIssuer("stranger", "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Stranger1")
    unsigned = f"{_b64(json.dumps({'alg': 'none'}).encode())}.{_b64(json.dumps(claims).encode())}."
    return {
        "other key": jwt.encode({"alg": "RS256", "kid": pool.key.kid}, claims, other_key),
        "alg none": unsigned,
        "changed claims": f"{header}.{body}.{signature}",
        "expired": pool.mint(username="mallory", expires_in=-1),
        "foreign issuer": stranger.mint(username="mallory"),
    }


def _b64(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- HTTP -----------------------------------------------------------------------------------------------------------


def test_a_pool_token_gives_appsyncs_identity_to_js_and_vtl(api: EmulatorHandle) -> None:
    token = api.token("alice", groups=["admin"], claims={"email": "alice@example.com"})
    body = post(api, "{ me { sub issuer username groups sourceIp defaultAuthStrategy claims } vtlMe }", token).json()
    assert "errors" not in body
    me = body["data"]["me"]
    pool = api.emulator.issuers.get()
    assert me["username"] == "alice" and me["groups"] == ["admin"] and me["sub"] == pool.sub("alice")
    assert me["issuer"] == pool.url and me["sourceIp"] == ["127.0.0.1"] and me["defaultAuthStrategy"] == "ALLOW"
    assert json.loads(me["claims"])["email"] == "alice@example.com"
    vtl = json.loads(body["data"]["vtlMe"])
    assert set(vtl) == {"sub", "issuer", "username", "claims", "sourceIp", "defaultAuthStrategy", "groups"}
    assert vtl["username"] == "alice" and vtl["claims"]["cognito:username"] == "alice"


def test_a_group_field_allows_one_group_and_refuses_another(api: EmulatorHandle) -> None:
    admin = post(api, "{ adminSecret publicInfo }", "Bearer " + api.token("alice", groups=["admin"])).json()
    assert admin == {"data": {"adminSecret": "for admins", "publicInfo": "User Pool Authorization"}}
    editor = post(api, "{ adminSecret publicInfo me { username editorNote } }", api.token("bob", groups=["editor"]))
    body = editor.json()
    assert editor.status_code == 200
    assert body["data"] == {
        "adminSecret": None,
        "publicInfo": "User Pool Authorization",
        "me": {"username": "bob", "editorNote": "note"},
    }
    assert [(e["errorType"], e["message"]) for e in body["errors"]] == [
        ("Unauthorized", "Not Authorized to access adminSecret on type Query")
    ]
    # an access token counts as well (Amplify sends the access token)
    access = post(api, "{ adminSecret }", api.token("alice", groups=["admin"], token_use="access")).json()
    assert access == {"data": {"adminSecret": "for admins"}}


def test_other_modes_reach_only_the_fields_their_directives_name(api: EmulatorHandle) -> None:
    keyed = post(api, "{ publicInfo me { username } }", **{"x-api-key": api.api_key or ""}).json()
    assert keyed["data"] == {"publicInfo": "API Key Authorization", "me": None}
    oidc_token = api.token("carol", pool="auth.example.com")
    oidc = post(api, "{ oidcMe { username issuer } me { username } }", oidc_token).json()
    assert oidc["data"]["oidcMe"] == {"username": None, "issuer": api.emulator.issuers.get("auth.example.com").url}
    assert oidc["data"]["me"] is None and oidc["errors"][0]["errorType"] == "Unauthorized"


def test_forged_expired_and_foreign_tokens_are_refused_over_http(api: EmulatorHandle) -> None:
    for name, token in forged_tokens(api).items():
        r = post(api, "{ me { username } }", token)
        expected = (
            {"errorType": "UnauthorizedException", "message": "Token has expired."}
            if name == "expired"
            else NOT_AUTHORIZED
        )
        assert (r.status_code, r.json()) == (401, {"errors": [expected]}), name
    assert post(api, "{ me { username } }", "not-a-jwt").json() == {
        "errors": [{"errorType": "UnauthorizedException", "message": "Unable to parse JWT token."}]
    }
    missing = post(api, "{ me { username } }")
    assert (missing.status_code, missing.json()["errors"][0]["message"]) == (
        401,
        "Valid authorization header not provided.",
    )


async def test_gql_jwt_authentication_over_http_and_the_realtime_socket(api: EmulatorHandle) -> None:
    token = api.token("alice", groups=["admin"])
    auth = AppSyncJWTAuthentication(host=host_of(api), jwt=token)
    async with Client(transport=AIOHTTPTransport(url=api.graphql_url, auth=auth)) as session:
        assert await session.execute(gql("{ me { username } adminSecret }")) == {
            "me": {"username": "alice"},
            "adminSecret": "for admins",
        }
    received: list[dict[str, Any]] = []

    async def listen() -> None:
        transport = AppSyncWebsocketsTransport(url=api.realtime_url, auth=auth)
        async with Client(transport=transport) as ws:
            async for result in ws.subscribe(gql("subscription { onPostAdmin { text author } }")):
                received.append(result)
                return

    task = asyncio.create_task(listen())
    await wait_until(lambda: api.emulator.pubsub.count() >= 1)
    r = post(api, 'mutation { post(text: "hi") { id text author } }', api.token("bob"))
    assert "errors" not in r.json()
    await asyncio.wait_for(task, 10)
    assert received == [{"onPostAdmin": {"text": "hi", "author": "bob"}}]


async def test_gql_refuses_a_subscription_the_users_group_may_not_read(api: EmulatorHandle) -> None:
    auth = AppSyncJWTAuthentication(host=host_of(api), jwt=api.token("bob", groups=["editor"]))
    async with Client(transport=AppSyncWebsocketsTransport(url=api.realtime_url, auth=auth)) as ws:
        with pytest.raises(TransportQueryError) as refused:
            async for _ in ws.subscribe(gql("subscription { onPostAdmin { text } }")):
                pass
    assert "Not Authorized to access onPostAdmin on type Subscription" in str(refused.value.errors)
    assert "'errorType': 'Unauthorized'" in str(refused.value.errors)


async def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# --- Real-time, raw -------------------------------------------------------------------------------------------------


def jwt_header(api: EmulatorHandle, token: str) -> dict[str, str]:
    return {"host": host_of(api), "Authorization": token}


async def test_forged_tokens_are_refused_on_connect_with_appsyncs_connection_error(api: EmulatorHandle) -> None:
    for name, token in forged_tokens(api).items():
        for via in ("query", "subprotocol"):
            client = await RawClient.open(api, header=jwt_header(api, token), via=via)
            frame = await client.init()
            assert frame["type"] == "connection_error", (name, via)
            (error,) = frame["payload"]["errors"]
            assert error["errorType"] == "UnauthorizedException" and error["errorCode"] == 401, (name, via)
            await client.close()


async def test_each_start_is_checked_with_its_own_token(api: EmulatorHandle) -> None:
    client = await RawClient.open(api, header=jwt_header(api, api.token("alice", groups=["admin"])), via="subprotocol")
    assert (await client.init())["type"] == "connection_ack"
    ok = await client.start("1", "subscription { onPost { text } }", authorization=jwt_header(api, api.token("alice")))
    assert ok["type"] == "start_ack"
    for n, (name, token) in enumerate(forged_tokens(api).items(), start=2):
        frame = await client.start(str(n), "subscription { onPost { text } }", authorization=jwt_header(api, token))
        assert frame["type"] == "error" and frame["id"] == str(n), name
        assert frame["payload"]["errors"][0]["errorType"] == "UnauthorizedException", name
    group = await client.start(
        "9", "subscription { onPostAdmin { text } }", authorization=jwt_header(api, api.token("bob", groups=["x"]))
    )
    assert group["type"] == "error" and group["payload"]["errors"][0]["errorType"] == "Unauthorized"
    # an API key on one start of a Cognito connection: modes mix per subscription
    keyed = await client.start(
        "10", "subscription { onPost { text } }", authorization={"host": host_of(api), "x-api-key": api.api_key or ""}
    )
    assert keyed["type"] == "start_ack"
    await client.close()


async def test_oidc_tokens_and_plain_upgrade_headers_on_the_socket(api: EmulatorHandle) -> None:
    from websockets.asyncio.client import connect

    oidc = api.token("carol", pool="auth.example.com")
    client = await RawClient.open(api, header=jwt_header(api, oidc))
    assert (await client.init())["type"] == "connection_ack"
    # @aws_oidc is not on onPost: the OIDC caller may not subscribe to it
    frame = await client.start("1", "subscription { onPost { text } }", authorization=jwt_header(api, oidc))
    assert frame["type"] == "error" and frame["payload"]["errors"][0]["errorType"] == "Unauthorized"
    await client.close()
    url = api.realtime_url
    for token, expected in (
        (api.token("alice"), "connection_ack"),
        (forged_tokens(api)["other key"], "connection_error"),
    ):
        headers = {"Authorization": token}
        async with connect(url, subprotocols=["graphql-ws"], additional_headers=headers, compression=None) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == expected


# --- Tokens offline -----------------------------------------------------------------------------------------------


def test_the_token_endpoint_discovery_jwks_and_config(api: EmulatorHandle) -> None:
    pool = api.emulator.issuers.get()
    minted = httpx.post(f"{api.base_url}/_emu/token", json={"user": "dana", "groups": ["admin"], "expiresIn": 600})
    assert minted.status_code == 200
    answer = minted.json()
    assert answer["issuer"] == pool.url and answer["poolId"] == pool.pool_id and answer["expiresIn"] == 600
    assert post(api, "{ adminSecret }", answer["idToken"]).json() == {"data": {"adminSecret": "for admins"}}
    assert post(api, "{ adminSecret }", answer["accessToken"]).json() == {"data": {"adminSecret": "for admins"}}
    bad = httpx.post(f"{api.base_url}/_emu/token", json={"user": "dana", "pool": "nope"})
    assert bad.status_code == 400 and "no issuer named 'nope'" in bad.json()["message"]
    assert httpx.post(f"{api.base_url}/_emu/token", json={"groups": []}).status_code == 400
    # a page from another origin may not mint tokens
    cross = httpx.post(f"{api.base_url}/_emu/token", json={"user": "x"}, headers={"origin": "https://evil.example"})
    assert cross.status_code == 403
    discovery = httpx.get(f"{pool.url}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == pool.url and discovery["jwks_uri"] == f"{pool.url}/.well-known/jwks.json"
    jwks = httpx.get(discovery["jwks_uri"]).json()
    assert (
        jwt.decode(answer["idToken"], __import__("joserfc").jwk.KeySet.import_key_set(jwks)).claims["iss"] == pool.url
    )
    oidc = api.emulator.issuers.get("auth.example.com")
    assert httpx.get(f"{oidc.url}/.well-known/openid-configuration").json()["issuer"] == oidc.url
    config = httpx.get(f"{api.base_url}/_emu/config").json()
    (listed,) = config["userPools"]
    assert (listed["poolId"], listed["clientIds"], listed["issuer"]) == (pool.pool_id, list(pool.client_ids), pool.url)
    assert config["oidcProviders"] == [
        {"name": "auth.example.com", "issuer": oidc.url, "clientIds": ["example-client"]}
    ]
    text = banner(api.emulator)
    assert f"pool UserPool {pool.pool_id}: issuer {pool.url}" in text and "appsync-emu token" in text


def test_the_cli_mints_tokens_the_server_accepts_without_talking_to_it(api: EmulatorHandle) -> None:
    cli = [sys.executable, "-m", "appsync_emu.cli", "token", "--url", api.base_url, str(APP)]
    done = subprocess.run(
        [*cli, "--user", "erin", "--groups", "admin,dev", "--claims", '{"email": "e@example.com"}'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    body = post(api, "{ me { username groups claims } adminSecret }", token).json()
    assert body["data"]["me"]["groups"] == ["admin", "dev"] and body["data"]["adminSecret"] == "for admins"
    assert json.loads(body["data"]["me"]["claims"])["email"] == "e@example.com"
    oidc = subprocess.run(
        [*cli, "--user", "f", "--pool", "auth.example.com"], capture_output=True, text=True, timeout=60
    )
    assert post(api, "{ oidcMe { sub } }", oidc.stdout.strip()).json()["data"]["oidcMe"]["sub"]
    other_port = subprocess.run(
        [*cli, "--user", "erin", "--url", "http://127.0.0.1:1"], capture_output=True, text=True, timeout=60
    )
    assert post(api, "{ me { username } }", other_port.stdout.strip()).status_code == 401  # another server's issuer


# --- Configurations ---------------------------------------------------------------------------------------------------


def _template(tmp_path: Path, user_pool_config: str, extra: str = "") -> Path:
    (tmp_path / "schema.graphql").write_text(
        'type Query { open: String grouped: String @aws_auth(cognito_groups: ["admin"]) }\n'
    )
    (tmp_path / "template.yaml").write_text(
        f"""
Resources:
  Pool:
    Type: AWS::Cognito::UserPool
  Web:
    Type: AWS::Cognito::UserPoolClient
    Properties: {{UserPoolId: !Ref Pool}}
  Api:
    Type: AWS::AppSync::GraphQLApi
    Properties:
      Name: configured
      AuthenticationType: AMAZON_COGNITO_USER_POOLS
      UserPoolConfig: {user_pool_config}
{extra}
  Schema:
    Type: AWS::AppSync::GraphQLSchema
    Properties: {{ApiId: !GetAtt Api.ApiId, DefinitionS3Location: schema.graphql}}
  NoneDs:
    Type: AWS::AppSync::DataSource
    Properties: {{ApiId: !GetAtt Api.ApiId, Name: none, Type: NONE}}
  Open:
    Type: AWS::AppSync::Resolver
    Properties:
      ApiId: !GetAtt Api.ApiId
      TypeName: Query
      FieldName: open
      DataSourceName: none
      RequestMappingTemplate: '{{"version": "2018-05-29", "payload": "open"}}'
      ResponseMappingTemplate: '$util.toJson($ctx.result)'
  Grouped:
    Type: AWS::AppSync::Resolver
    Properties:
      ApiId: !GetAtt Api.ApiId
      TypeName: Query
      FieldName: grouped
      DataSourceName: none
      RequestMappingTemplate: '{{"version": "2018-05-29", "payload": "grouped"}}'
      ResponseMappingTemplate: '$util.toJson($ctx.result)'
"""
    )
    return tmp_path


def test_default_action_deny_and_app_id_client_regex(tmp_path: Path) -> None:
    app = _template(
        tmp_path,
        "{UserPoolId: !Ref Pool, AwsRegion: us-east-1, DefaultAction: DENY, AppIdClientRegex: '^[a-z0-9]{26}$'}",
    )
    handle = start_emulator(app)
    try:
        admin = post(handle, "{ open grouped }", handle.token("alice", groups=["admin"])).json()
        assert admin["data"] == {"open": None, "grouped": "grouped"}
        assert admin["errors"][0]["message"] == "Not Authorized to access open on type Query"
        other = post(handle, "{ grouped }", handle.token("bob", groups=["dev"])).json()
        assert other["data"] == {"grouped": None}
        wrong_client = handle.emulator.issuers.get().mint(username="alice", groups=["admin"], client_id="Not-A-Client")
        assert post(handle, "{ grouped }", wrong_client).status_code == 401
        default_client = handle.emulator.issuers.get().mint(username="x")  # the template's client matches
        assert post(handle, "{ grouped }", default_client).status_code == 200
    finally:
        handle.stop()


def test_a_real_pools_tokens_need_its_jwks(tmp_path: Path) -> None:
    app = _template(tmp_path, "{UserPoolId: us-east-1_RealPool9, AwsRegion: us-east-1, DefaultAction: ALLOW}")
    real_key = RSAKey.generate_key(2048, parameters={"kid": "real", "alg": "RS256", "use": "sig"})
    real = LocalIssuer(
        "real", "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_RealPool9", pool_id="us-east-1_RealPool9"
    )
    real._key = real_key
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(real.jwks()))
    token = real.mint(username="alice", groups=["admin"])
    for settings, accepted in (
        ({}, False),
        ({"jwks": {"us-east-1_RealPool9": jwks}}, True),
        ({"trust_unverified_tokens": True}, True),
    ):
        handle = start_emulator(app, **settings)
        try:
            r = post(handle, "{ open }", token)
            assert (r.status_code == 200) is accepted, settings
            local = post(handle, "{ open }", handle.token("bob"))  # the local issuer of the same pool id
            assert local.json() == {"data": {"open": "open"}}
            if settings.get("trust_unverified_tokens"):
                assert "WARNING: --trust-unverified-tokens" in banner(handle.emulator)
        finally:
            handle.stop()
