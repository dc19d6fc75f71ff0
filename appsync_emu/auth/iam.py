"""AWS_IAM: a SigV4 signature (service `appsync`) by one of the credentials the emulator knows.

IAM policies are not evaluated: any known credential may call (docs/DECISIONS.md).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..config.model import AuthMode
from .context import AuthContext, AuthError
from .sigv4 import SigV4Error, identity_dict, verify_sigv4


def authorize(
    credentials: Mapping[str, str],
    headers: Mapping[str, str],
    *,
    method: str,
    paths: tuple[str, ...],
    query: str,
    body: bytes,
    source_ip: str | None,
    now: float,
) -> AuthContext:
    """Accept a request signed for one of `paths` (clients sign different real-time paths); else AWS's error."""
    last: SigV4Error | None = None
    for path in paths:
        try:
            principal = verify_sigv4(method, path, query, headers, body, credentials.get, now=now)
        except SigV4Error as err:
            last = err
            continue
        return AuthContext(AuthMode.AWS_IAM, identity_dict(principal, source_ip), dict(headers))
    assert last is not None
    raise AuthError(last.status, last.error_type, last.message)
