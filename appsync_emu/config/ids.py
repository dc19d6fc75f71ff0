"""Stable identifiers and ARNs: the same template gives the same API id, key and ARNs on every start.

Identifiers derive from the template's *identity* (`cfn.Template.identity`: its file name and its
APIs' logical ids and names), never from where the project lies, so a moved project keeps its
API key. API keys also derive from this machine's secret (`secret.machine_secret`): a web page that
knows a public template could otherwise compute its key and call the local API, as `/graphql`
answers CORS from any origin, like AppSync's (docs/SECURITY.md).
"""

from __future__ import annotations

import hashlib

from ..secret import machine_secret
from .model import DEFAULT_ACCOUNT_ID, DEFAULT_REGION

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def stable_token(*parts: str, length: int = 26) -> str:
    """`length` lower-case letters and digits derived from `parts` (AppSync ids have 26)."""
    number = int.from_bytes(hashlib.sha256("\0".join(parts).encode()).digest(), "big")
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return "".join(chars)


def api_id(identity: str, logical_id: str) -> str:
    """The AppSync API id of a GraphQLApi resource of the template with this identity."""
    return stable_token(identity, logical_id, "api")


def api_key_value(identity: str, logical_id: str) -> str:
    """A `da2-…` API key value for an ApiKey resource: stable on this machine, unguessable elsewhere."""
    return "da2-" + stable_token(machine_secret(), identity, logical_id, "apikey")


def function_id(identity: str, logical_id: str) -> str:
    """The FunctionId of an AppSync FunctionConfiguration resource."""
    return stable_token(identity, logical_id, "function")


def appsync_arn(api: str, suffix: str = "") -> str:
    """`arn:aws:appsync:…:apis/<api id>[/suffix]`."""
    arn = f"arn:aws:appsync:{DEFAULT_REGION}:{DEFAULT_ACCOUNT_ID}:apis/{api}"
    return f"{arn}/{suffix}" if suffix else arn


def arn(service: str, resource: str, *, region: str = DEFAULT_REGION) -> str:
    """A plausible ARN in the emulator's account (`region` empty for global services)."""
    return f"arn:aws:{service}:{region}:{DEFAULT_ACCOUNT_ID}:{resource}"
