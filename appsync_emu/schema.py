"""Build a GraphQL schema from AppSync SDL and read its AppSync directives (docs/APPSYNC.md §4.2, §5.2).

AppSync schema files use the `aws_*` directives and the AWS scalars without declaring them.
Their declarations live in the packaged `appsync.graphql` and are merged in before the
schema is built; `print_appsync_schema` leaves them out again. Every problem becomes a
`ConfigError` that points at the line of the user's file. graphql-core is imported on
first use, so importing this module stays cheap.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from .config.model import AuthMode, ConfigError, ConfigErrors, Origin

if TYPE_CHECKING:
    from graphql import (
        DirectiveNode,
        DocumentNode,
        GraphQLError,
        GraphQLField,
        GraphQLOutputType,
        GraphQLSchema,
        Node,
        Source,
    )

__all__ = [
    "AUTH_DIRECTIVE_MODES",
    "AWS_DIRECTIVE_NAMES",
    "AWS_SCALAR_NAMES",
    "AuthDirectives",
    "appsync_prelude_sdl",
    "auth_directives",
    "build_appsync_schema",
    "mutations_by_subscription",
    "print_appsync_schema",
    "subscriptions_by_mutation",
]

log = logging.getLogger(__name__)

#: The directives AppSync declares implicitly (defined in `appsync.graphql`).
AWS_DIRECTIVE_NAMES = frozenset(
    {
        "aws_api_key",
        "aws_iam",
        "aws_oidc",
        "aws_lambda",
        "aws_cognito_user_pools",
        "aws_auth",
        "aws_subscribe",
        "aws_publish",
    }
)
#: The scalars AppSync declares implicitly (defined in `appsync.graphql`).
AWS_SCALAR_NAMES = frozenset(
    {
        "AWSDate",
        "AWSTime",
        "AWSDateTime",
        "AWSTimestamp",
        "AWSEmail",
        "AWSJSON",
        "AWSURL",
        "AWSPhone",
        "AWSIPAddress",
    }
)
#: Which auth mode each auth directive allows (`@aws_auth` is Cognito too, see `AuthDirectives`).
AUTH_DIRECTIVE_MODES: dict[str, AuthMode] = {
    "aws_api_key": AuthMode.API_KEY,
    "aws_iam": AuthMode.AWS_IAM,
    "aws_oidc": AuthMode.OPENID_CONNECT,
    "aws_lambda": AuthMode.AWS_LAMBDA,
    "aws_cognito_user_pools": AuthMode.AMAZON_COGNITO_USER_POOLS,
}
_AUTH_DIRECTIVES = frozenset({*AUTH_DIRECTIVE_MODES, "aws_auth"})


@dataclass(frozen=True)
class AuthDirectives:
    """The auth directives governing one field: its own if it has any, else its type's (§4.2).

    `source` is None when neither carries one; then only the API's default mode applies.
    `cognito_groups` restricts `@aws_cognito_user_pools` (None: any signed-in user).
    `@aws_auth` is kept apart because AppSync honours it only when Cognito is the API's
    only mode and ignores it otherwise.
    """

    modes: frozenset[AuthMode] = frozenset()
    cognito_groups: tuple[str, ...] | None = None
    aws_auth: bool = False
    aws_auth_groups: tuple[str, ...] | None = None
    source: Literal["field", "type"] | None = None

    @property
    def declared(self) -> bool:
        """Whether any auth directive applies (else: the default mode only)."""
        return self.source is not None


_NO_AUTH_DIRECTIVES = AuthDirectives()


# --- Prelude --------------------------------------------------------------------------


@cache
def appsync_prelude_sdl() -> str:
    """The text of the packaged `appsync.graphql`: AppSync's implicit directives and scalars."""
    from importlib import resources

    return resources.files(__package__).joinpath("appsync.graphql").read_text(encoding="utf-8")


@cache
def _prelude() -> DocumentNode:
    from graphql import Source, parse

    return parse(Source(appsync_prelude_sdl(), "appsync.graphql"))


# --- Building -------------------------------------------------------------------------


def _where(origin: Origin, source: Source, error: GraphQLError | None) -> tuple[Origin, int | None]:
    """`origin` moved to the user's line of `error`, and the column (unchanged outside the user's source)."""
    if error is None or not error.locations or error.source is not source:
        return origin, None
    location = error.locations[0]
    line = location.line if origin.line is None else origin.line + location.line - 1
    return replace(origin, line=line), location.column


