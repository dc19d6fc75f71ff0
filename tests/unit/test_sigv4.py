"""SigV4 verification accepts what botocore, gql and Amplify sign, and rejects what AWS rejects."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.session import get_session
from gql.transport.appsync_auth import AppSyncIAMAuthentication

from appsync_emu.auth.sigv4 import (
    AWS_REGION_NAME,
    SIGNATURE_MISMATCH,
    IamCredential,
    IamPrincipal,
    SigV4Error,
    emulator_credentials,
    identity_dict,
    verify_header_object,
    verify_sigv4,
)
from appsync_emu.settings import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_SESSION_TOKEN

ACCESS_KEY = "AKIAEMULATOR0000001"
SECRET = "emulator-secret-key"
TOKEN = "emulator-session-token"
HOST = "127.0.0.1:4000"
BODY = b'{"query":"mutation { publish(msg: \\"hi\\") { msg } }","variables":{}}'
KEYS = {ACCESS_KEY: SECRET}
NO_KEYS: dict[str, str] = {}


def sign(
    *,
    body: bytes = BODY,
    url: str = f"http://{HOST}/graphql",
    service: str = "appsync",
    region: str = "us-east-1",
    secret: str = SECRET,
    token: str | None = TOKEN,
    headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """The headers a Lambda publisher sends: botocore SigV4 on a POST, as boto3/requests-aws4auth do."""
    request = AWSRequest(
        method="POST", url=url, data=body, headers={"content-type": "application/json", **(headers or {})}
    )
    SigV4Auth(Credentials(ACCESS_KEY, secret, token), service, region).add_auth(request)
    signed = dict(request.headers.items())
    signed["Host"] = urlsplit(url).netloc
    return signed


def verify(
    headers: dict[str, str],
    body: bytes = BODY,
    path: str = "/graphql",
    now: float | None = None,
    max_skew_s: float = 300,
) -> IamPrincipal:
    return verify_sigv4("POST", path, "", headers, body, KEYS.get, now=now, max_skew_s=max_skew_s)


def rejected(
    headers: dict[str, str],
    body: bytes = BODY,
    path: str = "/graphql",
    now: float | None = None,
    max_skew_s: float = 300,
) -> SigV4Error:
    with pytest.raises(SigV4Error) as caught:
        verify(headers, body, path, now, max_skew_s)
    return caught.value


# --- HTTP requests signed by botocore -------------------------------------------------


def test_botocore_signed_post_is_accepted_and_names_the_caller() -> None:
    principal = verify(sign())
    assert principal.access_key_id == ACCESS_KEY
    assert principal.account_id == "123456789012"
    assert principal.user_arn == f"arn:aws:iam::123456789012:user/{ACCESS_KEY}"
    assert principal.username == ACCESS_KEY
    assert principal.region == "us-east-1"
    assert principal.session_token == TOKEN


def test_any_region_is_accepted() -> None:
    assert verify(sign(region="ap-southeast-2")).region == "ap-southeast-2"


def test_header_names_are_case_insensitive() -> None:
    headers = {name.upper(): value for name, value in sign().items()}
    assert verify(headers).access_key_id == ACCESS_KEY


def test_tampered_body_is_a_signature_mismatch_with_the_canonical_request() -> None:
    error = rejected(sign(), BODY.replace(b"hi", b"ho"))
    assert (error.error_type, error.status) == ("InvalidSignatureException", 403)
    assert error.message.startswith(
        SIGNATURE_MISMATCH + "\n\nThe Canonical String for this request should have been\n'POST\n/graphql\n"
    )
    assert "\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n" in error.message


def test_wrong_secret_is_a_signature_mismatch() -> None:
    error = rejected(sign(secret="not-the-secret"))
    assert error.error_type == "InvalidSignatureException"
    assert error.message.startswith(SIGNATURE_MISMATCH)


def test_tampered_signed_header_is_a_signature_mismatch() -> None:
    headers = sign()
    headers["content-type"] = "text/plain"
    assert rejected(headers).message.startswith(SIGNATURE_MISMATCH)


def test_unknown_access_key_is_an_unrecognized_client() -> None:
    with pytest.raises(SigV4Error) as caught:
        verify_sigv4("POST", "/graphql", "", sign(), BODY, NO_KEYS.get)
    error = caught.value
    assert (error.error_type, error.status) == ("UnrecognizedClientException", 403)
    assert error.message == "The security token included in the request is invalid."


def test_wrong_service_is_rejected() -> None:
    error = rejected(sign(service="execute-api"))
    assert (error.error_type, error.status) == ("InvalidSignatureException", 403)
    assert error.message == "Credential should be scoped to correct service: 'appsync'. "


def test_stale_signature_has_expired() -> None:
    headers = sign()
    verify(headers, now=time.time() + 290)
    error = rejected(headers, now=time.time() + 301)
    assert (error.error_type, error.status) == ("InvalidSignatureException", 403)
    assert error.message.startswith(f"Signature expired: {headers['X-Amz-Date']} is now earlier than ")
    assert error.message.endswith(" - 5 min.)")


def test_signature_from_the_future_is_not_yet_current() -> None:
    error = rejected(sign(), now=time.time() - 301)
    assert error.message.startswith("Signature not yet current: ")
    assert error.message.endswith(" + 5 min.)")


def test_skew_limit_is_configurable() -> None:
    assert rejected(sign(), now=time.time() + 61, max_skew_s=60).message.endswith(" - 1 min.)")


def test_session_token_is_checked_when_the_credential_has_one() -> None:
    def keys(access_key: str) -> IamCredential | None:
        return IamCredential(SECRET, session_token=TOKEN) if access_key == ACCESS_KEY else None

    assert verify_sigv4("POST", "/graphql", "", sign(), BODY, keys).session_token == TOKEN
    for token in ("another-token", None):
        with pytest.raises(SigV4Error) as caught:
            verify_sigv4("POST", "/graphql", "", sign(token=token), BODY, keys)
        assert caught.value.error_type == "UnrecognizedClientException"


def test_security_token_is_covered_by_the_signature() -> None:
    headers = sign()
    headers["X-Amz-Security-Token"] = "swapped"
    assert rejected(headers).message.startswith(SIGNATURE_MISMATCH)


def test_credential_details_flow_into_the_principal_and_identity() -> None:
    credential = IamCredential(
        SECRET,
        account_id="111122223333",
        user_arn="arn:aws:sts::111122223333:assumed-role/publisher-role/publisher",
        username="AROAEXAMPLE:publisher",
    )
    principal = verify_sigv4("POST", "/graphql", "", sign(), BODY, {ACCESS_KEY: credential}.get)
    assert identity_dict(principal, ["10.0.0.1", "127.0.0.1"]) == {
        "accountId": "111122223333",
        "cognitoIdentityAuthProvider": None,
        "cognitoIdentityAuthType": None,
        "cognitoIdentityId": None,
        "cognitoIdentityPoolId": None,
        "sourceIp": ["10.0.0.1", "127.0.0.1"],
        "userArn": "arn:aws:sts::111122223333:assumed-role/publisher-role/publisher",
        "username": "AROAEXAMPLE:publisher",
    }
    assert identity_dict(principal, "127.0.0.1")["sourceIp"] == ["127.0.0.1"]
    assert identity_dict(principal, None)["sourceIp"] == []


# --- Malformed requests ---------------------------------------------------------------


def test_missing_authorization_header_is_unauthorized() -> None:
    headers = sign()
    del headers["Authorization"]
    error = rejected(headers)
    assert (error.error_type, error.status) == ("UnauthorizedException", 401)
    assert error.message == "Valid authorization header not provided."


def test_authorization_without_signature_is_incomplete() -> None:
    headers = sign()
    headers["Authorization"] = headers["Authorization"].split(", Signature=")[0]
    error = rejected(headers)
    assert (error.error_type, error.status) == ("IncompleteSignatureException", 400)
    assert error.message.startswith("Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC")


def test_malformed_credential_is_incomplete() -> None:
    headers = sign()
    headers["Authorization"] = headers["Authorization"].replace("/us-east-1/", "/")
    error = rejected(headers)
    assert error.error_type == "IncompleteSignatureException"
    assert error.message.startswith("Credential must have exactly 5 slash-delimited elements")


def test_other_algorithms_are_incomplete() -> None:
    headers = sign()
    headers["Authorization"] = headers["Authorization"].replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256")
    assert rejected(headers).error_type == "IncompleteSignatureException"


def test_missing_date_is_incomplete() -> None:
    headers = sign()
    del headers["X-Amz-Date"]
    error = rejected(headers)
    assert error.error_type == "IncompleteSignatureException"
    assert "requires existence of either a 'X-Amz-Date' or a 'Date' header" in error.message


def test_malformed_date_is_incomplete() -> None:
    headers = sign()
    headers["X-Amz-Date"] = "2025-01-01T00:00:00Z"
    assert rejected(headers).message.startswith("Date must be in ISO-8601 'basic format'.")


def test_scope_date_must_match_the_request_date() -> None:
    headers = sign()
    scope_date = headers["X-Amz-Date"][:8]
    headers["Authorization"] = headers["Authorization"].replace(f"/{scope_date}/", "/20000101/")
    error = rejected(headers)
    assert error.error_type == "InvalidSignatureException"
    assert error.message.startswith("Date in Credential scope does not match YYYYMMDD")


def test_host_must_be_signed() -> None:
    headers = sign()
    headers["Authorization"] = headers["Authorization"].replace("host;", "")
    assert rejected(headers).message == "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."


def test_signed_header_missing_from_the_request_is_a_mismatch_with_a_detail() -> None:
    headers = sign()
    del headers["content-type"]
    error = rejected(headers)
    assert error.message.startswith(SIGNATURE_MISMATCH)
    assert error.detail == "signed headers missing from the request: content-type"


# --- Paths, query strings and payload hashes ------------------------------------------


def test_percent_encoded_path_is_double_encoded_as_botocore_does() -> None:
    headers = sign(url=f"http://{HOST}/api/v1%20beta/graphql")
    assert verify(headers, path="/api/v1%20beta/graphql").access_key_id == ACCESS_KEY
    assert rejected(headers, path="/api/v1 beta/graphql").message.startswith(SIGNATURE_MISMATCH)


def test_query_string_is_part_of_the_signature() -> None:
    headers = sign(url=f"http://{HOST}/graphql?b=2&a=1")
    assert verify_sigv4("POST", "/graphql", "b=2&a=1", headers, BODY, KEYS.get).access_key_id == ACCESS_KEY
    with pytest.raises(SigV4Error):
        verify_sigv4("POST", "/graphql", "b=3&a=1", headers, BODY, KEYS.get)


def test_unsigned_payload_leaves_the_body_unchecked() -> None:
    headers = sign(headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    assert verify(headers, b"anything").access_key_id == ACCESS_KEY


def test_declared_payload_hash_must_match_the_body() -> None:
    import hashlib

    headers = sign(headers={"X-Amz-Content-SHA256": hashlib.sha256(BODY).hexdigest()})
    assert verify(headers).access_key_id == ACCESS_KEY
    error = rejected(headers, b"other body")
    assert (error.error_type, error.status) == ("XAmzContentSHA256Mismatch", 400)


def test_presigned_url_is_accepted_until_it_expires() -> None:
    request = AWSRequest(method="GET", url=f"http://{HOST}/graphql?x=1")
    SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET, TOKEN), "appsync", "eu-west-1", expires=60).add_auth(request)
    parts = urlsplit(request.url)
    headers = {"host": HOST}
    principal = verify_sigv4("GET", parts.path, parts.query, headers, b"", KEYS.get)
    assert principal.region == "eu-west-1" and principal.session_token == TOKEN
    with pytest.raises(SigV4Error) as caught:
        verify_sigv4("GET", parts.path, parts.query, headers, b"", KEYS.get, now=time.time() + 61)
    assert caught.value.message.startswith("Signature expired: ")
    tampered = parts.query.replace("x=1", "x=2")
    with pytest.raises(SigV4Error):
        verify_sigv4("GET", parts.path, tampered, headers, b"", KEYS.get)


# --- Real-time header objects ---------------------------------------------------------


@pytest.fixture
def gql_auth() -> AppSyncIAMAuthentication:
    session = get_session()
    session.set_credentials(ACCESS_KEY, SECRET, TOKEN)
    return AppSyncIAMAuthentication(host=HOST, region_name="us-east-1", session=session)


def test_gql_connection_header_object_is_accepted(gql_auth: AppSyncIAMAuthentication) -> None:
    header = gql_auth.get_headers()
    assert header["host"] == HOST
    principal = verify_header_object(header, path="/graphql/connect", body=b"{}", credentials=KEYS.get)
    assert principal.access_key_id == ACCESS_KEY


def test_gql_start_header_object_is_accepted_for_its_payload_data(gql_auth: AppSyncIAMAuthentication) -> None:
    data = json.dumps({"query": "subscription S { onPost { id } }", "variables": {}}, separators=(",", ":"))
    header = gql_auth.get_headers(data)
    principal = verify_header_object(header, path="/graphql", body=data.encode(), credentials=KEYS.get)
    assert principal.session_token == TOKEN
    with pytest.raises(SigV4Error) as caught:
        verify_header_object(header, path="/graphql", body=data.replace("id", "ok").encode(), credentials=KEYS.get)
    assert caught.value.message.startswith(SIGNATURE_MISMATCH)


def test_gql_header_objects_pass_when_the_api_is_served_on_another_path(
    gql_auth: AppSyncIAMAuthentication,
) -> None:
    connect = gql_auth.get_headers()
    verify_header_object(connect, path="/api/connect", body=b"{}", credentials=KEYS.get)
    start = gql_auth.get_headers('{"query":"subscription { s }"}')
    verify_header_object(start, path="/api", body=b'{"query":"subscription { s }"}', credentials=KEYS.get)


def test_connection_header_object_is_not_valid_for_a_start(gql_auth: AppSyncIAMAuthentication) -> None:
    header = gql_auth.get_headers()
    with pytest.raises(SigV4Error):
        verify_header_object(header, path="/graphql", body=b'{"query":"x"}', credentials=KEYS.get)


def test_header_object_of_an_unknown_key_is_rejected(gql_auth: AppSyncIAMAuthentication) -> None:
    with pytest.raises(SigV4Error) as caught:
        header = gql_auth.get_headers()
        verify_header_object(header, path="/graphql/connect", body=b"{}", credentials=NO_KEYS.get)
    assert caught.value.error_type == "UnrecognizedClientException"


def amplify_header_object(endpoint: str, canonical_uri: str, payload: str) -> dict[str, str]:
    """Amplify v6's header object: its constant headers, signed for `endpoint + canonical_uri`."""
    headers = {
        "accept": "application/json, text/javascript",
        "content-encoding": "amz-1.0",
        "content-type": "application/json; charset=UTF-8",
    }
    request = AWSRequest(method="POST", url=endpoint + canonical_uri, data=payload.encode(), headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET, TOKEN), "appsync", "us-east-1").add_auth(request)
    return {**dict(request.headers.items()), "host": urlsplit(endpoint).netloc}


