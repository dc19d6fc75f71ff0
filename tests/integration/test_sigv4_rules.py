"""AWS_IAM over the real server, as AppSync checks SigV4: the API's region, the host called, the token.

The core test API allows AWS_IAM (`iamOnly`), and its real-time endpoint accepts IAM header
objects at connect. Clients sign as gql, Amplify v6 and functions' botocore do.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.session import get_session
from gql import Client, gql
from gql.transport.appsync_auth import AppSyncIAMAuthentication
from gql.transport.appsync_websockets import AppSyncWebsocketsTransport
from gql.transport.exceptions import TransportServerError

from appsync_emu.auth.sigv4 import SIGNATURE_MISMATCH
from appsync_emu.pytest_plugin import EmulatorHandle
from appsync_emu.settings import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_SESSION_TOKEN

from .wsclient import RawClient

QUERY = json.dumps({"query": "query { iamOnly }"})
INVALID_TOKEN = "The security token included in the request is invalid."


def host_of(api: EmulatorHandle) -> str:
    """The host:port the server advertises (its GraphQL URL's)."""
    return api.graphql_url.split("/")[2]


def signed_post(
    api: EmulatorHandle,
    *,
    signed_url: str | None = None,
    region: str = "us-east-1",
    token: str | None = DEFAULT_SESSION_TOKEN,
) -> httpx.Response:
    """POST `query { iamOnly }` to the API, signed by botocore for `signed_url` (default: the API's URL)."""
    request = AWSRequest(
        method="POST", url=signed_url or api.graphql_url, data=QUERY, headers={"content-type": "application/json"}
    )
    SigV4Auth(Credentials(DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, token), "appsync", region).add_auth(request)
    return httpx.post(api.graphql_url, content=QUERY.encode(), headers=dict(request.headers), timeout=10)


def assert_refused(response: httpx.Response, error_type: str, message: str | None = None) -> str:
    assert response.status_code == 403, response.text
    assert response.headers["x-amzn-errortype"] == error_type
    (error,) = response.json()["errors"]
    assert error["errorType"] == error_type
    if message is not None:
        assert error["message"] == message
    return str(error["message"])


def gql_auth(host: str, *, region: str = "us-east-1", token: str | None = DEFAULT_SESSION_TOKEN) -> Any:
    session = get_session()
    session.set_credentials(DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, token)
    return AppSyncIAMAuthentication(host=host, region_name=region, session=session)


def amplify_connect_header(api: EmulatorHandle, host: str) -> dict[str, str]:
    """Amplify v6's IAM header object for the connection: its constant headers, signed for `{endpoint}/connect`."""
    headers = {
        "accept": "application/json, text/javascript",
        "content-encoding": "amz-1.0",
        "content-type": "application/json; charset=UTF-8",
    }
    endpoint = api.graphql_url.replace(host_of(api), host)
    request = AWSRequest(method="POST", url=f"{endpoint}/connect", data=b"{}", headers=headers)
    credentials = Credentials(DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_SESSION_TOKEN)
    SigV4Auth(credentials, "appsync", "us-east-1").add_auth(request)
    return {**dict(request.headers.items()), "host": host}


async def connect(api: EmulatorHandle, header: dict[str, str], via: str = "query") -> dict[str, Any]:
    """The server's answer to `connection_init` on a socket opened with `header`."""
    client = await RawClient.open(api, header=header, via=via)
    try:
        return await client.init()
    finally:
        await client.close()


def connection_error(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["type"] == "connection_error", answer
    (error,) = answer["payload"]["errors"]
    return error  # type: ignore[no-any-return]


# --- HTTP ------------------------------------------------------------------------------------------


def test_botocore_signed_with_the_emulators_key_and_token_is_answered(core_api: EmulatorHandle) -> None:
    r = signed_post(core_api)
    assert r.status_code == 200, r.text
    assert r.json() == {"data": {"iamOnly": "123456789012"}}


def test_a_credential_scoped_to_another_region_is_refused(core_api: EmulatorHandle) -> None:
    message = "Credential should be scoped to a valid region, not 'eu-west-1'. "
    assert_refused(signed_post(core_api, region="eu-west-1"), "InvalidSignatureException", message)


def test_a_request_signed_for_another_host_is_refused(core_api: EmulatorHandle) -> None:
    elsewhere = "https://abc.appsync-api.us-east-1.amazonaws.com/graphql"
    message = assert_refused(signed_post(core_api, signed_url=elsewhere), "InvalidSignatureException")
    assert message.startswith(SIGNATURE_MISMATCH) and f"\nhost:{host_of(core_api)}\n" in message


@pytest.mark.parametrize("token", [None, "not-the-token"])
def test_the_emulators_key_without_its_session_token_is_refused(core_api: EmulatorHandle, token: str | None) -> None:
    assert_refused(signed_post(core_api, token=token), "UnrecognizedClientException", INVALID_TOKEN)


# --- real-time header objects ----------------------------------------------------------------------


async def test_gql_connects_with_the_emulators_credentials(core_api: EmulatorHandle) -> None:
    url = core_api.realtime_url.replace("/graphql/realtime", "/graphql")
    transport = AppSyncWebsocketsTransport(url=url, auth=gql_auth(host_of(core_api)))
    async with Client(transport=transport):
        pass
    refused = AppSyncWebsocketsTransport(url=url, auth=gql_auth(host_of(core_api), token=None))
    with pytest.raises(TransportServerError):
        async with Client(transport=refused) as session:
            await session.execute(gql("query { iamOnly }"))


async def test_a_header_object_for_this_server_is_acknowledged_in_its_loopback_forms(
    core_api: EmulatorHandle,
) -> None:
    port = host_of(core_api).rsplit(":", 1)[1]
    assert (await connect(core_api, gql_auth(host_of(core_api)).get_headers()))["type"] == "connection_ack"
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        answer = await connect(core_api, amplify_connect_header(core_api, host), via="subprotocol")
        assert answer["type"] == "connection_ack", (host, answer)


@pytest.mark.parametrize("host", ["abc.appsync-api.us-east-1.amazonaws.com", "127.0.0.1:1", "evil.example"])
async def test_a_header_object_signed_for_another_host_is_refused(core_api: EmulatorHandle, host: str) -> None:
    error = connection_error(await connect(core_api, gql_auth(host).get_headers()))
    assert (error["errorType"], error["errorCode"]) == ("InvalidSignatureException", 403)
    assert error["message"].startswith(SIGNATURE_MISMATCH)
    assert f"\nhost:{host_of(core_api)}\n" in error["message"]


async def test_a_header_object_in_another_region_or_without_the_token_is_refused(core_api: EmulatorHandle) -> None:
    error = connection_error(await connect(core_api, gql_auth(host_of(core_api), region="eu-west-1").get_headers()))
    assert error["message"] == "Credential should be scoped to a valid region, not 'eu-west-1'. "
    error = connection_error(await connect(core_api, gql_auth(host_of(core_api), token="stale").get_headers()))
    assert (error["errorType"], error["message"]) == ("UnrecognizedClientException", INVALID_TOKEN)
