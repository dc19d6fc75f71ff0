"""The HTTP data source: AppSync's request object sent with httpx, the response handed back as `ctx.result`.

AppSync's rules (docs/APPSYNC.md §7.4): the request handler returns `{method, resourcePath,
params: {query, headers, body}}`; the URL is the data source's `HttpConfig.Endpoint` followed by
`resourcePath`; `ctx.result` is `{statusCode, headers, body}` with `body` a string, whatever the
status (a 404 or a 500 is not an error: the handler looks at `statusCode`). Only a call that gets
no response (a timeout, a refused connection) sets `ctx.error`, with our types (docs/DECISIONS.md).
`AuthorizationConfig: {AuthorizationType: AWS_IAM, AwsIamConfig: {SigningRegion,
SigningServiceName}}` signs each request with SigV4, with the emulator's own credentials.

Where a request goes is `endpoints.EndpointRouter`'s decision: an AWS endpoint the emulator serves
goes to the emulator, a mapped one to its local stand-in, an unmapped AWS one answers
`NotEmulated`, and anything else is called as it is.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from ..auth.sigv4 import ALGORITHM, _canonical_query, _canonical_uri, _query_pairs
from ..endpoints import Credentials, EndpointRouter, aws_region, aws_service
from ..support import Gap, GapKind, NotEmulatedError
from .base import DataSourceCall, DataSourceResult, NotEmulatedDataSource

if TYPE_CHECKING:
    import httpx

    from ..config.model import DataSource as DataSourceModel
    from ..config.model import GraphQLApi, Project
    from ..endpoints import Outbound
    from ..services import Services

METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH"})
#: What is kept of the request's time budget for the response handler after the call.
RESPONSE_MARGIN_S = 0.25
TIMEOUT = "HTTP:Timeout"
CONNECTION_ERROR = "HTTP:ConnectionError"
BAD_REQUEST = "HTTP:BadRequest"
#: Headers SigV4 signers leave out of the signature (botocore's list): proxies and clients change them.
_UNSIGNED_HEADERS = frozenset({"authorization", "user-agent", "expect", "x-amzn-trace-id", "connection"})


@dataclass(frozen=True)
class Signing:
    """An `AwsIamConfig`: the region and service a request's SigV4 scope names."""

    region: str
    service: str


@dataclass
class OutboundRequest:
    """One HTTP request, ready to send."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes


def _query_string(query: Any) -> str:
    if not isinstance(query, dict):
        raise ValueError("params.query must be an object of strings")
    pairs: list[tuple[str, str]] = []
    for key, value in query.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((str(key), _text(item)))
    return urlencode(pairs, quote_via=quote)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)  # numbers and booleans as JSON writes them: 10, true


def build_request(request: Any, base_url: str) -> OutboundRequest:
    """The HTTP request an AppSync request object describes (`ValueError` says what is wrong with it)."""
    if not isinstance(request, dict):
        raise ValueError("the request must be an object with method, resourcePath and params")
    method = request.get("method")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(sorted(METHODS))}, not {method!r}")
    path = request.get("resourcePath")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"resourcePath must be a string starting with '/', not {path!r}")
    params = request.get("params") or {}
    if not isinstance(params, dict):
        raise ValueError("params must be an object with query, headers and body")
    url = base_url + path
    if params.get("query"):
        url += ("&" if "?" in path else "?") + _query_string(params["query"])
    headers = params.get("headers") or {}
    if not isinstance(headers, dict):
        raise ValueError("params.headers must be an object of strings")
    body = params.get("body")
    if body is None:
        data = b""
    else:
        data = (body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))).encode()
    return OutboundRequest(method, url, {str(k): _text(v) for k, v in headers.items()}, data)


def to_result(status: int, headers: list[tuple[str, str]], body: str) -> dict[str, Any]:
    """`ctx.result`: status, headers (as the server cased them; repeated ones joined by ", ") and the body text."""
    joined: dict[str, str] = {}
    for name, value in headers:
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return {"statusCode": status, "headers": joined, "body": body}


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def sign(
    method: str,
    raw_target: str,
    headers: Mapping[str, str],
    body: bytes,
    signing: Signing,
    credentials: Credentials,
    *,
    now: float | None = None,
) -> dict[str, str]:
    """`headers` (which must hold `host`) plus the SigV4 ones that sign the request for `signing`.

    `raw_target` is the path and query as they go on the wire (percent-encoded). The canonical
    request is built with `auth.sigv4`'s own canonicalisation, which is botocore's: what the
    emulator's verifier and AWS accept.
    """
    out = {name.lower(): value for name, value in headers.items()}
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    out["x-amz-date"] = amz_date
    if credentials.session_token:
        out["x-amz-security-token"] = credentials.session_token
    path, _, query = raw_target.partition("?")
    names = sorted(name for name in out if name not in _UNSIGNED_HEADERS)
    signed_headers = ";".join(names)
    canonical_request = "\n".join(
        (
            method,
            _canonical_uri(path),
            _canonical_query(_query_pairs(query)),
            "".join(f"{name}:{' '.join(out[name].split())}\n" for name in names),
            signed_headers,
            hashlib.sha256(body).hexdigest(),
        )
    )
    scope = f"{amz_date[:8]}/{signing.region}/{signing.service}/aws4_request"
    string_to_sign = f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    key = _hmac(f"AWS4{credentials.secret_access_key}".encode(), amz_date[:8])
    for part in (signing.region, signing.service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    out["authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, SignedHeaders={signed_headers}, "
        f"Signature={signature}"
    )
    return out


class HttpDataSource:
    """One HTTP data source: its target URL, and how requests to it are signed.

    `late_base` gives the target URL at the first call instead, for a target whose port is known
    only once it runs (DynamoDB's engine).
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        outbound: Outbound,
        signing: Signing | None = None,
        credentials: Credentials | None = None,
        late_base: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.outbound = outbound
        self.signing = signing
        self.credentials = credentials
        self._late_base = late_base

    async def invoke(self, request: Any, call: DataSourceCall) -> DataSourceResult:
        if self._late_base is not None:
            self.base_url = (await self._late_base()).rstrip("/") + self.base_url
            self._late_base = None
        try:
            outgoing = build_request(request, self.base_url)
        except ValueError as err:
            return DataSourceResult(None, {"message": str(err), "type": BAD_REQUEST})
        client = self.outbound.client
        built = client.build_request(outgoing.method, outgoing.url, headers=outgoing.headers, content=outgoing.body)
        if self.signing is not None and self.credentials is not None:
            unsigned = {**built.headers, "host": built.url.netloc.decode("ascii")}
            target = built.url.raw_path.decode("ascii")
            signed = sign(outgoing.method, target, unsigned, outgoing.body, self.signing, self.credentials)
            built.headers.clear()
            built.headers.update(signed)
        timeout_s = max(call.deadline - asyncio.get_running_loop().time() - RESPONSE_MARGIN_S, 0.05)
        try:
            async with asyncio.timeout(timeout_s):
                response = await client.send(built)
                body = (await response.aread()).decode(response.encoding or "utf-8", "replace")
        except TimeoutError:
            message = f"HTTP request to {outgoing.url} timed out after {timeout_s:.2f} s"
            return DataSourceResult(None, {"message": message, "type": TIMEOUT})
        except _transport_errors() as err:
            message = f"HTTP request to {outgoing.url} failed: {err or type(err).__name__}"
            return DataSourceResult(None, {"message": message, "type": CONNECTION_ERROR})
        raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw]
        return DataSourceResult(to_result(response.status_code, raw, body))