def test_amplify_style_header_objects_on_the_api_path_are_accepted() -> None:
    endpoint = f"https://{HOST}/api"
    connect = amplify_header_object(endpoint, "/connect", "{}")
    verify_header_object(connect, path="/api/connect", body=b"{}", credentials=KEYS.get)
    data = '{"query":"subscription { s }","variables":{}}'
    start = amplify_header_object(endpoint, "", data)
    verify_header_object(start, path="/api", body=data.encode(), credentials=KEYS.get)


def test_stale_header_object_has_expired(gql_auth: AppSyncIAMAuthentication) -> None:
    header = gql_auth.get_headers()
    with pytest.raises(SigV4Error) as caught:
        verify_header_object(header, path="/graphql/connect", body=b"{}", credentials=KEYS.get, now=time.time() + 600)
    assert caught.value.message.startswith("Signature expired: ")


# --- The API's region, this server's host, the emulator's session token -------------------------


def test_a_scope_in_another_region_than_the_apis_is_refused_with_awss_text() -> None:
    assert verify_sigv4("POST", "/graphql", "", sign(), BODY, KEYS.get, region="us-east-1").region == "us-east-1"
    with pytest.raises(SigV4Error) as caught:
        verify_sigv4("POST", "/graphql", "", sign(region="eu-west-1"), BODY, KEYS.get, region="us-east-1")
    assert (caught.value.error_type, caught.value.status) == ("InvalidSignatureException", 403)
    assert caught.value.message == "Credential should be scoped to a valid region, not 'eu-west-1'. "


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-2", "ap-southeast-5", "us-gov-west-1", "cn-northwest-1"])
def test_a_region_pattern_accepts_every_aws_region_name(region: str) -> None:
    signed = sign(region=region)
    assert verify_sigv4("POST", "/graphql", "", signed, BODY, KEYS.get, region=AWS_REGION_NAME).region == region


