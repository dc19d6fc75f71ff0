"""Where a call to an AWS endpoint goes, and what the emulator answers for the AWS services it does not run.

One rule for HTTP data sources and, through the injected `AWS_ENDPOINT_URL*` variables, for
functions' AWS SDK calls (docs/DECISIONS.md, "AWS calls"):

1. an AWS endpoint the emulator serves (Bedrock Runtime, the API's own GraphQL URL) goes to the
   emulator's local URL (`served_endpoints`);
2. an endpoint mapped with `--endpoint-override https://states.us-east-1.amazonaws.com=http://127.0.0.1:8083`
   goes to that local stand-in;
3. any other AWS endpoint (`*.amazonaws.com`, `*.amazonaws.com.cn`, `*.api.aws`) is refused with
   `NotEmulated` naming the service: it never reaches the internet with the emulator's dummy
   credentials;
4. anything else (the user's own service) is called as it is.

Functions get `AWS_ENDPOINT_URL` pointing at the emulator, so an SDK call to a service nothing
serves lands on `unserved_aws_call`, which answers an error naming the service and the
operation, in the shape the service's protocol uses so that boto3 and the JavaScript SDK raise
it as a service error (`NotEmulated`, HTTP 501, which neither SDK retries).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from .support import NotEmulatedError

if TYPE_CHECKING:
    import httpx
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from .config.model import LocalEndpoints

log = logging.getLogger("appsync_emu")

#: Hosts that are AWS endpoints: the commercial partition, China's, and the dual-stack `api.aws`.
AWS_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")

#: Endpoint prefixes the emulator answers itself. DynamoDB's URL (its engine's port) is known only
#: once the engine answers, so it is not in `served_endpoints`: HTTP data sources on it ask
#: `Services.dynamodb` at their first call.
SERVED_SERVICES = frozenset({"bedrock-runtime", "appsync-api", "dynamodb", "cognito-idp"})

#: The SDKs' `AWS_ENDPOINT_URL_<NAME>` for endpoint prefixes whose service id is not the prefix
#: itself (both SDKs name the variable after the service id: `SFN`, not `STATES`).
SDK_ENV_NAMES: dict[str, tuple[str, ...]] = {
    "states": ("SFN",),
    "monitoring": ("CLOUDWATCH",),
    "logs": ("CLOUDWATCH_LOGS",),
    "events": ("EVENTBRIDGE",),
    "email": ("SES", "SESV2"),
    "secretsmanager": ("SECRETS_MANAGER",),
    "cognito-idp": ("COGNITO_IDENTITY_PROVIDER",),
    "elasticfilesystem": ("EFS",),
    "streams.dynamodb": ("DYNAMODB_STREAMS",),
    "runtime.sagemaker": ("SAGEMAKER_RUNTIME",),
    "runtime.lex": ("LEX_RUNTIME_SERVICE",),
    "data-ats.iot": ("IOT_DATA_PLANE",),
    "es": ("ELASTICSEARCH_SERVICE", "OPENSEARCH"),
    "aoss": ("OPENSEARCHSERVERLESS",),
    "elasticloadbalancing": ("ELASTIC_LOAD_BALANCING", "ELASTIC_LOAD_BALANCING_V2"),
    "application-autoscaling": ("APPLICATION_AUTO_SCALING",),
    "apigateway": ("API_GATEWAY",),
    "execute-api": ("APIGATEWAYMANAGEMENTAPI",),
}

#: The `errorType` / error code every unserved AWS call answers with.
NOT_EMULATED = "NotEmulated"
#: 501 Not Implemented: a service error in both SDKs, and not one they retry (they retry 500, 502-504).
NOT_EMULATED_STATUS = 501
_REST_XML_SERVICES = frozenset({"s3", "route53", "cloudfront"})
_MAX_BODY_READ = 1 << 20  # enough to find a query-protocol `Action`


def aws_service(host: str) -> str | None:
    """The endpoint prefix of an AWS endpoint's host (`states`, `bedrock-runtime`, `appsync-api`), else None."""
    host = host.lower().rstrip(".")
    suffix = next((s for s in AWS_SUFFIXES if host.endswith(s)), None)
    if suffix is None:
        return None
    labels = host[: -len(suffix)].split(".")
    for i, label in enumerate(labels):
        if i and _REGION.fullmatch(label):
            service = labels[i - 1] if labels[i - 1] != "dualstack" or i < 2 else labels[i - 2]
            # runtime.sagemaker, streams.dynamodb, data-ats.iot: a two-label prefix
            if i >= 2 and labels[i - 2] in ("runtime", "streams", "data-ats", "data"):
                service = f"{labels[i - 2]}.{service}"
            return service.removesuffix("-fips")
    return labels[-1]


