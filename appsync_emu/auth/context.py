"""Who is calling: the authorization mode a request was accepted under and its identity."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config.model import AuthMode

#: `util.authType()` values (docs/APPSYNC.md §4.1).
AUTH_TYPE_NAMES = {
    AuthMode.API_KEY: "API Key Authorization",
    AuthMode.AWS_IAM: "IAM Authorization",
    AuthMode.AMAZON_COGNITO_USER_POOLS: "User Pool Authorization",
    AuthMode.OPENID_CONNECT: "Open ID Connect Authorization",
    AuthMode.AWS_LAMBDA: "Lambda Authorization",
}


@dataclass
class AuthContext:
    """The accepted caller of one request or subscription."""

    mode: AuthMode
    identity: dict[str, Any] | None = None  # `ctx.identity`; null for API keys
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased, for `ctx.request.headers`
    groups: frozenset[str] = frozenset()  # cognito:groups, for @aws_cognito_user_pools(cognito_groups)
    denied_fields: frozenset[str] = frozenset()  # Lambda authorizer's deniedFields as "Type.field"

    @property
    def auth_type(self) -> str:
        return AUTH_TYPE_NAMES[self.mode]


class AuthError(Exception):
    """A refused request: HTTP status, AppSync errorType and message."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