@pytest.mark.parametrize("region", ["nowhere", "EU-WEST-2", "eu-west", "eu-west-2x"])
def test_a_region_pattern_refuses_what_is_no_aws_region_name(region: str) -> None:
    with pytest.raises(SigV4Error) as caught:
        verify_sigv4("POST", "/graphql", "", sign(region=region), BODY, KEYS.get, region=AWS_REGION_NAME)
    assert caught.value.message == f"Credential should be scoped to a valid region, not '{region}'. "


def test_a_request_signed_for_another_host_is_a_mismatch_showing_the_host_called() -> None:
    headers = sign(url="http://appsync.example.com/graphql")
    headers["Host"] = HOST  # sent to this server anyway
    error = rejected(headers)
    assert error.error_type == "InvalidSignatureException"
    assert error.message.startswith(SIGNATURE_MISMATCH) and f"\nhost:{HOST}\n" in error.message


def test_the_service_can_be_bedrock() -> None:
    headers = sign(url=f"http://{HOST}/model/m%3A0/converse", service="bedrock")
    principal = verify_sigv4("POST", "/model/m%3A0/converse", "", headers, BODY, KEYS.get, service="bedrock")
    assert principal.access_key_id == ACCESS_KEY
    with pytest.raises(SigV4Error) as caught:
        verify_sigv4("POST", "/model/m%3A0/converse", "", sign(service="appsync"), BODY, KEYS.get, service="bedrock")
    assert caught.value.message == "Credential should be scoped to correct service: 'bedrock'. "


