"""Cognito user pools as the model's `UserPool`s: local pool ids, app client ids and issuer URLs.

Each `AWS::Cognito::UserPool` of the template, and each pool an API's `UserPoolConfig` names by a
literal id (a real pool's), gets a local issuer on the emulator. The values `Ref` and `Fn::GetAtt`
return for pools and clients are computed here and nowhere else (`attributes.py` calls these), so
a pool's id, its clients and its `ProviderURL` agree with the issuer that mints its tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from . import ids
from .intrinsics import is_placeholder
from .model import DEFAULT_REGION, AuthMode, GraphQLApi, LocalEndpoints, Origin, UserPool
from .resource import Resource

if TYPE_CHECKING:
    from .stack import Stack

POOL = "AWS::Cognito::UserPool"
CLIENT = "AWS::Cognito::UserPoolClient"


def issuer_url(endpoints: LocalEndpoints, pool_id: str) -> str:
    """A pool's issuer on this emulator, shaped like Cognito's `https://cognito-idp.<region>.amazonaws.com/<id>`."""
    return f"{endpoints.base_url}/{pool_id}"


def user_pool_id(stack: Stack, resource: Resource) -> str:
    """A template pool's id: `<region>_<9 characters>`, stable for the template."""
    return f"{DEFAULT_REGION}_{ids.stable_token(stack.identity, resource.logical_id, 'pool', length=9)}"


def client_id(stack: Stack, resource: Resource) -> str:
    """A UserPoolClient's id (26 characters, as Cognito's), stable for the template."""
    return ids.stable_token(stack.identity, resource.logical_id, "client")


def default_client_id(pool_id: str) -> str:
    """The client id of tokens minted for a pool that has no UserPoolClient in the template."""
    return ids.stable_token(pool_id, "default-client")


def load_user_pools(stacks: Iterable[Stack], apis: Iterable[GraphQLApi], endpoints: LocalEndpoints) -> list[UserPool]:
    """The template's pools with their clients, then the pools the APIs name by a literal id."""
    pools: dict[str, UserPool] = {}
    stacks = list(stacks)
    for stack in stacks:
        for resource in stack.active(POOL):
            pool_id = user_pool_id(stack, resource)
            name = stack.property(resource, "UserPoolName")
            pools[pool_id] = UserPool(
                pool_id,
                issuer_url(endpoints, pool_id),
                logical_id=resource.logical_id,
                name=name if isinstance(name, str) and not is_placeholder(name) else resource.logical_id,
                origin=resource.origin,
                sign_in={
                    key: stack.property(resource, key)
                    for key in ("UsernameAttributes", "AliasAttributes", "UsernameConfiguration")
                    if stack.property(resource, key) is not None
                },
            )
    for stack in stacks:
        for resource in stack.active(CLIENT):
            owner = stack.property(resource, "UserPoolId")
            if isinstance(owner, str) and owner in pools:
                cid = client_id(stack, resource)
                pools[owner].client_ids.append(cid)
                pools[owner].client_settings[cid] = {
                    key: stack.property(resource, key)
                    for key in ("ExplicitAuthFlows", "PreventUserExistenceErrors", "GenerateSecret")
                    if stack.property(resource, key) is not None
                }
    for api in apis:
        for provider in (api.default_auth, *api.additional_auth):
            if provider.mode is not AuthMode.AMAZON_COGNITO_USER_POOLS:
                continue
            named = provider.settings.get("UserPoolId")
            if isinstance(named, str) and named and not is_placeholder(named) and named not in pools:
                pools[named] = UserPool(named, issuer_url(endpoints, named), name=named, origin=provider.origin)
    return list(pools.values())


def default_action_problems(api: GraphQLApi) -> list[tuple[str, Origin | None]]:
    """Where a `UserPoolConfig`'s `DefaultAction` is one AppSync refuses: DENY on a multi-auth API (only
    ALLOW lets the other modes work), or any `DefaultAction` on an additional provider (CloudFormation
    rejects the property there)."""
    found: list[tuple[str, Origin | None]] = []
    default = api.default_auth
    action = str(default.settings.get("DefaultAction") or "ALLOW").upper()
    if default.mode is AuthMode.AMAZON_COGNITO_USER_POOLS and action == "DENY" and api.additional_auth:
        found.append(
            (
                f"API {api.name}: UserPoolConfig DefaultAction DENY is only valid when AMAZON_COGNITO_USER_POOLS is "
                "the API's only mode; with AdditionalAuthenticationProviders AppSync needs ALLOW",
                default.origin,
            )
        )
    for n, provider in enumerate(api.additional_auth):
        if provider.mode is AuthMode.AMAZON_COGNITO_USER_POOLS and "DefaultAction" in provider.settings:
            found.append(
                (
                    f"API {api.name}: AdditionalAuthenticationProviders/{n}/UserPoolConfig has no DefaultAction "
                    "(CloudFormation refuses the property there)",
                    provider.origin,
                )
            )
    return found
