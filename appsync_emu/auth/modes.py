"""Auth modes: which of AppSync's five the emulator checks, and one small module per checked mode.

`MODES` maps a mode to the module that checks its credential (`api_key.py`, `iam.py`); the
`Authorizer` routes each request to one of them by the credential it presents. Adding a mode
is adding its module and one line here. A mode missing from `MODES` is reported by `validate`
and the banner, and a request that would be checked under it is refused with `NotEmulated`.
"""

from __future__ import annotations

from ..config.model import AuthMode, GraphQLApi
from ..support import Gap, GapKind

#: Checked modes → their module in this package.
MODES = {
    AuthMode.API_KEY: "api_key",
    AuthMode.AWS_IAM: "iam",
    AuthMode.AMAZON_COGNITO_USER_POOLS: "cognito",
    AuthMode.OPENID_CONNECT: "oidc",
    AuthMode.AWS_LAMBDA: "lambda_",
}


def auth_gaps(api: GraphQLApi) -> list[Gap]:
    """The API's auth modes the emulator does not check."""
    providers = {p.mode: p for p in reversed([api.default_auth, *api.additional_auth])}
    return [
        Gap(GapKind.AUTH_MODE, mode.value, f"API {api.name}", providers[mode].origin or api.origin)
        for mode in dict.fromkeys(api.auth_modes)
        if mode not in MODES
    ]