def test_pre_signed_urls_can_be_refused() -> None:
    request = AWSRequest(method="POST", url=f"http://{HOST}/graphql")
    SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET, TOKEN), "appsync", "us-east-1", expires=60).add_auth(request)
    parts = urlsplit(request.url)
    with pytest.raises(SigV4Error) as caught:
        verify_sigv4("POST", parts.path, parts.query, {"host": HOST}, b"", KEYS.get, presigned=False)
    assert caught.value.error_type == "UnauthorizedException"


def test_the_emulators_own_key_signs_only_with_its_session_token() -> None:
    lookup = emulator_credentials({DEFAULT_ACCESS_KEY_ID: DEFAULT_SECRET_ACCESS_KEY, ACCESS_KEY: SECRET})
    assert lookup(DEFAULT_ACCESS_KEY_ID) == IamCredential(
        DEFAULT_SECRET_ACCESS_KEY, session_token=DEFAULT_SESSION_TOKEN
    )
    assert lookup(ACCESS_KEY) == SECRET  # a key of the user's own: long-term, no token
    assert lookup("AKIAUNKNOWN") is None

    def signed(token: str | None) -> dict[str, str]:
        request = AWSRequest(method="POST", url=f"http://{HOST}/graphql", data=BODY)
        SigV4Auth(
            Credentials(DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, token), "appsync", "us-east-1"
        ).add_auth(request)
        return {**dict(request.headers.items()), "host": HOST}

    assert verify_sigv4("POST", "/graphql", "", signed(DEFAULT_SESSION_TOKEN), BODY, lookup).session_token
    for token in (None, "another-token"):
        with pytest.raises(SigV4Error) as caught:
            verify_sigv4("POST", "/graphql", "", signed(token), BODY, lookup)
        assert (caught.value.error_type, caught.value.status) == ("UnrecognizedClientException", 403)
        assert caught.value.message == "The security token included in the request is invalid."


