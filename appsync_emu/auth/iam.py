"""AWS_IAM: a SigV4 signature (service `appsync`) by one of the credentials the emulator knows.

As AWS checks it: the credential scope names the API's region, the signed host is the host
that was called (on HTTP the Host header, which the signature covers; in a real-time header
object, whose `host` is not the socket's, one of `endpoint_hosts`), and the emulator's own
access key signs only together with its session token (`sigv4.emulator_credentials`).
IAM policies are not evaluated: any known credential may call (docs/DECISIONS.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..config.model import DEFAULT_REGION, AuthMode, LocalEndpoints
from .context import AuthContext, AuthError
from .sigv4 import IamCredential, SigV4Error, emulator_credentials, identity_dict, verify_sigv4

#: Names of this machine's loopback interface a client may put in a URL.
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def endpoint_hosts(endpoints: LocalEndpoints) -> tuple[str, ...]:
    """The `host` values (lower case) that name this server, the advertised one first.

    A server bound to a wildcard address advertises 127.0.0.1; any loopback name with the
    server's port names it too (`localhost:4000` for a TLS certificate made for localhost). On
    the scheme's default port the bare host is accepted as well, as URLs leave that port out.
    """
    host = endpoints.host.lower()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    names = [host]
    if host in _LOOPBACK or host.startswith("127."):
        names += [name for name in _LOOPBACK if name != host]
    forms = [f"{name}:{endpoints.port}" for name in names]
    if _DEFAULT_PORTS.get(endpoints.scheme) == endpoints.port:
        forms += names
    return tuple(forms)


def authorize(
    credentials: Mapping[str, str | IamCredential],
    headers: Mapping[str, str],
    *,
    method: str,
    paths: tuple[str, ...],
    query: str,
    body: bytes,
    source_ip: str | None,
    now: float,
    region: str = DEFAULT_REGION,
    hosts: Sequence[str] | None = None,
) -> AuthContext:
    """Accept a request signed for one of `paths` (clients sign different real-time paths); else AWS's error.

    `region` is the API's; pass `hosts` (`endpoint_hosts`) when `headers` is a real-time header
    object, whose signed `host` must name this server.
    """
    lookup = emulator_credentials(credentials)
    last: SigV4Error | None = None
    for path in paths:
        try:
            principal = verify_sigv4(method, path, query, headers, body, lookup, now=now, region=region, hosts=hosts)
        except SigV4Error as err:
            last = err
            continue
        return AuthContext(AuthMode.AWS_IAM, identity_dict(principal, source_ip), dict(headers))
    assert last is not None
    raise AuthError(last.status, last.error_type, last.message)