def aws_region(host: str) -> str | None:
    """The Region named in an AWS endpoint's host, if any."""
    return next((label for label in host.lower().split(".") if _REGION.fullmatch(label)), None)


def sdk_env_names(service: str) -> tuple[str, ...]:
    """The `AWS_ENDPOINT_URL_<NAME>` suffixes that point both SDKs' clients of `service` somewhere."""
    return SDK_ENV_NAMES.get(service, (service.upper().replace("-", "_").replace(".", "_"),))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def parse_override(text: str) -> tuple[str, str]:
    """`https://states.us-east-1.amazonaws.com=http://127.0.0.1:8083` → (the AWS host, the local origin)."""
    key, sep, target = text.partition("=")
    source = urlsplit(key if "://" in key else f"https://{key}")
    local = urlsplit(target)
    if not sep or not source.hostname or local.scheme not in ("http", "https") or not local.hostname:
        raise ValueError(f"--endpoint-override: expected https://HOST=http://LOCAL:PORT, got {text!r}")
    return source.hostname.lower(), target.rstrip("/")


def served_endpoints(local: LocalEndpoints) -> dict[str, str]:
    """The emulator's own URL for each AWS service it serves, by endpoint prefix."""
    # cognito-idp: the user pools' sign-in API at the base URL (auth/cognito_idp.py), as Cognito's is at its host's `/`.
    return {"bedrock-runtime": local.bedrock_url, "appsync-api": local.base_url, "cognito-idp": local.base_url}


@dataclass(frozen=True)
class Target:
    """Where one endpoint's requests go: `url` (scheme://host[:port][/path]) and whether it is local."""

    url: str
    local: bool


class EndpointRouter:
    """Applies the four rules of this module to an endpoint URL."""

    def __init__(self, served: Mapping[str, str], overrides: Mapping[str, str] | None = None) -> None:
        self.served = dict(served)
        self.overrides = {host.lower(): url.rstrip("/") for host, url in (overrides or {}).items()}

    def route(self, endpoint: str) -> Target:
        """The target for `endpoint`, or `NotEmulatedError` for an AWS endpoint nothing here answers."""
        parts = urlsplit(endpoint)
        host = (parts.hostname or "").lower()
        path = parts.path.rstrip("/")
        if host in self.overrides:
            return Target(self.overrides[host] + path, True)
        service = aws_service(host)
        if service is None:
            return Target(f"{_origin(endpoint)}{path}", False)
        if service in self.served:
            return Target(self.served[service] + path, True)
        raise NotEmulatedError(unserved_message(service, endpoint))

    def unserved(self, endpoint: str) -> str | None:
        """The AWS service `endpoint` belongs to when nothing here answers it (None: it is routed)."""
        host = (urlsplit(endpoint).hostname or "").lower()
        service = aws_service(host)
        if host in self.overrides or service is None or service in self.served:
            return None
        return service


def unserved_message(service: str, endpoint: str, operation: str | None = None) -> str:
    """What a call to an AWS service nothing here answers is told, with how to map it."""
    what = f"{service} ({operation})" if operation else service
    origin = _origin(endpoint) if "://" in endpoint else f"https://{endpoint}"
    return (
        f"appsync-emu does not emulate {what}; map it to a local stand-in with "
        f"--endpoint-override {origin}=http://127.0.0.1:PORT"
    )


