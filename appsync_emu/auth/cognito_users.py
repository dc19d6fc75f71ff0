"""The users of the emulator's Cognito endpoint: from `--users FILE`, `--user`, or the default pair.

A users file is YAML (or JSON) mapping a pool (its logical id or pool id; `"*"`
for every pool) to its users:

    UserPool:
      - username: alice
        password: Passw0rd!
        groups: [admin]
        attributes: {email: alice@example.com, email_verified: "true"}
      - {username: carol, password: Temp0rary!, temporary: true}   # must set a new password first

`--user alice:Passw0rd!:admin,editor` adds a user to every pool (the groups part is optional; a
password holding `:` needs it, even empty: `alice:pa:ss:`). Without either, every pool has
`DEFAULT_USERS`: alice (group admin) and bob (no group), both with `DEFAULT_PASSWORD`, so an app
and the bundled examples can sign in at once (docs/COGNITO.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cognito_idp import AppClient, CognitoIdp, Pool, UserSpec, auth_flows

log = logging.getLogger("appsync_emu.auth")

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from ..config.model import Project
    from ..transport.origins import OriginPolicy
    from .issuers import Issuers

DEFAULT_PASSWORD = "Passw0rd!"  # documented (docs/COGNITO.md): the default users' password
DEFAULT_USERS = (
    UserSpec("alice", DEFAULT_PASSWORD, ("admin",), {"email": "alice@example.com", "email_verified": "true"}),
    UserSpec("bob", DEFAULT_PASSWORD, (), {"email": "bob@example.com", "email_verified": "true"}),
)
EVERY_POOL = "*"
_USER_KEYS = frozenset({"username", "password", "groups", "attributes", "temporary", "enabled"})


class UsersError(ValueError):
    """A users file or `--user` that cannot be read, with where and why."""


def parse_user_arg(text: str) -> UserSpec:
    """`alice:Passw0rd!` or `alice:Passw0rd!:admin,editor` (a password with `:` needs the groups part)."""
    username, sep, rest = text.partition(":")
    if not sep or not username or not rest:
        raise UsersError(f"--user: expected USERNAME:PASSWORD[:GROUP,GROUP], got {text!r}")
    password, groups = rest, ""
    if ":" in rest:
        password, _, groups = rest.rpartition(":")
    if not password:
        raise UsersError(f"--user {username}: the password is empty")
    return UserSpec(username, password, tuple(g.strip() for g in groups.split(",") if g.strip()))


def read_users_file(path: Path) -> dict[str, list[UserSpec]]:
    """A users file as pool key → users; `UsersError` names the file and the entry that is wrong."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise UsersError(f"--users {path}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise UsersError(f"--users {path}: not YAML: {err}") from None
    if not isinstance(data, dict):
        raise UsersError(f"--users {path}: expected a mapping of pool → list of users")
    out: dict[str, list[UserSpec]] = {}
    for pool, users in data.items():
        where = f"--users {path}: {pool}"
        if not isinstance(users, list):
            raise UsersError(f"{where}: expected a list of users")
        out[str(pool)] = [_user_spec(entry, f"{where}[{i}]") for i, entry in enumerate(users)]
    return out


def _user_spec(entry: Any, where: str) -> UserSpec:
    if not isinstance(entry, dict):
        raise UsersError(f"{where}: expected a mapping with username and password")
    unknown = sorted(set(entry) - _USER_KEYS)
    if unknown:
        raise UsersError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_USER_KEYS))}")
    username, password = entry.get("username"), entry.get("password")
    if not isinstance(username, str) or not username:
        raise UsersError(f"{where}: username must be a non-empty string")
    if not isinstance(password, str | int) or not str(password):
        raise UsersError(f"{where} ({username}): password must be a non-empty string")
    groups = entry.get("groups") or []
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise UsersError(f"{where} ({username}): groups must be a list of names")
    attributes = entry.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise UsersError(f"{where} ({username}): attributes must be a mapping of name → value")
    values = {str(k): _attribute(v) for k, v in attributes.items()}
    return UserSpec(
        username,
        str(password),
        tuple(groups),
        values,
        temporary=bool(entry.get("temporary", False)),
        enabled=bool(entry.get("enabled", True)),
    )


