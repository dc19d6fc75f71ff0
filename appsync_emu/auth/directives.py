"""Which auth modes may read each field, from the schema's `@aws_*` directives.

`schema.auth_directives` reads the directives (a field's replace its type's, docs/APPSYNC.md
§4.2); this module turns them into one `FieldRule` per field, computed once per schema, so
a request pays one check per guarded field and fields every mode may read are not guarded.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import GraphQLObjectType, GraphQLSchema

from ..config.model import AuthMode, GraphQLApi
from ..schema import auth_directives
from .context import AuthContext


@dataclass(frozen=True)
class FieldRule:
    """The modes allowed on one field, and the Cognito groups required (None: any user)."""

    modes: frozenset[AuthMode]
    cognito_groups: frozenset[str] | None = None

    def allows(self, auth: AuthContext) -> bool:
        if auth.mode not in self.modes:
            return False
        if auth.mode is AuthMode.AMAZON_COGNITO_USER_POOLS and self.cognito_groups is not None:
            return bool(auth.groups & self.cognito_groups)
        return True


def field_rule(schema: GraphQLSchema, api: GraphQLApi, type_name: str, field_name: str) -> FieldRule:
    """The effective rule of one field; `@aws_auth` counts only on Cognito-only APIs.

    A Cognito-only API whose user pool's `DefaultAction` is DENY opens to its users only the fields
    a directive (`@aws_auth` or `@aws_cognito_user_pools`) names; the others are denied (docs/DECISIONS.md).
    """
    found = auth_directives(schema, type_name, field_name)
    modes = set(found.modes)
    groups = found.cognito_groups
    cognito_only = set(api.auth_modes) == {AuthMode.AMAZON_COGNITO_USER_POOLS}
    if found.aws_auth and cognito_only:
        modes.add(AuthMode.AMAZON_COGNITO_USER_POOLS)
        groups = found.aws_auth_groups
    if not modes:
        if cognito_only and str(api.default_auth.settings.get("DefaultAction") or "ALLOW").upper() == "DENY":
            return FieldRule(frozenset())
        return FieldRule(frozenset({api.default_auth.mode}))
    return FieldRule(frozenset(modes), frozenset(groups) if groups is not None else None)


def field_rules(schema: GraphQLSchema, api: GraphQLApi) -> dict[tuple[str, str], FieldRule]:
    """The rule of every object field that is narrower than "any mode of the API".

    With a Lambda authorizer every field keeps its rule: the guard is where
    the authorizer's `deniedFields` are checked, and they may name any field.
    """
    all_modes = frozenset(api.auth_modes)
    rules: dict[tuple[str, str], FieldRule] = {}
    for type_name, gql_type in schema.type_map.items():
        if type_name.startswith("__") or not isinstance(gql_type, GraphQLObjectType):
            continue
        for field_name in gql_type.fields:
            rule = field_rule(schema, api, type_name, field_name)
            if rule.modes >= all_modes and rule.cognito_groups is None and AuthMode.AWS_LAMBDA not in all_modes:
                continue
            rules[(type_name, field_name)] = rule
    return rules
