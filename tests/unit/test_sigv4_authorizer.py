"""The Authorizer applies SigV4 as AWS checks it: the API's region, the host called, the emulator's token."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.session import get_session
from gql.transport.appsync_auth import AppSyncIAMAuthentication

from appsync_emu.auth.authorizer import Authorizer
from appsync_emu.auth.context import AuthContext, AuthError
from appsync_emu.auth.iam import endpoint_hosts
from appsync_emu.auth.sigv4 import SIGNATURE_MISMATCH
from appsync_emu.config.loader import load_project
from appsync_emu.config.model import GraphQLApi, LocalEndpoints
from appsync_emu.settings import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_SESSION_TOKEN
from tests.conftest import APPS

ENDPOINTS = LocalEndpoints("127.0.0.1", 4000)
CREDENTIALS = {DEFAULT_ACCESS_KEY_ID: DEFAULT_SECRET_ACCESS_KEY}
BODY = b'{"query":"query { iamOnly }"}'
#: The paths the real-time glue passes (transport/realtime.py), which mark a header object.
CONNECT_PATHS = ("/graphql/connect", "/connect", "/graphql/realtime/connect")


@pytest.fixture(scope="module")
def api() -> GraphQLApi:
    """The core test API: API_KEY by default, AWS_IAM additional."""
    return load_project(APPS / "core", ENDPOINTS).api


def authorizer(api: GraphQLApi, region: str = "us-east-1") -> Authorizer:
    """The Authorizer as app.py builds it: with the project's region and the server's endpoints."""
    return Authorizer(api, {}, CREDENTIALS, region=region, endpoints=ENDPOINTS)


def signed_post(
    url: str = "http://127.0.0.1:4000/graphql", *, region: str = "us-east-1", token: str | None = DEFAULT_SESSION_TOKEN
) -> dict[str, str]:
    """Lower-cased headers of a POST botocore signs for `url`, as the HTTP endpoint receives them."""
    request = AWSRequest(method="POST", url=url, data=BODY, headers={"content-type": "application/json"})
    SigV4Auth(Credentials(DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, token), "appsync", region).add_auth(request)
    return {**{k.lower(): v for k, v in request.headers.items()}, "host": urlsplit(url).netloc}


def gql_connect_header(
    host: str, *, region: str = "us-east-1", token: str | None = DEFAULT_SESSION_TOKEN
) -> dict[str, str]:
    """gql's IAM header object for the connection, signed for `host`."""
    session = get_session()
    session.set_credentials(DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, token)
    header = AppSyncIAMAuthentication(host=host, region_name=region, session=session).get_headers()
    return {str(k).lower(): str(v) for k, v in header.items()}


def refused(auth: Authorizer, headers: dict[str, str]) -> AuthError:
    with pytest.raises(AuthError) as caught:
        asyncio.run(auth.authorize(headers, body=BODY))
    return caught.value


def connect(auth: Authorizer, header: dict[str, str]) -> AuthContext:
    return asyncio.run(auth.authorize(header, path="/graphql/connect", body=b"{}", iam_paths=CONNECT_PATHS))


def test_this_servers_host_forms() -> None:
    assert endpoint_hosts(ENDPOINTS) == ("127.0.0.1:4000", "localhost:4000", "[::1]:4000")
    assert endpoint_hosts(LocalEndpoints("LocalHost", 4000)) == ("localhost:4000", "127.0.0.1:4000", "[::1]:4000")
    assert endpoint_hosts(LocalEndpoints("192.168.1.20", 4000)) == ("192.168.1.20:4000",)
    assert endpoint_hosts(LocalEndpoints("api.test", 443, "https")) == ("api.test:443", "api.test")
    assert endpoint_hosts(LocalEndpoints("::1", 8080)) == ("[::1]:8080", "127.0.0.1:8080", "localhost:8080")


def test_http_request_signed_by_the_emulators_key_and_token_is_accepted(api: GraphQLApi) -> None:
    auth = asyncio.run(authorizer(api).authorize(signed_post(), body=BODY))
    assert auth.mode.value == "AWS_IAM"


def test_http_request_scoped_to_another_region_is_refused(api: GraphQLApi) -> None:
    error = refused(authorizer(api), signed_post(region="eu-west-1"))
    assert (error.status, error.error_type) == (403, "InvalidSignatureException")
    assert error.message == "Credential should be scoped to a valid region, not 'eu-west-1'. "
    assert asyncio.run(authorizer(api, region="eu-west-1").authorize(signed_post(region="eu-west-1"), body=BODY))


def test_http_request_without_or_with_a_wrong_session_token_is_refused(api: GraphQLApi) -> None:
    for token in (None, "not-the-token"):
        error = refused(authorizer(api), signed_post(token=token))
        assert (error.status, error.error_type) == (403, "UnrecognizedClientException")
        assert error.message == "The security token included in the request is invalid."


def test_http_request_signed_for_another_host_than_its_host_header_is_refused(api: GraphQLApi) -> None:
    headers = signed_post("http://abc.appsync-api.us-east-1.amazonaws.com/graphql")
    headers["host"] = "127.0.0.1:4000"
    error = refused(authorizer(api), headers)
    assert error.error_type == "InvalidSignatureException" and error.message.startswith(SIGNATURE_MISMATCH)


def test_http_request_is_checked_against_the_host_it_was_sent_to(api: GraphQLApi) -> None:
    """Over HTTP the signed host is the Host header the server received, whatever name reached it."""
    headers = signed_post("http://emulator.internal:4000/graphql")
    assert asyncio.run(authorizer(api).authorize(headers, body=BODY)).mode.value == "AWS_IAM"


def test_header_object_for_this_server_is_accepted_in_each_loopback_form(api: GraphQLApi) -> None:
    for host in ("127.0.0.1:4000", "localhost:4000", "[::1]:4000"):
        assert connect(authorizer(api), gql_connect_header(host)).mode.value == "AWS_IAM"


@pytest.mark.parametrize("host", ["abc.appsync-api.us-east-1.amazonaws.com", "127.0.0.1:4001", "evil.example:4000"])
def test_header_object_signed_for_another_host_is_refused(api: GraphQLApi, host: str) -> None:
    with pytest.raises(AuthError) as caught:
        connect(authorizer(api), gql_connect_header(host))
    error = caught.value
    assert (error.status, error.error_type) == (403, "InvalidSignatureException")
    assert error.message.startswith(SIGNATURE_MISMATCH) and "\nhost:127.0.0.1:4000\n" in error.message


def test_header_object_in_another_region_or_without_its_token_is_refused(api: GraphQLApi) -> None:
    with pytest.raises(AuthError) as caught:
        connect(authorizer(api), gql_connect_header("127.0.0.1:4000", region="ap-south-1"))
    assert caught.value.message == "Credential should be scoped to a valid region, not 'ap-south-1'. "
    with pytest.raises(AuthError) as caught:
        connect(authorizer(api), gql_connect_header("127.0.0.1:4000", token=None))
    assert caught.value.error_type == "UnrecognizedClientException"


def test_without_endpoints_the_header_objects_host_is_not_checked(api: GraphQLApi) -> None:
    auth = Authorizer(api, {}, CREDENTIALS)
    assert connect(auth, gql_connect_header("elsewhere.example:4000")).mode.value == "AWS_IAM"