SERVER_HOSTS = ("127.0.0.1:4000", "localhost:4000", "[::1]:4000")


def test_a_header_object_must_be_signed_for_this_servers_host(gql_auth: AppSyncIAMAuthentication) -> None:
    header = gql_auth.get_headers()
    connect = {"path": "/graphql/connect", "body": b"{}", "credentials": KEYS.get}
    verify_header_object(header, hosts=SERVER_HOSTS, **connect)  # type: ignore[arg-type]
    session = get_session()
    session.set_credentials(ACCESS_KEY, SECRET, TOKEN)
    for host in ("localhost:4000", "[::1]:4000"):
        other_form = AppSyncIAMAuthentication(host=host, region_name="us-east-1", session=session).get_headers()
        verify_header_object(other_form, hosts=SERVER_HOSTS, **connect)  # type: ignore[arg-type]
    elsewhere = AppSyncIAMAuthentication(host="abc.appsync-api.us-east-1.amazonaws.com", session=session)
    with pytest.raises(SigV4Error) as caught:
        verify_header_object(elsewhere.get_headers(), hosts=SERVER_HOSTS, **connect)  # type: ignore[arg-type]
    error = caught.value
    assert (error.error_type, error.status) == ("InvalidSignatureException", 403)
    assert error.message.startswith(SIGNATURE_MISMATCH) and "\nhost:127.0.0.1:4000\n" in error.message
    assert error.detail is not None and "abc.appsync-api.us-east-1.amazonaws.com" in error.detail
    with pytest.raises(SigV4Error) as caught:
        verify_header_object(header, region="eu-west-1", **connect)  # type: ignore[arg-type]
    assert caught.value.message == "Credential should be scoped to a valid region, not 'us-east-1'. "


def test_a_signed_authority_pseudo_header_is_the_host_the_request_came_to() -> None:
    """The JavaScript SDK over HTTP/2 signs `:authority` and no `host`; the h2 bridge passes it as Host."""

    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    scope = f"{amz_date[:8]}/us-east-1/bedrock/aws4_request"
    names = ":authority;content-type;x-amz-date"
    canonical = "\n".join(
        [
            "POST",
            "/model/m/converse",
            "",
            f":authority:{HOST}\ncontent-type:application/json\nx-amz-date:{amz_date}\n",
            names,
            hashlib.sha256(BODY).hexdigest(),
        ]
    )
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{SECRET}".encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers = {
        "host": HOST,
        "content-type": "application/json",
        "x-amz-date": amz_date,
        "authorization": (
            f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, SignedHeaders={names}, Signature={signature}"
        ),
    }
    principal = verify_sigv4("POST", "/model/m/converse", "", headers, BODY, KEYS.get, service="bedrock")
    assert principal.access_key_id == ACCESS_KEY
    headers["host"] = "elsewhere:1"
    with pytest.raises(SigV4Error):
        verify_sigv4("POST", "/model/m/converse", "", headers, BODY, KEYS.get, service="bedrock")