@dataclass(frozen=True)
class Credentials:
    """What the emulator signs outbound AWS calls with (its own credentials: worthless against AWS)."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


class Outbound:
    """The router for outbound calls, the credentials that sign them, and the one HTTP client that sends them."""

    def __init__(self, router: EndpointRouter, credentials: Credentials) -> None:
        self.router = router
        self.credentials = credentials
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            # No proxy or .netrc from the environment: a loopback stand-in must not go through a proxy.
            self._client = httpx.AsyncClient(trust_env=False, follow_redirects=False)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


# --- The local answer to AWS SDK calls for services nothing serves -------------------------


@dataclass(frozen=True)
class AwsCall:
    """What an SDK request says about itself: the signing service, region and operation."""

    service: str
    region: str
    operation: str
    protocol: str  # json | rest-json | query | ec2 | rest-xml | cbor


_CREDENTIAL = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")


def identify(method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> AwsCall | None:
    """The AWS call a request makes (headers in lower case), or None when it does not look like one.

    An AWS API call is SigV4-signed (Authorization header or pre-signed query) with a credential
    scope naming its service; the operation is in `X-Amz-Target` (JSON protocols), the path
    (Smithy RPC v2 CBOR), the `Action` parameter (query protocols) or the REST method and path.
    """
    scope = _CREDENTIAL.search(headers.get("authorization", ""))
    if scope is None:
        credential = parse_qs(query).get("X-Amz-Credential", [""])[0]
        scope = _CREDENTIAL.search(f"Credential={credential}")
    if scope is None:
        return None
    region, service = scope.group(1), scope.group(2)
    content_type = headers.get("content-type", "")
    if headers.get("smithy-protocol") == "rpc-v2-cbor":
        return AwsCall(service, region, path.rstrip("/").rsplit("/", 1)[-1], "cbor")
    target = headers.get("x-amz-target")
    if target:
        return AwsCall(service, region, target.rsplit(".", 1)[-1], "json")
    if "x-www-form-urlencoded" in content_type or "Action=" in query:
        params = parse_qs(body.decode("utf-8", "replace")) if body else {}
        action = (params.get("Action") or parse_qs(query).get("Action") or [f"{method} {path}"])[0]
        return AwsCall(service, region, action, "ec2" if service == "ec2" else "query")
    xml = service in _REST_XML_SERVICES or "xml" in content_type
    return AwsCall(service, region, f"{method} {path}", "rest-xml" if xml else "rest-json")


def _cbor_text(value: str) -> bytes:
    data = value.encode()
    return _cbor_head(3, len(data)) + data


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    for info, size in ((24, 1), (25, 2), (26, 4)):
        if length < 1 << (8 * size):
            return bytes([major << 5 | info]) + length.to_bytes(size, "big")
    raise ValueError("too long")


def error_reply(call: AwsCall, message: str, request_id: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """The `NotEmulated` error for `call` as its protocol words errors: status, headers, body."""
    error_type = f"com.amazonaws.appsyncemu#{NOT_EMULATED}"
    headers = [("x-amzn-RequestId", request_id), ("x-amzn-ErrorType", NOT_EMULATED)]
    if call.protocol == "cbor":
        fields = {"__type": error_type, "message": message}
        body = _cbor_head(5, len(fields)) + b"".join(_cbor_text(k) + _cbor_text(v) for k, v in fields.items())
        headers += [("content-type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
    elif call.protocol in ("json", "rest-json"):
        body = json.dumps({"__type": error_type, "message": message}).encode()
        content_type = "application/x-amz-json-1.1" if call.protocol == "json" else "application/json"
        headers.append(("content-type", content_type))
    else:
        code, text = f"<Code>{NOT_EMULATED}</Code>", f"<Message>{escape(message)}</Message>"
        if call.protocol == "ec2":
            errors = f"<Errors><Error>{code}{text}</Error></Errors>"
            xml = f"<Response>{errors}<RequestID>{request_id}</RequestID></Response>"
        elif call.service == "s3":
            xml = f"<Error>{code}{text}<RequestId>{request_id}</RequestId></Error>"
        else:
            xml = (
                f"<ErrorResponse><Error><Type>Sender</Type>{code}{text}</Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>"
            )
        body = f'<?xml version="1.0" encoding="UTF-8"?>\n{xml}'.encode()
        headers.append(("content-type", "text/xml"))
    return NOT_EMULATED_STATUS, headers, body


class UnservedAwsCalls:
    """ASGI app behind every other route: an AWS API call gets `NotEmulated`; anything else, `fallback`.

    Installed as the Starlette router's default, so it runs only where no route matched: the
    front door's `/graphql` and real-time paths never reach it.
    """

    def __init__(self, fallback: ASGIApp) -> None:
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = scope.get("query_string", b"").decode("latin-1")
        if "aws4-hmac-sha256" not in headers.get("authorization", "").lower() and "X-Amz-Credential" not in query:
            await self.fallback(scope, receive, send)
            return
        body = await _read_body(receive)
        path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        call = identify(scope["method"], path, query, headers, body)
        if call is None:
            await self.fallback(scope, _replay(body), send)
            return
        import uuid

        endpoint = f"https://{call.service}.{call.region}.amazonaws.com"
        message = unserved_message(call.service, endpoint, call.operation)
        log.warning("not emulated: %s", message)
        status, reply_headers, reply = error_reply(call, message, str(uuid.uuid4()))
        raw = [(k.encode(), v.encode()) for k, v in reply_headers] + [(b"content-length", str(len(reply)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": reply})


async def _read_body(receive: Receive) -> bytes:
    """The request body, up to `_MAX_BODY_READ` bytes kept (the rest is read and dropped)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        if size < _MAX_BODY_READ:
            chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    """A `receive` that hands the already-read body on once."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
