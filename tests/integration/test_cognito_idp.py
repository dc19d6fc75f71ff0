"""The emulator's Cognito endpoint on the real server, with real clients: boto3's `cognito-idp` and pycognito.

The endpoint is the emulator's base URL (as Cognito's is `https://cognito-idp.<region>.amazonaws.com/`),
so boto3 takes it as `endpoint_url` and Amplify as `Auth.Cognito.userPoolEndpoint`. The tokens it
returns open the API under AMAZON_COGNITO_USER_POOLS. Amplify v6's own `signIn` is in
test_node_cognito_signin.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from appsync_emu.pytest_plugin import EmulatorHandle
from tests.conftest import ROOT

boto3 = pytest.importorskip("boto3", reason="boto3 (the aws extra) is the client under test")
aws_srp = pytest.importorskip("pycognito.aws_srp", reason="pycognito (test extra) is the reference SRP client")
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

APP = ROOT / "tests" / "fixtures" / "apps" / "cognito_signin"


@pytest.fixture(scope="module")
def api(appsync_emu_module: Callable[..., EmulatorHandle]) -> EmulatorHandle:
    return appsync_emu_module(APP)


def outputs(api: EmulatorHandle) -> dict[str, Any]:
    return api.emulator.project.outputs


def cognito(api: EmulatorHandle) -> Any:
    return boto3.client(
        "cognito-idp",
        endpoint_url=api.base_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}),
    )


def graphql(api: EmulatorHandle, token: str, query: str) -> dict[str, Any]:
    reply = httpx.post(api.graphql_url, json={"query": query}, headers={"Authorization": token}, timeout=10)
    body: dict[str, Any] = reply.json()
    return body


def password_sign_in(api: EmulatorHandle, username: str, password: str, client: str | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = cognito(api).initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
        ClientId=client or outputs(api)["WebClientId"],
    )
    return answer


def test_config_names_the_endpoint(api: EmulatorHandle) -> None:
    config = httpx.get(f"{api.base_url}/_emu/config", timeout=10).json()
    assert config["cognitoEndpoint"] == api.base_url
    pool, email_pool = config["userPools"]
    assert pool["poolId"] == outputs(api)["PoolId"] and pool["cognitoEndpoint"] == api.base_url
    assert email_pool["poolId"] == outputs(api)["EmailPoolId"]
    assert set(pool["clientIds"]) == {outputs(api)["WebClientId"], outputs(api)["SrpClientId"]}


def test_boto3_password_sign_in_opens_the_api(api: EmulatorHandle) -> None:
    result = password_sign_in(api, "alice", "Passw0rd!")["AuthenticationResult"]
    assert result["TokenType"] == "Bearer"
    me = graphql(api, result["IdToken"], "{ me { username sub groups email } adminSecret }")
    assert "errors" not in me, me
    assert me["data"]["me"]["username"] == "alice"
    assert me["data"]["me"]["groups"] == ["admin"]
    assert me["data"]["me"]["email"] == "alice@example.com"
    assert me["data"]["adminSecret"] == "for admins"
    bob = password_sign_in(api, "bob", "Passw0rd!")["AuthenticationResult"]
    refused = graphql(api, bob["IdToken"], "{ me { username } adminSecret }")
    assert refused["data"] == {"me": {"username": "bob"}, "adminSecret": None}
    assert refused["errors"][0]["errorType"] == "Unauthorized"


def test_boto3_errors_are_cognitos(api: EmulatorHandle) -> None:
    cases = [
        (("alice", "wrong-Passw0rd!", None), "NotAuthorizedException", "Incorrect username or password."),
        (("nobody", "Passw0rd!", None), "UserNotFoundException", "User does not exist."),
        (("alice", "Passw0rd!", outputs(api)["SrpClientId"]), "InvalidParameterException", "flow not enabled"),
        (("alice", "Passw0rd!", "no-such-client"), "ResourceNotFoundException", "does not exist"),
    ]
    for args, code, message in cases:
        with pytest.raises(ClientError) as err:
            password_sign_in(api, *args)
        assert err.value.response["Error"]["Code"] == code
        assert message in err.value.response["Error"]["Message"]
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_pycognito_srp_over_http(api: EmulatorHandle) -> None:
    client = cognito(api)
    pool_id, client_id = outputs(api)["PoolId"], outputs(api)["SrpClientId"]
    tokens = aws_srp.AWSSRP("alice", "Passw0rd!", pool_id, client_id, client=client).authenticate_user()
    assert graphql(api, tokens["AuthenticationResult"]["IdToken"], "{ me { username } }")["data"] == {
        "me": {"username": "alice"}
    }
    with pytest.raises(ClientError) as err:
        aws_srp.AWSSRP("alice", "Passw0rd?", pool_id, client_id, client=client).authenticate_user()
    assert err.value.response["Error"]["Code"] == "NotAuthorizedException"
    with pytest.raises(ClientError) as err:  # PreventUserExistenceErrors: ENABLED on this client
        aws_srp.AWSSRP("nobody", "Passw0rd!", pool_id, client_id, client=client).authenticate_user()
    assert err.value.response["Error"]["Message"] == "Incorrect username or password."


def test_refresh_get_user_and_sign_out(api: EmulatorHandle) -> None:
    client = cognito(api)
    first = password_sign_in(api, "bob", "Passw0rd!")["AuthenticationResult"]
    refreshed = client.initiate_auth(
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": first["RefreshToken"]},
        ClientId=outputs(api)["WebClientId"],
    )["AuthenticationResult"]
    assert "RefreshToken" not in refreshed
    assert graphql(api, refreshed["IdToken"], "{ me { username } }")["data"] == {"me": {"username": "bob"}}
    user = client.get_user(AccessToken=refreshed["AccessToken"])
    assert user["Username"] == "bob"
    assert {"Name": "email", "Value": "bob@example.com"} in user["UserAttributes"]
    client.global_sign_out(AccessToken=refreshed["AccessToken"])
    with pytest.raises(ClientError) as err:
        client.get_user(AccessToken=refreshed["AccessToken"])
    assert err.value.response["Error"]["Message"] == "Access Token has been revoked"


def test_other_operations_say_not_emulated(api: EmulatorHandle) -> None:
    with pytest.raises(ClientError) as err:
        cognito(api).sign_up(ClientId=outputs(api)["WebClientId"], Username="new", Password="Passw0rd!")
    assert err.value.response["Error"]["Code"] == "NotEmulated"
    assert "SignUp" in err.value.response["Error"]["Message"]
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    with pytest.raises(ClientError) as err:  # a SigV4-signed admin call, as a function's boto3 makes
        cognito(api).admin_get_user(UserPoolId=outputs(api)["PoolId"], Username="alice")
    assert err.value.response["Error"]["Code"] == "NotEmulated"
    assert "AdminGetUser" in err.value.response["Error"]["Message"]


def test_browser_pages_from_loopback_only(api: EmulatorHandle) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-amz-target,x-amz-user-agent",
    }
    ok = httpx.options(api.base_url + "/", headers={**preflight, "Origin": "http://localhost:5173"}, timeout=10)
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "x-amz-target" in ok.headers["access-control-allow-headers"]
    foreign = httpx.options(api.base_url + "/", headers={**preflight, "Origin": "https://evil.example"}, timeout=10)
    assert foreign.status_code == 403 and "access-control-allow-origin" not in foreign.headers
    body = json.dumps({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": outputs(api)["WebClientId"]})
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
        "Origin": "https://evil.example",
    }
    assert httpx.post(api.base_url + "/", content=body, headers=headers, timeout=10).status_code == 403
    rebound = {**headers, "Origin": "http://evil.example", "Host": "evil.example"}
    assert httpx.post(api.base_url + "/", content=body, headers=rebound, timeout=10).status_code == 403


def test_users_from_a_file_and_the_command_line(appsync_emu: Callable[..., EmulatorHandle], tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    users.write_text("UserPool:\n  - {username: erin, password: Er1n-pass, groups: [admin, editor]}\n")
    api = appsync_emu(APP, users_file=users, users=("zed:Zed-pass1",))
    assert sorted(api.emulator.cognito.pools[outputs(api)["PoolId"]].users) == ["erin", "zed"]  # type: ignore[union-attr]
    erin = password_sign_in(api, "erin", "Er1n-pass")["AuthenticationResult"]
    assert graphql(api, erin["IdToken"], "{ me { groups } }")["data"] == {"me": {"groups": ["admin", "editor"]}}
    with pytest.raises(ClientError):
        password_sign_in(api, "alice", "Passw0rd!")  # the default users are not there


# --- Amplify v6's own signIn (node) ------------------------------------------------------------


def amplify_sign_in(api: EmulatorHandle, client: str, *args: str, pool: str = "PoolId") -> dict[str, dict[str, Any]]:
    from tests.integration.test_node_amplify import run_node

    config = {"cognitoEndpoint": api.base_url, "userPoolId": outputs(api)[pool], "userPoolClientId": client}
    events = run_node("amplify_signin.mjs", json.dumps(config), *args)
    return {e["event"]: e for e in events}


@pytest.mark.node
@pytest.mark.parametrize("flow", ["USER_SRP_AUTH", "USER_PASSWORD_AUTH"])
def test_amplify_sign_in_refresh_and_sign_out(api: EmulatorHandle, flow: str) -> None:
    events = amplify_sign_in(api, outputs(api)["WebClientId"], "alice", "Passw0rd!", flow)
    assert events["signIn"] == {"event": "signIn", "isSignedIn": True, "step": "DONE"}
    assert events["session"]["username"] == "alice"
    me = graphql(api, events["session"]["idToken"], "{ me { username groups } adminSecret }")
    assert me == {"data": {"me": {"username": "alice", "groups": ["admin"]}, "adminSecret": "for admins"}}
    assert events["attributes"]["attributes"]["email"] == "alice@example.com"
    assert events["refreshed"]["iat"] > events["session"]["iat"]
    assert graphql(api, events["refreshed"]["idToken"], "{ me { username } }")["data"] == {"me": {"username": "alice"}}
    assert events["signedOut"]["tokens"] is None


@pytest.mark.node
def test_amplify_wrong_password_and_disallowed_flow(api: EmulatorHandle) -> None:
    wrong = amplify_sign_in(api, outputs(api)["WebClientId"], "alice", "Wrong-Passw0rd", "USER_SRP_AUTH")
    assert wrong["signIn-error"]["name"] == "NotAuthorizedException"
    assert wrong["signIn-error"]["message"] == "Incorrect username or password."
    flow = amplify_sign_in(api, outputs(api)["SrpClientId"], "alice", "Passw0rd!", "USER_PASSWORD_AUTH")
    assert flow["signIn-error"]["name"] == "InvalidParameterException"
    assert flow["signIn-error"]["message"] == "USER_PASSWORD_AUTH flow not enabled for this client"


@pytest.mark.node
def test_amplify_temporary_password(appsync_emu: Callable[..., EmulatorHandle], tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    users.write_text("'*':\n  - {username: carol, password: Temp0rary!, temporary: true}\n")
    api = appsync_emu(APP, users_file=users)
    client = outputs(api)["SrpClientId"]
    events = amplify_sign_in(api, client, "carol", "Temp0rary!", "USER_SRP_AUTH", "N3w-Passw0rd!")
    assert events["signIn"]["step"] == "CONFIRM_SIGN_IN_WITH_NEW_PASSWORD_REQUIRED"
    assert events["confirmSignIn"] == {"event": "confirmSignIn", "isSignedIn": True, "step": "DONE"}
    again = amplify_sign_in(api, client, "carol", "N3w-Passw0rd!", "USER_SRP_AUTH")
    assert again["signIn"]["isSignedIn"] is True


@pytest.mark.node
def test_amplify_signs_in_with_an_email(api: EmulatorHandle) -> None:
    client = outputs(api)["EmailClientId"]
    events = amplify_sign_in(api, client, "Bob@Example.com", "Passw0rd!", "USER_SRP_AUTH", pool="EmailPoolId")
    assert events["signIn"]["isSignedIn"] is True
    assert events["session"]["username"] == "bob"
    assert events["refreshed"]["iat"] > events["session"]["iat"]


def test_malformed_requests_get_cognitos_errors_never_a_500(api: EmulatorHandle) -> None:
    client = outputs(api)["WebClientId"]
    target = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSCognitoIdentityProviderService."}
    srp = json.dumps({"AuthFlow": "USER_SRP_AUTH", "ClientId": client, "AuthParameters": {"USERNAME": "alice"}})
    bodies = [
        ("InitiateAuth", b"{not json"),
        ("InitiateAuth", b"\xff\xfe"),
        ("InitiateAuth", b"[1]"),
        ("InitiateAuth", b'{"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": "' + client.encode() + b'", "x": "\\ud800"}'),
        ("InitiateAuth", b"[" * 500 + b"]" * 500),
        ("InitiateAuth", json.dumps({"AuthFlow": 5, "ClientId": client}).encode()),
        ("InitiateAuth", srp.encode()),
        (
            "RespondToAuthChallenge",
            json.dumps(
                {
                    "ClientId": client,
                    "ChallengeName": "PASSWORD_VERIFIER",
                    "ChallengeResponses": {
                        "USERNAME": "alice",
                        "PASSWORD_CLAIM_SECRET_BLOCK": "nope",
                        "PASSWORD_CLAIM_SIGNATURE": "é",
                        "TIMESTAMP": "x",
                    },
                }
            ).encode(),
        ),
        ("GetTokensFromRefreshToken", json.dumps({"ClientId": client, "RefreshToken": "é.é"}).encode()),
        ("GetUser", json.dumps({"AccessToken": "é.é.é"}).encode()),
        ("InitiateAuth", b"x" * 300_000),
    ]
    for operation, body in bodies:
        headers = {**target, "X-Amz-Target": target["X-Amz-Target"] + operation}
        reply = httpx.post(api.base_url + "/", content=body, headers=headers, timeout=10)
        assert 400 <= reply.status_code < 500, (operation, body[:60], reply.status_code, reply.text)
        assert reply.json()["__type"] in (
            "SerializationException",
            "InvalidParameterException",
            "NotAuthorizedException",
        ), reply.text
