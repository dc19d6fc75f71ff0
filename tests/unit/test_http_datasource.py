"""The HTTP data source's mapping, SigV4 signing, endpoint routing and the NotEmulated answers, without sockets."""

from __future__ import annotations

import json

import pytest

from appsync_emu.auth.sigv4 import IamCredential, verify_sigv4
from appsync_emu.datasources.http import Signing, build_request, sign, to_result
from appsync_emu.endpoints import (
    Credentials,
    EndpointRouter,
    aws_service,
    error_reply,
    identify,
    parse_override,
    sdk_env_names,
)
from appsync_emu.support import NotEmulatedError

CREDS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")
NOW = 1_700_000_000.0


def test_the_request_object_becomes_method_url_headers_and_body() -> None:
    request = {
        "method": "POST",
        "resourcePath": "/v1/items",
        "params": {
            "query": {"limit": 10, "tag": ["a", "b c"], "on": True},
            "headers": {"Content-Type": "application/json"},
            "body": {"name": "x"},
        },
    }
    out = build_request(request, "https://api.example.com")
    assert out.method == "POST"
    assert out.url == "https://api.example.com/v1/items?limit=10&tag=a&tag=b%20c&on=true"
    assert out.headers == {"Content-Type": "application/json"} and out.body == b'{"name":"x"}'
    text = build_request({"method": "GET", "resourcePath": "/", "params": {"body": "plain"}}, "http://h")
    assert text.body == b"plain" and text.url == "http://h/"


