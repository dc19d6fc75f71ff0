"""HTTP data sources against local servers, and AWS calls the emulator does not serve, end to end.

Every server here listens on 127.0.0.1: a plain one that echoes the request, one that checks the
SigV4 signature with `appsync_emu.auth.sigv4` (it also stands in for Step Functions when mapped
with `endpoint_overrides`), one that accepts connections and never answers, and a port nothing
listens on. Functions' boto3 and JavaScript SDK calls to services nothing serves get the
emulator's `NotEmulated` answer; nothing leaves the machine.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from appsync_emu.auth.sigv4 import SigV4Error, emulator_credentials, verify_sigv4
from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from appsync_emu.settings import Settings
from tests.conftest import APPS
from tests.integration.conftest import gql_post

HTTP_APP = APPS / "http"
EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:Orders:from-the-stand-in"


class Recorder:
    """What a test server received, in order."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _Handler(BaseHTTPRequestHandler):
    recorder: Recorder

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _read(self) -> dict[str, Any]:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        seen = {"method": self.command, "path": self.path, "headers": headers, "body": body}
        self.recorder.requests.append(seen)
        return seen

    def _reply(self, status: int, payload: Any, headers: list[tuple[str, str]] = ()) -> None:  # type: ignore[assignment]
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def plain() -> Iterator[tuple[str, Recorder]]:
    """Echoes the request; `/status/<n>` answers status n; sends a custom and a repeated header."""
    recorder = Recorder()

    class Plain(_Handler):
        def handle_one(self) -> None:
            seen = self._read()
            status = int(self.path.split("/status/")[1].split("?")[0]) if "/status/" in self.path else 200
            echo = {**seen, "body": seen["body"].decode()}
            self._reply(status, echo, [("X-Custom", "yes"), ("X-Twice", "a"), ("X-Twice", "b")])

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_one

    Plain.recorder = recorder
    for url in _serve(Plain):
        yield url, recorder


@pytest.fixture(scope="module")
def signed() -> Iterator[tuple[str, Recorder]]:
    """Checks SigV4 with the emulator's credentials: 403 with the reason, or 200 naming the scope.

    As a Step Functions stand-in it answers StartExecution (any signed `X-Amz-Target` call).
    """
    recorder = Recorder()
    credentials = emulator_credentials(Settings().iam_credentials)

    class Signed(_Handler):
        def do_POST(self) -> None:
            seen = self._read()
            path, _, query = self.path.partition("?")
            scope = seen["headers"].get("authorization", "").split("Credential=")[-1].split(",")[0].split("/")
            service = scope[3] if len(scope) == 5 else "?"
            try:
                verify_sigv4(self.command, path, query, seen["headers"], seen["body"], credentials, service=service)
            except SigV4Error as err:
                self._reply(403, {"error": err.error_type, "message": err.message})
                return
            if "x-amz-target" in seen["headers"]:
                self._reply(200, {"executionArn": EXECUTION_ARN, "startDate": 1.7e9})
                return
            self._reply(200, {"verified": True, "region": scope[2], "service": service})

        do_GET = do_POST

    Signed.recorder = recorder
    for url in _serve(Signed):
        yield url, recorder