def _problem(message: str, origin: Origin, source: Source, error: GraphQLError | None = None) -> ConfigError:
    """A ConfigError at the user's line of `error`, with the column in the message."""
    where, column = _where(origin, source, error)
    return ConfigError(message if column is None else f"{message} (column {column})", where)


def _at(node: Node, message: str, origin: Origin, source: Source) -> ConfigError:
    from graphql import GraphQLError

    return _problem(message, origin, source, GraphQLError(message, node))


def _origin_of(node: Node, origin: Origin, source: Source) -> Origin:
    """Where `node` sits in the user's file, for warnings."""
    from graphql import GraphQLError

    return _where(origin, source, GraphQLError("", node))[0]


def _raise(problems: list[ConfigError]) -> None:
    if problems:
        raise ConfigErrors(problems)


def build_appsync_schema(sdl: str, origin: Origin, *, reject_aws_declarations: bool = False) -> GraphQLSchema:
    """Parse, build and check AppSync SDL the way AppSync does at deploy time.

    The implicit directives and AWS scalars are added, and the scalars get AppSync's
    behaviour. `origin.line`, when set, is the file line holding the SDL's first line
    (for SDL inlined in a template). Raises `ConfigError` for one problem, `ConfigErrors`
    for several. A schema that declares the AWS scalars or `aws_*` directives itself is
    accepted with a logged warning (the declarations are dropped) unless
    `reject_aws_declarations` is set.
    """
    from graphql import (
        DirectiveDefinitionNode,
        DocumentNode,
        GraphQLSyntaxError,
        ScalarTypeDefinitionNode,
        Source,
        TypeDefinitionNode,
        build_ast_schema,
        parse,
        validate_schema,
    )
    from graphql.validation.validate import validate_sdl

    from .scalars import install_aws_scalars

    source = Source(sdl, str(origin.file))
    try:
        user_document = parse(source)
    except GraphQLSyntaxError as error:
        raise _problem(error.message, origin, source, error) from None

    problems: list[ConfigError] = []
    definitions = []
    for definition in user_document.definitions:
        if isinstance(definition, ScalarTypeDefinitionNode | DirectiveDefinitionNode):
            name = definition.name.value
            is_scalar = isinstance(definition, ScalarTypeDefinitionNode)
            if name in (AWS_SCALAR_NAMES if is_scalar else AWS_DIRECTIVE_NAMES):
                what = f"scalar {name}" if is_scalar else f"directive @{name}"
                if reject_aws_declarations:
                    problems.append(
                        _at(
                            definition,
                            f"AppSync provides {what} itself; remove this declaration",
                            origin,
                            source,
                        )
                    )
                else:
                    where = _origin_of(definition, origin, source)
                    log.warning("%s: %s is provided by AppSync; this declaration is ignored", where, what)
                continue
            if is_scalar:
                problems.append(
                    _at(
                        definition,
                        f"custom scalar '{name}' is not supported by AppSync;"
                        " use a built-in or an AWS scalar (AWSDateTime, AWSJSON, ...)",
                        origin,
                        source,
                    )
                )
        elif isinstance(definition, TypeDefinitionNode) and definition.name.value.startswith("AWS"):
            problems.append(
                _at(
                    definition.name,
                    f"type name '{definition.name.value}' uses the 'AWS' prefix, which AppSync reserves",
                    origin,
                    source,
                )
            )
        definitions.append(definition)

    document = DocumentNode(definitions=(*definitions, *_prelude().definitions))
    sdl_errors = validate_sdl(document)
    if sdl_errors:
        _raise(problems + [_problem(e.message, origin, source, e) for e in sdl_errors])
    schema = build_ast_schema(document, assume_valid_sdl=True)
    problems += [_problem(e.message, origin, source, e) for e in validate_schema(schema)]
    problems += _subscription_problems(schema, origin, source)
    _raise(problems)
    install_aws_scalars(schema)
    return schema


def _type_shape(type_: GraphQLOutputType) -> str:
    """The type without its non-null markers: `[Post!]!` and `[Post]` both give `[Post]`."""
    from graphql import is_list_type, is_non_null_type

    if is_non_null_type(type_):
        return _type_shape(type_.of_type)
    if is_list_type(type_):
        return f"[{_type_shape(type_.of_type)}]"
    return str(type_)


