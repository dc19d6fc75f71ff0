"""Verify AWS Signature Version 4 without botocore: AppSync's (service `appsync`) and Bedrock's.

`verify_sigv4` checks an HTTP request (Authorization header, or a pre-signed query string);
`verify_header_object` checks the header objects of the real-time protocol, which clients
sign as POSTs to the GraphQL endpoint (docs/APPSYNC.md §2.2). Both return the caller's
`IamPrincipal`, or raise `SigV4Error` with the error type, text and HTTP status AWS uses:

- `IncompleteSignatureException` (400): Authorization header or query parameters malformed,
- `InvalidSignatureException` (403): wrong credential scope (another service, or another
  region than the API's: ``Credential should be scoped to a valid region, not 'eu-west-1'. ``),
  date outside the allowed skew (``Signature expired: …`` / ``Signature not yet current: …``),
  or signature mismatch (AWS's sentence followed by the canonical request and string-to-sign
  we computed, as AppSync includes them). A header object signed for another host than this
  server is a mismatch too: its canonical request is computed with the host that was called,
  as AWS computes it with the Host it received,
- `UnrecognizedClientException` (403): unknown access key id or wrong session token
  (``The security token included in the request is invalid.``, as AppSync replies).

`emulator_credentials` turns `Settings.iam_credentials` into a `CredentialLookup` in which the
emulator's own access key carries the session token it is handed out with, so that key signs
only together with that token, as temporary credentials do on AWS.

On the real-time channel AppSync reports signature failures as `BadRequestException`
(observed); mapping the type is the caller's choice.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote

from ..config.model import DEFAULT_ACCOUNT_ID
from ..settings import DEFAULT_ACCESS_KEY_ID, DEFAULT_SESSION_TOKEN

__all__ = [
    "ALGORITHM",
    "SERVICE",
    "SIGNATURE_MISMATCH",
    "CredentialLookup",
    "IamCredential",
    "IamPrincipal",
    "SigV4Error",
    "emulator_credentials",
    "identity_dict",
    "verify_header_object",
    "verify_sigv4",
]

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "appsync"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided."
    " Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
INVALID_TOKEN = "The security token included in the request is invalid."
#: The session token that goes with each of the emulator's own access keys (the one functions get).
SESSION_TOKENS = {DEFAULT_ACCESS_KEY_ID: DEFAULT_SESSION_TOKEN}
NO_AUTH_HEADER = "Valid authorization header not provided."
#: Any AWS Region's name (us-east-1, us-gov-west-1, cn-northwest-1, eu-isoe-west-1), for a `region`
#: check where one local endpoint stands for a service's endpoints in every Region.
AWS_REGION_NAME = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
_QUERY_PARAMETERS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-SignedHeaders",
    "X-Amz-Date",
)
_MAX_PRESIGN_EXPIRES_S = 7 * 24 * 3600
_GQL_CONNECT_PATH = "/graphql/connect"
_GQL_START_PATH = "/graphql"


class SigV4Error(Exception):
    """A rejected signature: AWS's `error_type`, `message` and HTTP `status`; `detail` is for logs."""

    def __init__(self, error_type: str, message: str, status: int, detail: str | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class IamCredential:
    """A known access key: its secret and who it belongs to, for `ctx.identity`.

    When `session_token` is set, requests must carry exactly that `x-amz-security-token`.
    """

    secret_access_key: str
    account_id: str = DEFAULT_ACCOUNT_ID
    user_arn: str | None = None
    username: str | None = None
    session_token: str | None = None
    cognito_identity_pool_id: str | None = None
    cognito_identity_id: str | None = None
    cognito_identity_auth_type: str | None = None
    cognito_identity_auth_provider: str | None = None


#: Access key id → its secret (or an `IamCredential`), None when the key is unknown.
CredentialLookup = Callable[[str], "str | IamCredential | None"]


def emulator_credentials(credentials: Mapping[str, str | IamCredential]) -> CredentialLookup:
    """Look keys up in `credentials`; the emulator's own key comes with its session token (`SESSION_TOKENS`).

    A request signed with that key must then carry exactly that `x-amz-security-token`, like
    the temporary credentials Lambda gives a function; other keys are long-term ones (no token).
    """

    def lookup(access_key_id: str) -> str | IamCredential | None:
        found = credentials.get(access_key_id)
        token = SESSION_TOKENS.get(access_key_id)
        if isinstance(found, str) and token is not None:
            return IamCredential(found, session_token=token)
        return found

    return lookup


@dataclass(frozen=True)
class IamPrincipal:
    """The verified caller of an IAM-signed request."""

    access_key_id: str
    account_id: str
    user_arn: str
    username: str
    region: str
    session_token: str | None = None
    cognito_identity_pool_id: str | None = None
    cognito_identity_id: str | None = None
    cognito_identity_auth_type: str | None = None
    cognito_identity_auth_provider: str | None = None


def identity_dict(principal: IamPrincipal, source_ip: str | Sequence[str] | None) -> dict[str, Any]:
    """`ctx.identity` for AWS_IAM (docs/APPSYNC.md §4.1); the Cognito fields are null outside identity pools."""
    if source_ip is None:
        ips: list[str] = []
    elif isinstance(source_ip, str):
        ips = [source_ip]
    else:
        ips = list(source_ip)
    return {
        "accountId": principal.account_id,
        "cognitoIdentityAuthProvider": principal.cognito_identity_auth_provider,
        "cognitoIdentityAuthType": principal.cognito_identity_auth_type,
        "cognitoIdentityId": principal.cognito_identity_id,
        "cognitoIdentityPoolId": principal.cognito_identity_pool_id,
        "sourceIp": ips,
        "userArn": principal.user_arn,
        "username": principal.username,
    }


# --- Parsing --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Signed:
    """What a request claims: who signed it, when, over which headers, with which signature."""

    access_key_id: str
    scope_date: str
    region: str
    service: str
    terminator: str
    amz_date: str
    signed_headers: str
    signature: str
    token: str | None
    canonical_query: str
    payloads: tuple[str, ...]
    expires_s: int | None = None


def _incomplete(message: str) -> SigV4Error:
    return SigV4Error("IncompleteSignatureException", message, 400)


def _invalid(message: str, detail: str | None = None) -> SigV4Error:
    return SigV4Error("InvalidSignatureException", message, 403, detail)


def _query_pairs(query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in query.lstrip("?").split("&"):
        if part:
            key, _, value = part.partition("=")
            pairs.append((key, value))
    return pairs


def _uri_encode(value: str) -> str:
    return quote(value, safe="-_.~")


def _canonical_query(pairs: list[tuple[str, str]], *, without: str | None = None) -> str:
    encoded = sorted((_uri_encode(unquote(key)), _uri_encode(unquote(value))) for key, value in pairs if key != without)
    return "&".join(f"{key}={value}" for key, value in encoded)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 dot-segment removal, also dropping empty segments, as botocore does."""
    if not path:
        return "/"
    output: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if output:
                output.pop()
        elif segment and segment != ".":
            output.append(segment)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and output else ""
    return first + "/".join(output) + last


def _canonical_uri(path: str) -> str:
    """botocore's canonical URI for non-S3 services: normalized, then percent-encoded once more."""
    return quote(_remove_dot_segments(path), safe="/~")


def _amz_date_epoch(amz_date: str) -> float:
    """Epoch seconds of `YYYYMMDDTHHMMSSZ` (raises ValueError when malformed)."""
    if len(amz_date) != 16 or amz_date[8] != "T" or amz_date[15] != "Z":
        raise ValueError(amz_date)
    stamp = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return stamp.timestamp()


def _format_amz_date(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


def _payloads(headers: Mapping[str, str], body: bytes, *, presigned: bool) -> tuple[str, ...]:
    declared = headers.get("x-amz-content-sha256")
    body_hash = hashlib.sha256(body).hexdigest()
    if declared is None:
        return (UNSIGNED_PAYLOAD, body_hash) if presigned else (body_hash,)
    if declared != UNSIGNED_PAYLOAD and declared.lower() != body_hash:
        raise SigV4Error(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            400,
        )
    return (declared,)


def _scope(credential: str) -> list[str]:
    parts = credential.split("/")
    if len(parts) != 5:
        raise _incomplete(
            "Credential must have exactly 5 slash-delimited elements,"
            f" e.g. keyid/date/region/service/term, got '{credential}'"
        )
    return parts


def _from_authorization(headers: Mapping[str, str], query: str, body: bytes) -> _Signed:
    authorization = headers.get("authorization")
    if not authorization:
        raise SigV4Error("UnauthorizedException", NO_AUTH_HEADER, 401)
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(f"Unsupported AWS 'algorithm': '{algorithm}'. Authorization={authorization}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, _, value = part.strip().partition("=")
        fields[key] = value.strip()
    missing = [name for name in ("Credential", "Signature", "SignedHeaders") if not fields.get(name)]
    if missing:
        raise _incomplete(
            " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
            + f" Authorization={authorization}"
        )
    access_key_id, scope_date, region, service, terminator = _scope(fields["Credential"])
    amz_date = headers.get("x-amz-date")
    if amz_date is None and "date" in headers:
        try:
            amz_date = _format_amz_date(parsedate_to_datetime(headers["date"]).timestamp())
        except (TypeError, ValueError):
            amz_date = headers["date"]
    if amz_date is None:
        raise _incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
            f" Authorization={authorization}"
        )
    return _Signed(
        access_key_id,
        scope_date,
        region,
        service,
        terminator,
        amz_date,
        fields["SignedHeaders"],
        fields["Signature"],
        headers.get("x-amz-security-token"),
        _canonical_query(_query_pairs(query)),
        _payloads(headers, body, presigned=False),
    )


def _from_query(pairs: list[tuple[str, str]], headers: Mapping[str, str], body: bytes) -> _Signed:
    params = {key: unquote(value) for key, value in pairs}
    if any(not params.get(name) for name in _QUERY_PARAMETERS):
        raise _incomplete(
            "AWS query-string parameters must include "
            + ", ".join(f"'{name}'" for name in _QUERY_PARAMETERS)
            + ". Re-examine the query-string parameters."
        )
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise _incomplete(f"Unsupported AWS 'algorithm': '{params['X-Amz-Algorithm']}'.")
    expires: int | None = None
    if "X-Amz-Expires" in params:
        try:
            expires = int(params["X-Amz-Expires"])
        except ValueError:
            raise _incomplete(f"X-Amz-Expires must be a number, got '{params['X-Amz-Expires']}'.") from None
        if not 0 <= expires <= _MAX_PRESIGN_EXPIRES_S:
            raise _incomplete(f"X-Amz-Expires must be between 0 and {_MAX_PRESIGN_EXPIRES_S} seconds.")
    access_key_id, scope_date, region, service, terminator = _scope(params["X-Amz-Credential"])
    return _Signed(
        access_key_id,
        scope_date,
        region,
        service,
        terminator,
        params["X-Amz-Date"],
        params["X-Amz-SignedHeaders"],
        params["X-Amz-Signature"],
        params.get("X-Amz-Security-Token"),
        _canonical_query(pairs, without="X-Amz-Signature"),
        _payloads(headers, body, presigned=True),
        expires,
    )


# --- Checking -------------------------------------------------------------------------


def _authenticate(
    signed: _Signed,
    credentials: CredentialLookup,
    now: float | None,
    max_skew_s: float,
    *,
    service: str = SERVICE,
    region: str | re.Pattern[str] | None = None,
) -> IamCredential:
    """Check date, scope (`service`, and `region` when given), clock skew, access key and session token."""
    try:
        signed_at = _amz_date_epoch(signed.amz_date)
    except ValueError:
        raise _incomplete(
            f"Date must be in ISO-8601 'basic format'. Got '{signed.amz_date}'."
            " See http://en.wikipedia.org/wiki/ISO_8601"
        ) from None
    if signed.scope_date != signed.amz_date[:8]:
        raise _invalid(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP:"
            f" '{signed.scope_date}' != '{signed.amz_date[:8]}', from '{signed.amz_date}'."
        )
    if not signed.region:
        raise _invalid("Credential should be scoped to a valid region. ")
    if region is not None and not (
        signed.region == region if isinstance(region, str) else region.fullmatch(signed.region)
    ):
        raise _invalid(f"Credential should be scoped to a valid region, not '{signed.region}'. ")
    if signed.service != service:
        raise _invalid(f"Credential should be scoped to correct service: '{service}'. ")
    if signed.terminator != "aws4_request":
        raise _invalid(
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{signed.terminator}'. "
        )
    signed_names = signed.signed_headers.split(";")
    if "host" not in signed_names and ":authority" not in signed_names:
        raise _invalid("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    now = time.time() if now is None else now
    minutes = f"{max_skew_s / 60:g} min."
    if signed.expires_s is not None and now > signed_at + signed.expires_s:
        raise _invalid(
            f"Signature expired: {signed.amz_date} is now earlier than"
            f" {_format_amz_date(now - signed.expires_s)} ({_format_amz_date(now)} - {signed.expires_s} sec.)"
        )
    if signed.expires_s is None and signed_at < now - max_skew_s:
        raise _invalid(
            f"Signature expired: {signed.amz_date} is now earlier than {_format_amz_date(now - max_skew_s)}"
            f" ({_format_amz_date(now)} - {minutes})"
        )
    if signed_at > now + max_skew_s:
        raise _invalid(
            f"Signature not yet current: {signed.amz_date} is still later than"
            f" {_format_amz_date(now + max_skew_s)} ({_format_amz_date(now)} + {minutes})"
        )
    found = credentials(signed.access_key_id)
    if found is None:
        raise SigV4Error(
            "UnrecognizedClientException", INVALID_TOKEN, 403, f"unknown access key {signed.access_key_id}"
        )
    credential = IamCredential(found) if isinstance(found, str) else found
    if credential.session_token is not None and signed.token != credential.session_token:
        raise SigV4Error("UnrecognizedClientException", INVALID_TOKEN, 403, "wrong or missing session token")
    return credential


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def _signing_key(secret: str, signed: _Signed) -> bytes:
    key = _hmac(f"AWS4{secret}".encode(), signed.scope_date)
    key = _hmac(key, signed.region)
    key = _hmac(key, signed.service)
    return _hmac(key, signed.terminator)


def _host_detail(names: Sequence[str], headers: dict[str, str], hosts: Sequence[str]) -> str | None:
    """None when the signed host names this server (one of `hosts`); else why not, after putting
    the host that was called (`hosts[0]`) in its place, as AWS signs with the Host it received."""
    name = "host" if "host" in names else ":authority"
    value = headers.get(name, "")
    if value.lower() in hosts:
        return None
    headers[name] = hosts[0]
    return f"signed for host {value!r}, which is not this server ({', '.join(hosts)})"


def _check_signature(
    signed: _Signed,
    credential: IamCredential,
    method: str,
    paths: Sequence[str],
    headers: Mapping[str, str],
    hosts: Sequence[str] | None = None,
) -> None:
    """Accept if the signature matches for any of `paths` and payload hashes; else raise the mismatch.

    With `hosts`, the signed host must be one of them (lower case); otherwise the request is
    checked as if signed for `hosts[0]`, which fails, and the error shows that host.
    """
    key = _signing_key(credential.secret_access_key, signed)
    names = signed.signed_headers.split(";")
    wrong_host: str | None = None
    if hosts:
        headers = dict(headers)
        wrong_host = _host_detail(names, headers, hosts)
    canonical_headers = "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in names)
    scope = f"{signed.scope_date}/{signed.region}/{signed.service}/{signed.terminator}"
    first: tuple[str, str] | None = None
    for path in paths:
        for payload in signed.payloads:
            canonical_request = "\n".join(
                (
                    method.upper(),
                    _canonical_uri(path),
                    signed.canonical_query,
                    canonical_headers,
                    signed.signed_headers,
                    payload,
                )
            )
            string_to_sign = "\n".join(
                (
                    ALGORITHM,
                    signed.amz_date,
                    scope,
                    hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
                )
            )
            expected = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
            if wrong_host is None and hmac.compare_digest(expected, signed.signature.lower()):
                return
            first = first or (canonical_request, string_to_sign)
    assert first is not None
    missing = [name for name in names if name not in headers]
    raise _invalid(
        f"{SIGNATURE_MISMATCH}\n\nThe Canonical String for this request should have been\n'{first[0]}'"
        f"\n\nThe String-to-Sign should have been\n'{first[1]}'\n",
        wrong_host or (f"signed headers missing from the request: {', '.join(missing)}" if missing else None),
    )


def _principal(signed: _Signed, credential: IamCredential) -> IamPrincipal:
    return IamPrincipal(
        access_key_id=signed.access_key_id,
        account_id=credential.account_id,
        user_arn=credential.user_arn or f"arn:aws:iam::{credential.account_id}:user/{signed.access_key_id}",
        username=credential.username or signed.access_key_id,
        region=signed.region,
        session_token=signed.token,
        cognito_identity_pool_id=credential.cognito_identity_pool_id,
        cognito_identity_id=credential.cognito_identity_id,
        cognito_identity_auth_type=credential.cognito_identity_auth_type,
        cognito_identity_auth_provider=credential.cognito_identity_auth_provider,
    )


def verify_sigv4(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: CredentialLookup,
    *,
    now: float | None = None,
    max_skew_s: float = 300,
    service: str = SERVICE,
    region: str | re.Pattern[str] | None = None,
    hosts: Sequence[str] | None = None,
    presigned: bool = True,
) -> IamPrincipal:
    """Verify a SigV4-signed HTTP request for `service`, scoped to `region` (a name, a pattern of names, or None: any).

    `path` is the raw (still percent-encoded) request path and `query` the raw query
    string, as sent. Header names may be in any case; a header sent several times should
    be passed with its values joined by ",". The signed `host` is the request's Host header,
    so a request signed for another host is a signature mismatch; for headers that are not
    the request's own (a real-time header object), pass `hosts`, this server's host:port
    forms in lower case, and the signed host must be one of them. The signature may be in
    the Authorization header or, when `presigned`, in a pre-signed query string
    (`X-Amz-Signature`, whose `X-Amz-Expires` replaces the clock-skew limit for past dates).
    `x-amz-content-sha256` is honoured when present (`UNSIGNED-PAYLOAD` or the body's hash).
    """
    lowered = {name.lower(): str(value) for name, value in headers.items()}
    if "host" in lowered:
        # Over HTTP/2 the JavaScript SDK signs the `:authority` pseudo-header; transport/http2
        # passes it on as `host`, so both names stand for the authority the request was sent to.
        lowered.setdefault(":authority", lowered["host"])
    pairs = _query_pairs(query)
    if presigned and any(key == "X-Amz-Signature" for key, _ in pairs):
        signed = _from_query(pairs, lowered, body)
    else:
        signed = _from_authorization(lowered, query, body)
    credential = _authenticate(signed, credentials, now, max_skew_s, service=service, region=region)
    _check_signature(signed, credential, method, (path,), lowered, hosts)
    return _principal(signed, credential)


def _header_object_paths(path: str) -> tuple[str, ...]:
    fixed = _GQL_CONNECT_PATH if path.rstrip("/").endswith("/connect") else _GQL_START_PATH
    return (path,) if path == fixed else (path, fixed)


def verify_header_object(
    header_obj: Mapping[str, Any],
    *,
    path: str,
    body: bytes,
    credentials: CredentialLookup,
    now: float | None = None,
    max_skew_s: float = 300,
    region: str | None = None,
    hosts: Sequence[str] | None = None,
) -> IamPrincipal:
    """Verify a real-time header object: the signed headers of a POST to the GraphQL endpoint.

    For the connection, pass `path` = the API's GraphQL path + "/connect" and `body` = b"{}";
    for a `start`, pass the GraphQL path and `body` = the `payload.data` string as sent.
    Amplify and subscription-link sign `{endpoint}/connect` and `{endpoint}` (the endpoint's
    own path); gql always signs `/graphql/connect` and `/graphql`. The signature is checked
    against `path` and then gql's fixed path, so both kinds of client pass whatever path the
    API is served on. The signed `host` is the one in the object; with `hosts` (this server's
    host:port forms, lower case) it must be one of them, and the credential must be scoped to
    `region` when given.
    """
    lowered = {name.lower(): str(value) for name, value in header_obj.items()}
    signed = _from_authorization(lowered, "", body)
    credential = _authenticate(signed, credentials, now, max_skew_s, region=region)
    _check_signature(signed, credential, "POST", _header_object_paths(path), lowered, hosts)
    return _principal(signed, credential)