def _attribute(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def cognito_endpoint(
    project: Project,
    issuers: Issuers,
    origins: OriginPolicy,
    *,
    users_file: Path | None = None,
    users: Sequence[str] = (),
) -> tuple[CognitoIdp | None, list[BaseRoute]]:
    """The Cognito endpoint and its route when the template has a user pool; `UsersError` for bad users."""
    from ..secret import derived
    from .cognito_idp import CognitoIdpApp, cognito_route

    if not any(i.kind == "cognito" for i in issuers):
        if users_file is not None or users:
            raise UsersError("--users/--user: the template has no Cognito user pool to sign in to")
        return None, []
    client_settings = {cid: props for pool in project.user_pools for cid, props in pool.client_settings.items()}
    pool_settings = {pool.pool_id: pool.sign_in for pool in project.user_pools}
    idp = build_idp(
        issuers,
        bytes.fromhex(derived("cognito-refresh-tokens", 64)),
        users_file=users_file,
        users=users,
        client_settings=client_settings,
        pool_settings=pool_settings,
    )
    return idp, [cognito_route(CognitoIdpApp(idp, origins))]


def build_idp(
    issuers: Issuers,
    refresh_key: bytes,
    *,
    users_file: Path | None = None,
    users: Sequence[str] = (),
    client_settings: Mapping[str, Mapping[str, Any]] | None = None,
    pool_settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> CognitoIdp:
    """The Cognito endpoint for the issuers' user pools, with their users and app clients.

    `client_settings` maps a client id to its template properties (`ExplicitAuthFlows`,
    `PreventUserExistenceErrors`); a client without an entry (a pool with no UserPoolClient in the
    template gets one default client) allows every flow. `pool_settings` maps a pool id to its
    `UsernameAttributes`, `AliasAttributes` and `UsernameConfiguration`.
    """
    cognito = [i for i in issuers if i.kind == "cognito"]
    specs: dict[str, list[UserSpec]] = {}
    if users_file is not None:
        specs = read_users_file(users_file)
    extra = [parse_user_arg(u) for u in users]
    if extra:
        specs.setdefault(EVERY_POOL, []).extend(extra)
    if users_file is None and not extra:
        specs = {EVERY_POOL: list(DEFAULT_USERS)}
    pools: list[Pool] = []
    for issuer in cognito:
        settings = client_settings or {}
        client_ids = list(issuer.client_ids) or [_default_client(issuer.pool_id or "")]
        clients = {cid: _client(cid, settings.get(cid)) for cid in client_ids}
        aliases, case_sensitive = _sign_in((pool_settings or {}).get(issuer.pool_id or "", {}))
        pools.append(Pool(issuer, clients, aliases=aliases, case_sensitive=case_sensitive))
    for key, entries in specs.items():
        for pool in _pools_for(key, pools, users_file):
            for spec in entries:
                pool.add(spec)
    return CognitoIdp(pools, refresh_key)


def _sign_in(props: Mapping[str, Any]) -> tuple[tuple[str, ...], bool]:
    """A pool's sign-in aliases and username case sensitivity from its template properties."""
    names = [*(props.get("UsernameAttributes") or []), *(props.get("AliasAttributes") or [])]
    aliases = tuple(str(n) for n in names if n in ("email", "phone_number", "preferred_username"))
    config = props.get("UsernameConfiguration")
    sensitive = config.get("CaseSensitive", True) if isinstance(config, dict) else True
    return aliases, sensitive not in (False, "false", "False")


def _default_client(pool_id: str) -> str:
    from ..config.cognito import default_client_id

    return default_client_id(pool_id)


def _client(client_id: str, props: Mapping[str, Any] | None) -> AppClient:
    if props is None:
        return AppClient(client_id)
    if props.get("GenerateSecret") in (True, "true", "True"):
        log.warning(
            "Cognito app client %s has GenerateSecret: true; the emulator's Cognito endpoint does not know its "
            "secret and does not check SECRET_HASH",
            client_id,
        )
    explicit = props.get("ExplicitAuthFlows")
    flows = auth_flows([str(f) for f in explicit] if isinstance(explicit, list) else None)
    hide = str(props.get("PreventUserExistenceErrors", "LEGACY")) == "ENABLED"
    return AppClient(client_id, flows, hide)


def _pools_for(key: str, pools: Iterable[Pool], users_file: Path | None) -> list[Pool]:
    pools = list(pools)
    if key == EVERY_POOL:
        return pools
    found = [p for p in pools if key in (p.pool_id, p.issuer.name, p.issuer.logical_id)]
    if not found:
        names = ", ".join(f"{p.issuer.name} ({p.pool_id})" for p in pools) or "none"
        raise UsersError(f"--users {users_file}: no user pool {key!r}; the template's pools are: {names}")
    return found