def _directive_node(field: GraphQLField, name: str) -> DirectiveNode | None:
    if field.ast_node is None:
        return None
    return next((d for d in field.ast_node.directives or () if d.name.value == name), None)


def _name_list(schema: GraphQLSchema, field: GraphQLField, directive: str, argument: str) -> list[str]:
    """The strings of a list argument of a directive on `field` (raises GraphQLError if ill-typed)."""
    from graphql import get_directive_values

    definition = schema.get_directive(directive)
    if definition is None or field.ast_node is None:
        return []
    values = get_directive_values(definition, field.ast_node) or {}
    return [v for v in values.get(argument) or () if v is not None]


def _subscription_problems(schema: GraphQLSchema, origin: Origin, source: Source) -> list[ConfigError]:
    """`@aws_subscribe` / `@aws_publish` naming fields that do not exist or return another type."""
    from graphql import GraphQLError

    problems: list[ConfigError] = []
    roots = {"subscription": schema.subscription_type, "mutation": schema.mutation_type}
    links = (
        ("subscription", "aws_subscribe", "mutations", "mutation"),
        ("mutation", "aws_publish", "subscriptions", "subscription"),
    )
    for root_kind, directive, argument, target_kind in links:
        root, target = roots[root_kind], roots[target_kind]
        for type_ in schema.type_map.values():
            fields = getattr(type_, "fields", None)
            if type_.name.startswith("__") or not isinstance(fields, dict):
                continue
            for field_name, field in fields.items():
                node = _directive_node(field, directive)
                if node is None:
                    continue
                if type_ is not root:
                    where = _origin_of(node, origin, source)
                    log.warning(
                        "%s: @%s on %s.%s has no effect outside the %s type",
                        where,
                        directive,
                        type_.name,
                        field_name,
                        root_kind,
                    )
                    continue
                try:
                    names = _name_list(schema, field, directive, argument)
                except GraphQLError as error:
                    problems.append(_problem(error.message, origin, source, error))
                    continue
                for name in names:
                    other = target.fields.get(name) if target is not None else None
                    if other is None:
                        problems.append(
                            _at(
                                node,
                                f"{type_.name}.{field_name}: @{directive} names {target_kind} '{name}',"
                                f" which is not a field of the {target_kind} type",
                                origin,
                                source,
                            )
                        )
                    elif _type_shape(other.type) != _type_shape(field.type):
                        problems.append(
                            _at(
                                node,
                                f"{type_.name}.{field_name} returns {field.type} but {target_kind} '{name}'"
                                f" returns {other.type}; AppSync requires the same type",
                                origin,
                                source,
                            )
                        )
    return problems


# --- Reading a built schema -----------------------------------------------------------


@dataclass
class _SchemaFacts:
    """What the helpers below read from one schema, computed once."""

    auth: dict[tuple[str, str | None], AuthDirectives]
    subscriptions_by_mutation: dict[str, tuple[str, ...]]
    mutations_by_subscription: dict[str, tuple[str, ...]]


_FACTS: weakref.WeakKeyDictionary[GraphQLSchema, _SchemaFacts] = weakref.WeakKeyDictionary()