def _transport_errors() -> type[httpx.TransportError]:
    import httpx

    return httpx.TransportError


def _endpoint(source: DataSourceModel) -> str | None:
    config = source.config.get("HttpConfig")
    endpoint = config.get("Endpoint") if isinstance(config, dict) else None
    if isinstance(endpoint, str) and urlsplit(endpoint).scheme in ("http", "https") and urlsplit(endpoint).hostname:
        return endpoint
    return None


def _signing(source: DataSourceModel, endpoint: str) -> Signing | None:
    config = source.config["HttpConfig"].get("AuthorizationConfig")
    if not isinstance(config, dict) or config.get("AuthorizationType") != "AWS_IAM":
        return None
    iam = config.get("AwsIamConfig")
    iam = iam if isinstance(iam, dict) else {}
    host = urlsplit(endpoint).hostname or ""
    region = iam.get("SigningRegion") or aws_region(host) or "us-east-1"
    return Signing(str(region), str(iam.get("SigningServiceName") or aws_service(host) or ""))


def not_emulated(source: DataSourceModel, project: Project) -> str | None:
    """An endpoint that is not an http(s) URL cannot be called (unserved AWS endpoints: `endpoint_gaps`)."""
    if _endpoint(source) is None:
        return f"HTTP with HttpConfig.Endpoint {source.config.get('HttpConfig', {}).get('Endpoint')!r} (not a URL)"
    return None


def endpoint_gaps(api: GraphQLApi, overrides: Mapping[str, str]) -> list[Gap]:
    """The API's HTTP data sources whose AWS endpoint the emulator neither serves nor has mapped."""
    from ..endpoints import SERVED_SERVICES

    router = EndpointRouter(dict.fromkeys(SERVED_SERVICES, ""), overrides)
    gaps = []
    for source in api.data_sources.values():
        endpoint = _endpoint(source) if source.type == "HTTP" else None
        service = router.unserved(endpoint) if endpoint else None
        if endpoint and service:
            origin = f"{urlsplit(endpoint).scheme}://{urlsplit(endpoint).netloc}"
            gaps.append(Gap(GapKind.AWS_SERVICE, f"{service} ({origin})", f"data source {source.name}", source.origin))
    return gaps


def calls_dynamodb(source: DataSourceModel) -> bool:
    """An HTTP data source on DynamoDB's endpoint (the emulator routes it to its DynamoDB)."""
    endpoint = _endpoint(source) if source.type == "HTTP" else None
    return endpoint is not None and aws_service((urlsplit(endpoint).hostname or "").lower()) == "dynamodb"


def create(source: DataSourceModel, services: Services) -> HttpDataSource | NotEmulatedDataSource:
    """The data source, aimed where the router sends its endpoint; an unserved AWS endpoint answers NotEmulated."""
    endpoint = _endpoint(source)
    outbound = services.outbound
    assert endpoint is not None and outbound is not None
    host = (urlsplit(endpoint).hostname or "").lower()
    if calls_dynamodb(source) and host not in outbound.router.overrides and services.dynamodb is not None:
        path = urlsplit(endpoint).path.rstrip("/")
        signing = _signing(source, endpoint)
        return HttpDataSource(source.name, path, outbound, signing, outbound.credentials, services.dynamodb.ready)
    try:
        target = outbound.router.route(endpoint)
    except NotEmulatedError as err:
        return NotEmulatedDataSource(f"data source {source.name}: {err.message}")
    return HttpDataSource(source.name, target.url, outbound, _signing(source, endpoint), outbound.credentials)