@pytest.fixture(scope="module")
def silent() -> Iterator[str]:
    """Accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def api(plain: tuple[str, Recorder], signed: tuple[str, Recorder], silent: str) -> Iterator[EmulatorHandle]:
    overrides = {
        "PlainEndpoint": plain[0],
        "SignedEndpoint": signed[0],
        "SilentEndpoint": silent,
        "RefusedEndpoint": f"http://127.0.0.1:{_closed_port()}",
    }
    handle = start_emulator(HTTP_APP, parameter_overrides=overrides, request_timeout_s=2.0)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def mapped(signed: tuple[str, Recorder], silent: str) -> Iterator[EmulatorHandle]:
    """The same API with Step Functions mapped to the signature-checking stand-in."""
    handle = start_emulator(
        HTTP_APP,
        parameter_overrides={"SignedEndpoint": signed[0], "SilentEndpoint": silent},
        endpoint_overrides={"states.us-east-1.amazonaws.com": signed[0]},
    )
    yield handle
    handle.stop()


def _data(response: Any, field: str) -> Any:
    body = response.json()
    assert "errors" not in body, body
    return body["data"][field]


def test_a_request_object_becomes_the_http_request_and_the_response_ctx_result(
    api: EmulatorHandle, plain: tuple[str, Recorder]
) -> None:
    query = """query($q: String, $h: String) {
      plain(path: "/v1/items", method: "POST", query: $q, headers: $h, body: "{\\"a\\":1}") {
        statusCode headers body } }"""
    variables = {"q": json.dumps({"limit": "10", "tag": ["x", "y z"]}), "h": json.dumps({"X-Trace": "t-1"})}
    result = _data(gql_post(api, query, variables), "plain")
    assert result["statusCode"] == 200
    seen = json.loads(result["body"])
    assert seen["method"] == "POST" and seen["path"] == "/v1/items?limit=10&tag=x&tag=y%20z"
    assert seen["headers"]["x-trace"] == "t-1" and seen["body"] == '{"a":1}'
    headers = json.loads(result["headers"])
    assert headers["X-Custom"] == "yes" and headers["X-Twice"] == "a, b"
    assert "authorization" not in seen["headers"]  # no AuthorizationConfig: unsigned


def test_a_non_2xx_status_is_a_result_not_an_error(api: EmulatorHandle) -> None:
    result = _data(gql_post(api, '{ plain(path: "/status/404") { statusCode body } }'), "plain")
    assert result["statusCode"] == 404 and json.loads(result["body"])["path"] == "/status/404"


def test_aws_iam_signs_with_the_configured_region_and_service(api: EmulatorHandle) -> None:
    result = _data(gql_post(api, '{ signed(path: "/prod/items") { statusCode body } }'), "signed")
    assert result["statusCode"] == 200, result["body"]
    assert json.loads(result["body"]) == {"verified": True, "region": "eu-west-1", "service": "execute-api"}


def test_an_endpoint_that_never_answers_times_out_within_the_request(api: EmulatorHandle) -> None:
    body = gql_post(api, "{ silent { statusCode } }").json()
    assert body["data"] == {"silent": None}
    [error] = body["errors"]
    assert error["errorType"] == "HTTP:Timeout" and "timed out after" in error["message"]


def test_a_refused_connection_is_a_connection_error(api: EmulatorHandle) -> None:
    [error] = gql_post(api, "{ refused { statusCode } }").json()["errors"]
    assert error["errorType"] == "HTTP:ConnectionError" and "failed" in error["message"]


def test_an_unserved_aws_endpoint_answers_not_emulated_and_names_the_service(api: EmulatorHandle) -> None:
    body = gql_post(api, '{ steps(input: "{}") { statusCode } }').json()
    [error] = body["errors"]
    assert error["errorType"] == "NotEmulated"
    assert "does not emulate states" in error["message"]
    assert "--endpoint-override https://states.us-east-1.amazonaws.com=" in error["message"]
    assert "StepsDs" in "\n".join(gap.message for gap in api.emulator.gaps)


def test_a_mapped_aws_endpoint_reaches_its_local_stand_in_signed(
    mapped: EmulatorHandle, signed: tuple[str, Recorder]
) -> None:
    result = _data(gql_post(mapped, '{ steps(input: "{\\"n\\":1}") { statusCode body } }'), "steps")
    assert result["statusCode"] == 200, result["body"]
    assert json.loads(result["body"])["executionArn"] == EXECUTION_ARN
    last = signed[1].requests[-1]
    assert json.loads(last["body"])["input"] == '{"n":1}'
    assert "/us-east-1/states/aws4_request" in last["headers"]["authorization"]
    assert not [gap for gap in mapped.emulator.gaps if "StepsDs" in gap.message]


def test_bedrock_runtime_over_http_is_served_by_the_emulator(api: EmulatorHandle) -> None:
    api.fake_llm.set_reply("offline and signed")
    try:
        assert _data(gql_post(api, '{ bedrock(prompt: "hi") }'), "bedrock") == "offline and signed"
    finally:
        api.fake_llm.reset()


def test_the_apis_own_appsync_url_is_served_by_the_emulator_with_iam(api: EmulatorHandle) -> None:
    assert _data(gql_post(api, "{ self }"), "self") == "hello, IAM caller"


def _not_emulated(service: str, operation: str) -> str:
    return f"appsync-emu does not emulate {service} ({operation})"


def test_boto3_calls_to_unserved_services_get_a_clear_error_in_each_protocol(api: EmulatorHandle) -> None:
    calls = json.loads(_data(gql_post(api, "{ sdkCalls }"), "sdkCalls"))
    expected = {
        "sqs": "sqs (SendMessage)",  # awsJson1_0
        "stepfunctions": "states (StartExecution)",  # awsJson1_0
        "cloudwatch": "monitoring (PutMetricData)",  # Smithy RPC v2 CBOR
        "sns": "sns (Publish)",  # query
        "s3": "s3 (GET /my-bucket",  # rest-xml
        "lambda": "lambda (GET /2015-03-31/functions",  # rest-json
        "ec2": "ec2 (DescribeInstances)",  # ec2
    }
    for name, what in expected.items():
        call = calls[name]
        assert call["code"] == "NotEmulated", (name, call)
        assert f"appsync-emu does not emulate {what}" in call["message"], (name, call)
        assert call["status"] == 501 and call["retries"] == 0, (name, call)


def test_functions_get_the_global_endpoint_and_each_mapped_service(
    api: EmulatorHandle, mapped: EmulatorHandle, signed: tuple[str, Recorder]
) -> None:
    injected = json.loads(_data(gql_post(api, "{ injected }"), "injected"))
    assert injected["AWS_ENDPOINT_URL"] == api.base_url
    assert injected["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] == api.bedrock_url
    mapped_env = json.loads(_data(gql_post(mapped, "{ injected }"), "injected"))
    assert mapped_env["AWS_ENDPOINT_URL_SFN"] == signed[0]
    # boto3: the service variable wins over the global one, so StartExecution reaches the stand-in, signed.
    calls = json.loads(_data(gql_post(mapped, "{ sdkCalls }"), "sdkCalls"))
    assert calls["stepfunctions"] == {"ok": True, "executionArn": EXECUTION_ARN}
    assert calls["sqs"]["code"] == "NotEmulated"


node = pytest.mark.skipif(shutil.which("node") is None, reason="needs node")


@node
@pytest.mark.node
def test_javascript_sdk_calls_to_unserved_services_get_a_clear_error(api: EmulatorHandle) -> None:
    response = gql_post(api, "{ nodeSdkCalls }")
    calls = json.loads(_data(response, "nodeSdkCalls"))
    for name, what in {"stepfunctions": "states (StartExecution)", "sns": "sns (Publish)"}.items():
        call = calls[name]
        assert call["name"] == "NotEmulated", (name, call)
        assert f"appsync-emu does not emulate {what}" in call["message"], (name, call)
        assert call["status"] == 501 and call["attempts"] == 1, (name, call)


@node
@pytest.mark.node
def test_javascript_sdk_service_variable_wins_over_the_global_one(mapped: EmulatorHandle) -> None:
    calls = json.loads(_data(gql_post(mapped, "{ nodeSdkCalls }"), "nodeSdkCalls"))
    assert calls["stepfunctions"] == {"ok": True, "executionArn": EXECUTION_ARN}
    assert calls["sns"]["name"] == "NotEmulated"


def test_a_request_that_is_not_an_aws_call_still_gets_404(api: EmulatorHandle) -> None:
    import httpx

    assert httpx.post(f"{api.base_url}/nothing/here", content=b"x").status_code == 404