def _strings(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(v for v in value if v is not None)


def _auth_from(schema: GraphQLSchema, nodes: list[Any], source: Literal["field", "type"]) -> AuthDirectives | None:
    """The auth directives on AST `nodes` (a definition and its extensions), None if there are none."""
    from graphql import get_argument_values

    directives = [d for node in nodes for d in node.directives or () if d.name.value in _AUTH_DIRECTIVES]
    if not directives:
        return None
    modes = set()
    cognito_groups: tuple[str, ...] | None = None
    aws_auth = False
    aws_auth_groups: tuple[str, ...] | None = None
    for directive in directives:
        name = directive.name.value
        definition = schema.get_directive(name)
        args = get_argument_values(definition, directive) if definition is not None else {}
        if name == "aws_auth":
            aws_auth, aws_auth_groups = True, _strings(args.get("cognito_groups"))
            continue
        modes.add(AUTH_DIRECTIVE_MODES[name])
        if name == "aws_cognito_user_pools":
            cognito_groups = _strings(args.get("cognito_groups"))
    return AuthDirectives(frozenset(modes), cognito_groups, aws_auth, aws_auth_groups, source)


def _facts(schema: GraphQLSchema) -> _SchemaFacts:
    facts = _FACTS.get(schema)
    if facts is not None:
        return facts
    from graphql import GraphQLError, is_interface_type, is_object_type

    auth: dict[tuple[str, str | None], AuthDirectives] = {}
    for type_ in schema.type_map.values():
        if type_.name.startswith("__") or not (is_object_type(type_) or is_interface_type(type_)):
            continue
        type_nodes = [n for n in (type_.ast_node, *type_.extension_ast_nodes) if n is not None]
        type_auth = _auth_from(schema, type_nodes, "type") or _NO_AUTH_DIRECTIVES
        auth[(type_.name, None)] = type_auth
        for field_name, field in type_.fields.items():
            field_nodes = [field.ast_node] if field.ast_node is not None else []
            auth[(type_.name, field_name)] = _auth_from(schema, field_nodes, "field") or type_auth

    by_mutation: dict[str, list[str]] = {}
    by_subscription: dict[str, list[str]] = {}

    def link(mutation: str, subscription: str) -> None:
        if subscription not in by_mutation.setdefault(mutation, []):
            by_mutation[mutation].append(subscription)
        if mutation not in by_subscription.setdefault(subscription, []):
            by_subscription[subscription].append(mutation)

    try:
        if schema.subscription_type is not None:
            for name, field in schema.subscription_type.fields.items():
                for mutation in _name_list(schema, field, "aws_subscribe", "mutations"):
                    link(mutation, name)
        if schema.mutation_type is not None:
            for name, field in schema.mutation_type.fields.items():
                for subscription in _name_list(schema, field, "aws_publish", "subscriptions"):
                    link(name, subscription)
    except GraphQLError:
        pass
    facts = _SchemaFacts(
        auth,
        {k: tuple(v) for k, v in by_mutation.items()},
        {k: tuple(v) for k, v in by_subscription.items()},
    )
    _FACTS[schema] = facts
    return facts


def auth_directives(schema: GraphQLSchema, type_name: str, field_name: str | None = None) -> AuthDirectives:
    """The auth directives governing `type_name.field_name`: the field's if any, else the type's.

    With `field_name` None, the type's own directives. Unknown types and fields give an
    `AuthDirectives` with `source` None (default mode only).
    """
    auth = _facts(schema).auth
    found = auth.get((type_name, field_name))
    if found is None and field_name is not None:
        found = auth.get((type_name, None))
    return found or _NO_AUTH_DIRECTIVES


def subscriptions_by_mutation(schema: GraphQLSchema) -> dict[str, list[str]]:
    """Mutation field name → the subscription fields its result is published to, in schema order."""
    return {k: list(v) for k, v in _facts(schema).subscriptions_by_mutation.items()}


def mutations_by_subscription(schema: GraphQLSchema) -> dict[str, list[str]]:
    """Subscription field name → the mutation fields it listens to (`@aws_subscribe(mutations:)`)."""
    return {k: list(v) for k, v in _facts(schema).mutations_by_subscription.items()}


# --- Printing -------------------------------------------------------------------------


def print_appsync_schema(schema: GraphQLSchema, *, include_directives: bool = True) -> str:
    """The schema's SDL as the user would write it: without AppSync's implicit declarations.

    Definitions come out in the order of the source file. With `include_directives` False,
    applied `aws_*` directives are left out too (AppSync's `includeDirectives=false` export).
    """
    from graphql import REMOVE, DocumentNode, Visitor, is_specified_directive, print_ast, visit

    nodes: list[Any] = []
    if schema.ast_node is not None:
        nodes.append(schema.ast_node)
    nodes.extend(schema.extension_ast_nodes)
    for directive in schema.directives:
        if not is_specified_directive(directive) and directive.name not in AWS_DIRECTIVE_NAMES and directive.ast_node:
            nodes.append(directive.ast_node)
    for type_ in schema.type_map.values():
        if type_.name in AWS_SCALAR_NAMES or type_.ast_node is None:
            continue
        nodes.append(type_.ast_node)
        nodes.extend(type_.extension_ast_nodes)
    nodes.sort(key=lambda n: n.loc.start if n.loc is not None else 1 << 62)
    document: Any = DocumentNode(definitions=tuple(nodes))
    if not include_directives:

        class _StripAwsDirectives(Visitor):
            def enter_directive(self, node: DirectiveNode, *_args: Any) -> Any:
                return REMOVE if node.name.value in AWS_DIRECTIVE_NAMES else None

        document = visit(document, _StripAwsDirectives())
    return str(print_ast(document)) + "\n"