@pytest.mark.parametrize(
    ("request_object", "words"),
    [
        ("GET /", "must be an object"),
        ({"method": "HEAD", "resourcePath": "/"}, "method must be one of"),
        ({"method": "GET", "resourcePath": "v1"}, "resourcePath must be a string starting with '/'"),
        ({"method": "GET", "resourcePath": "/", "params": {"headers": ["x"]}}, "params.headers"),
    ],
)
def test_a_malformed_request_object_says_what_is_wrong(request_object: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        build_request(request_object, "http://h")


def test_the_result_keeps_status_body_and_headers_with_repeats_joined() -> None:
    result = to_result(500, [("Content-Type", "text/plain"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")], "oops")
    assert result == {
        "statusCode": 500,
        "headers": {"Content-Type": "text/plain", "Set-Cookie": "a=1, b=2"},
        "body": "oops",
    }


def test_signing_matches_botocore_and_the_emulators_verifier() -> None:
    pytest.importorskip("botocore")
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    body = b'{"stateMachineArn":"arn"}'
    headers = {"host": "states.us-east-1.amazonaws.com", "content-type": "application/x-amz-json-1.0"}
    signing = Signing("us-east-1", "states")
    ours = sign("POST", "/a%20b/c?x=1&y=2", headers, body, signing, CREDS, now=NOW)

    request = AWSRequest("POST", "https://states.us-east-1.amazonaws.com/a%20b/c?x=1&y=2", data=body, headers=headers)
    request.context["timestamp"] = ours["x-amz-date"]
    auth = SigV4Auth(
        BotoCredentials(CREDS.access_key_id, CREDS.secret_access_key, CREDS.session_token), "states", "us-east-1"
    )
    auth._modify_request_before_signing(request)  # headers botocore adds: x-amz-date, the token
    signed_names = ";".join(sorted(ours["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")))
    assert auth.signed_headers(auth.headers_to_sign(request)) == signed_names
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    assert ours["authorization"].endswith(f"Signature={expected}")

    principal = verify_sigv4(
        "POST",
        "/a%20b/c",
        "x=1&y=2",
        ours,
        body,
        lambda key: IamCredential(CREDS.secret_access_key, session_token=CREDS.session_token),
        now=NOW,
        service="states",
        region="us-east-1",
    )
    assert principal.access_key_id == CREDS.access_key_id


@pytest.mark.parametrize(
    ("host", "service"),
    [
        ("states.us-east-1.amazonaws.com", "states"),
        ("bedrock-runtime.eu-west-3.amazonaws.com", "bedrock-runtime"),
        ("bedrock-runtime-fips.us-east-1.amazonaws.com", "bedrock-runtime"),
        ("abcdefghijklmnopqrstuvwxyz.appsync-api.us-east-1.amazonaws.com", "appsync-api"),
        ("x1y2.execute-api.us-east-1.amazonaws.com", "execute-api"),
        ("runtime.sagemaker.us-west-2.amazonaws.com", "runtime.sagemaker"),
        ("sts.amazonaws.com", "sts"),
        ("my-bucket.s3.amazonaws.com", "s3"),
        ("dynamodb.cn-north-1.amazonaws.com.cn", "dynamodb"),
        ("dynamodb.us-east-1.api.aws", "dynamodb"),
        ("api.example.com", None),
        ("127.0.0.1", None),
        ("amazonaws.com.evil.example", None),
    ],
)
def test_aws_hosts_name_their_service(host: str, service: str | None) -> None:
    assert aws_service(host) == service


def test_routing_served_mapped_unserved_and_other_endpoints() -> None:
    router = EndpointRouter(
        {"bedrock-runtime": "http://127.0.0.1:4000", "appsync-api": "http://127.0.0.1:4000"},
        {"states.us-east-1.amazonaws.com": "http://127.0.0.1:8083/"},
    )
    assert router.route("https://bedrock-runtime.us-east-1.amazonaws.com/").url == "http://127.0.0.1:4000"
    assert router.route("https://states.us-east-1.amazonaws.com").url == "http://127.0.0.1:8083"
    assert router.route("https://api.example.com:8443/base/").url == "https://api.example.com:8443/base"
    assert router.route("http://127.0.0.1:9000").local is False
    with pytest.raises(NotEmulatedError, match=r"does not emulate sqs; .*--endpoint-override https://sqs"):
        router.route("https://sqs.us-east-1.amazonaws.com")
    assert router.unserved("https://kendra.us-east-1.amazonaws.com") == "kendra"
    assert router.unserved("https://states.us-east-1.amazonaws.com") is None


def test_an_override_parses_to_host_and_local_url() -> None:
    assert parse_override("https://states.us-east-1.amazonaws.com=http://127.0.0.1:8083/") == (
        "states.us-east-1.amazonaws.com",
        "http://127.0.0.1:8083",
    )
    assert parse_override("sqs.us-east-1.amazonaws.com=http://localhost:9324")[0] == "sqs.us-east-1.amazonaws.com"
    with pytest.raises(ValueError, match="--endpoint-override"):
        parse_override("https://states.us-east-1.amazonaws.com")


@pytest.mark.parametrize(
    ("client", "prefix"),
    [
        ("stepfunctions", "states"),
        ("cloudwatch", "monitoring"),
        ("logs", "logs"),
        ("events", "events"),
        ("secretsmanager", "secretsmanager"),
        ("cognito-idp", "cognito-idp"),
        ("sqs", "sqs"),
        ("sns", "sns"),
        ("kendra", "kendra"),
        ("bedrock-agent-runtime", "bedrock-agent-runtime"),
        ("dynamodbstreams", "streams.dynamodb"),
        ("sagemaker-runtime", "runtime.sagemaker"),
    ],
)
def test_sdk_variable_names_are_the_service_ids_botocore_uses(client: str, prefix: str) -> None:
    pytest.importorskip("botocore")
    import botocore.session

    model = botocore.session.get_session().get_service_model(client)
    assert model.endpoint_prefix == prefix
    assert model.service_id.replace(" ", "_").upper() in sdk_env_names(prefix)


def _auth(service: str) -> dict[str, str]:
    credential = f"AKIAAPPSYNCEMULATOR0/20240101/us-east-1/{service}/aws4_request"
    return {"authorization": f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host, Signature=00"}


def test_calls_are_identified_by_protocol() -> None:
    sqs = identify("POST", "/", "", {**_auth("sqs"), "x-amz-target": "AmazonSQS.SendMessage"}, b"{}")
    assert sqs is not None and (sqs.service, sqs.operation, sqs.protocol) == ("sqs", "SendMessage", "json")
    cbor = identify(
        "POST",
        "/service/GraniteServiceVersion20100801/operation/PutMetricData",
        "",
        {**_auth("monitoring"), "smithy-protocol": "rpc-v2-cbor"},
        b"",
    )
    assert cbor is not None and (cbor.operation, cbor.protocol) == ("PutMetricData", "cbor")
    form = {**_auth("sns"), "content-type": "application/x-www-form-urlencoded"}
    sns = identify("POST", "/", "", form, b"Action=Publish&Version=2010-03-31")
    assert sns is not None and (sns.operation, sns.protocol) == ("Publish", "query")
    s3 = identify("GET", "/bucket", "list-type=2", _auth("s3"), b"")
    assert s3 is not None and (s3.operation, s3.protocol) == ("GET /bucket", "rest-xml")
    assert identify("POST", "/", "", {"content-type": "application/json"}, b"{}") is None


def test_the_error_reply_speaks_each_protocol() -> None:
    call = identify("POST", "/", "", {**_auth("kendra"), "x-amz-target": "AWSKendraFrontendService.Query"}, b"")
    assert call is not None
    status, headers, body = error_reply(call, "appsync-emu does not emulate kendra (Query)", "req-1")
    assert status == 501 and ("x-amzn-ErrorType", "NotEmulated") in headers
    assert json.loads(body) == {
        "__type": "com.amazonaws.appsyncemu#NotEmulated",
        "message": "appsync-emu does not emulate kendra (Query)",
    }
    cbor = identify(
        "POST", "/service/X/operation/Op", "", {**_auth("translate"), "smithy-protocol": "rpc-v2-cbor"}, b""
    )
    assert cbor is not None
    _, cbor_headers, cbor_body = error_reply(cbor, "m", "r")
    assert cbor_body[0] == 0xA2 and b"__type" in cbor_body and ("smithy-protocol", "rpc-v2-cbor") in cbor_headers
    query = identify("POST", "/", "Action=GetCallerIdentity", _auth("sts"), b"")
    assert query is not None
    _, _, xml = error_reply(query, "a < b", "r")
    assert b"<Code>NotEmulated</Code><Message>a &lt; b</Message>" in xml and b"<ErrorResponse>" in xml
