"""AppSync SDL builds as AppSync builds it (docs/APPSYNC.md §4.2, §5.2)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from graphql import (
    DirectiveDefinitionNode,
    ScalarTypeDefinitionNode,
    get_introspection_query,
    graphql_sync,
    parse,
)

from appsync_emu.config.model import AuthMode, ConfigError, ConfigErrors, Origin
from appsync_emu.schema import (
    AWS_DIRECTIVE_NAMES,
    AWS_SCALAR_NAMES,
    AuthDirectives,
    appsync_prelude_sdl,
    auth_directives,
    build_appsync_schema,
    mutations_by_subscription,
    print_appsync_schema,
    subscriptions_by_mutation,
)

REPO = Path(__file__).resolve().parents[2]
ORIGIN = Origin(Path("schema.graphql"))

BLOG = """\
schema {
  query: Query
  mutation: Mutation
  subscription: Subscription
}

type Post @aws_api_key @aws_iam {
  id: ID!
  title: String
  secret: String @aws_cognito_user_pools(cognito_groups: ["admin", "editors"])
  internal: String @aws_iam
  legacy: String @aws_auth(cognito_groups: ["old"])
  createdAt: AWSDateTime
  meta: AWSJSON @deprecated(reason: "use title")
}

type Comment {
  id: ID!
  body: String @aws_oidc @aws_lambda
}

type Query {
  getPost(id: ID!): Post
  comments: [Comment]
}

type Mutation {
  createPost(title: String!): Post! @aws_iam
  updatePost(id: ID!, title: String): Post
  addComment(body: String): Comment
}

type Subscription {
  onPostChange(id: ID): Post @aws_subscribe(mutations: ["createPost", "updatePost"])
  onComment: Comment @aws_subscribe(mutations: ["addComment"]) @aws_cognito_user_pools
}
"""


def problems(sdl: str, origin: Origin = ORIGIN) -> list[ConfigError]:
    with pytest.raises((ConfigError, ConfigErrors)) as caught:
        build_appsync_schema(sdl, origin)
    error = caught.value
    if isinstance(error, ConfigErrors):
        return error.errors
    assert isinstance(error, ConfigError)
    return [error]


# --- The prelude ----------------------------------------------------------------------


def test_packaged_prelude_is_identical_to_the_top_level_copy() -> None:
    top = (REPO / "schema" / "appsync.graphql").read_text(encoding="utf-8")
    packaged = (REPO / "appsync_emu" / "appsync.graphql").read_text(encoding="utf-8")
    assert packaged == top
    assert appsync_prelude_sdl() == packaged


def test_prelude_declares_exactly_the_aws_directives_and_scalars() -> None:
    document = parse(appsync_prelude_sdl())
    directives = {d.name.value for d in document.definitions if isinstance(d, DirectiveDefinitionNode)}
    scalars = {d.name.value for d in document.definitions if isinstance(d, ScalarTypeDefinitionNode)}
    assert directives == AWS_DIRECTIVE_NAMES
    assert scalars == AWS_SCALAR_NAMES
    assert len(document.definitions) == len(directives) + len(scalars)


def test_implicit_directives_and_scalars_need_no_declaration() -> None:
    schema = build_appsync_schema(BLOG, ORIGIN)
    assert schema.get_directive("aws_subscribe") is not None
    assert schema.get_type("AWSDateTime") is not None


def test_schema_block_is_optional() -> None:
    schema = build_appsync_schema(BLOG.split("}\n", 1)[1], ORIGIN)
    assert schema.mutation_type is not None and schema.mutation_type.name == "Mutation"
    assert schema.subscription_type is not None


def test_schema_block_may_rename_the_root_types() -> None:
    schema = build_appsync_schema("schema { query: Root }\ntype Root { a: Int }", ORIGIN)
    assert schema.query_type is not None and schema.query_type.name == "Root"


def test_built_schema_validates_aws_scalars() -> None:
    schema = build_appsync_schema("type Query { at(d: AWSDate): AWSDate }", ORIGIN)
    assert graphql_sync(schema, '{ at(d: "1970-01-01") }').errors is None
    assert graphql_sync(schema, '{ at(d: "1970-1-1") }').errors


def test_introspection_lists_aws_scalars_and_directives() -> None:
    schema = build_appsync_schema(BLOG, ORIGIN)
    result = graphql_sync(schema, get_introspection_query())
    assert result.errors is None and result.data is not None
    types = {t["name"] for t in result.data["__schema"]["types"]}
    directives = {d["name"] for d in result.data["__schema"]["directives"]}
    assert types >= AWS_SCALAR_NAMES
    assert directives >= {"aws_subscribe", "aws_iam", "aws_cognito_user_pools", "deprecated"}


# --- Errors point at the user's line --------------------------------------------------


def test_syntax_error_reports_the_line_in_the_users_file() -> None:
    [error] = problems("type Query {\n  a: Int\n  b:\n}\n")
    assert error.origin == Origin(Path("schema.graphql"), None, 4)
    assert "Syntax Error: Expected Name, found '}'" in error.message
    assert str(error).startswith("schema.graphql:4: Syntax Error")


def test_line_is_offset_for_sdl_inlined_in_a_template() -> None:
    [error] = problems("type Query {\n  a: Int\n  b:\n}\n", Origin(Path("template.yaml"), "Schema", 20))
    assert error.origin == Origin(Path("template.yaml"), "Schema", 23)


def test_unterminated_description_is_reported_at_the_end_of_the_users_file() -> None:
    [error] = problems('type Query { a: Int }\n"""never closed\n')
    assert error.origin is not None and error.origin.line == 3
    assert "Unterminated string" in error.message


def test_unknown_type_is_reported_at_its_line() -> None:
    [error] = problems("type Query {\n  a: Int\n  b: Missing\n}\n")
    assert error.message.startswith("Unknown type 'Missing'.")
    assert error.origin is not None and error.origin.line == 3


def test_query_type_is_required() -> None:
    [error] = problems("type Mutation { a: Int }")
    assert error.message == "Query root type must be provided."


def test_custom_scalars_are_rejected() -> None:
    [error] = problems("type Query { a: Long }\n\nscalar Long\n")
    assert "custom scalar 'Long' is not supported by AppSync" in error.message
    assert error.origin is not None and error.origin.line == 3


def test_aws_prefix_is_reserved_for_type_names() -> None:
    [error] = problems("type Query { a: AWSThing }\ntype AWSThing { a: Int }")
    assert "'AWSThing' uses the 'AWS' prefix" in error.message
    assert error.origin is not None and error.origin.line == 2


def test_every_problem_is_reported_at_once() -> None:
    errors = problems("type Query { a: Long b: Nope }\nscalar Long\ntype AWSX { a: Int }")
    assert len(errors) == 3
    assert {e.origin.line for e in errors if e.origin} == {1, 2, 3}


def test_redeclared_aws_scalars_and_directives_are_tolerated_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sdl = (
        "scalar AWSDateTime\n"
        "directive @aws_subscribe(mutations: [String]!) on FIELD_DEFINITION\n"
        "type Query { at: AWSDateTime }\n"
    )
    with caplog.at_level(logging.WARNING, logger="appsync_emu.schema"):
        schema = build_appsync_schema(sdl, ORIGIN)
    assert schema.get_type("AWSDateTime") is not None
    assert graphql_sync(schema, "{ at }", root_value={"at": "nope"}).errors
    assert "schema.graphql:1: scalar AWSDateTime is provided by AppSync" in caplog.text
    assert "schema.graphql:2: directive @aws_subscribe is provided by AppSync" in caplog.text


def test_redeclared_aws_scalars_can_be_rejected() -> None:
    with pytest.raises(ConfigErrors) as caught:
        build_appsync_schema("type Query { a: Int }\nscalar AWSJSON\n", ORIGIN, reject_aws_declarations=True)
    (error,) = caught.value.errors
    assert error.message == "AppSync provides scalar AWSJSON itself; remove this declaration (column 1)"
    assert error.origin is not None and error.origin.line == 2


# --- @aws_subscribe -------------------------------------------------------------------


def test_aws_subscribe_naming_an_unknown_mutation_is_rejected() -> None:
    sdl = (
        "type Query { a: Int }\ntype Post { id: ID }\n"
        "type Mutation { createPost: Post }\n"
        'type Subscription {\n  onPost: Post @aws_subscribe(mutations: ["createPost", "creatPost"])\n}\n'
    )
    [error] = problems(sdl)
    assert "Subscription.onPost: @aws_subscribe names mutation 'creatPost'" in error.message
    assert error.origin is not None and error.origin.line == 5


def test_aws_subscribe_without_a_mutation_type_is_rejected() -> None:
    [error] = problems('type Query { a: Int }\ntype Subscription { s: Int @aws_subscribe(mutations: ["m"]) }')
    assert "names mutation 'm', which is not a field of the mutation type" in error.message


def test_aws_subscribe_to_a_mutation_of_another_type_is_rejected() -> None:
    sdl = (
        "type Query { a: Int }\ntype Post { id: ID }\ntype Comment { id: ID }\n"
        "type Mutation { addComment: Comment }\n"
        'type Subscription { onPost: Post @aws_subscribe(mutations: ["addComment"]) }\n'
    )
    [error] = problems(sdl)
    assert "Subscription.onPost returns Post but mutation 'addComment' returns Comment" in error.message


def test_aws_subscribe_ignores_nullability_but_not_lists() -> None:
    ok = (
        "type Query { a: Int }\ntype Post { id: ID }\n"
        "type Mutation { one: Post! many: [Post!]! }\n"
        'type Subscription { onOne: Post @aws_subscribe(mutations: ["one"])'
        ' onMany: [Post] @aws_subscribe(mutations: ["many"]) }\n'
    )
    build_appsync_schema(ok, ORIGIN)
    bad = ok.replace('(mutations: ["one"])', '(mutations: ["many"])')
    [error] = problems(bad)
    assert "returns Post but mutation 'many' returns [Post!]!" in error.message


def test_aws_subscribe_with_non_string_names_is_rejected() -> None:
    sdl = "type Query { a: Int }\ntype Mutation { m: Int }\n"
    sdl += "type Subscription { s: Int @aws_subscribe(mutations: [1]) }\n"
    [error] = problems(sdl)
    assert error.message.startswith("Argument 'mutations' has invalid value")
    assert error.origin is not None and error.origin.line == 3


def test_aws_subscribe_outside_the_subscription_type_only_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="appsync_emu.schema"):
        build_appsync_schema('type Query {\n  a: Int @aws_subscribe(mutations: ["x"])\n}', ORIGIN)
    expected = "schema.graphql:2: @aws_subscribe on Query.a has no effect outside the subscription type"
    assert expected in caplog.text


def test_subscription_and_mutation_links_are_listed_both_ways() -> None:
    schema = build_appsync_schema(BLOG, ORIGIN)
    assert subscriptions_by_mutation(schema) == {
        "createPost": ["onPostChange"],
        "updatePost": ["onPostChange"],
        "addComment": ["onComment"],
    }
    assert mutations_by_subscription(schema) == {
        "onPostChange": ["createPost", "updatePost"],
        "onComment": ["addComment"],
    }


def test_deprecated_aws_publish_also_links_a_mutation_to_subscriptions() -> None:
    sdl = (
        "type Query { a: Int }\ntype Post { id: ID }\n"
        'type Mutation { createPost: Post @aws_publish(subscriptions: ["onPost"]) }\n'
        "type Subscription { onPost: Post }\n"
    )
    schema = build_appsync_schema(sdl, ORIGIN)
    assert subscriptions_by_mutation(schema) == {"createPost": ["onPost"]}


def test_returned_maps_are_copies() -> None:
    schema = build_appsync_schema(BLOG, ORIGIN)
    subscriptions_by_mutation(schema)["createPost"].append("x")
    assert subscriptions_by_mutation(schema)["createPost"] == ["onPostChange"]


# --- Auth directives ------------------------------------------------------------------


def test_field_directives_replace_the_types() -> None:
    schema = build_appsync_schema(BLOG, ORIGIN)
    assert auth_directives(schema, "Post", "internal") == AuthDirectives(frozenset({AuthMode.AWS_IAM}), source="field")
    secret = auth_directives(schema, "Post", "secret")
    assert secret.modes == {AuthMode.AMAZON_COGNITO_USER_POOLS}
    assert secret.cognito_groups == ("admin", "editors")


def test_field_without_directives_takes_the_types() -> None:
    schema = build_appsync_schema(BLOG, ORIGIN)
    title = auth_directives(schema, "Post", "title")
    assert title.modes == {AuthMode.API_KEY, AuthMode.AWS_IAM}
    assert title.source == "type" and title.declared
    assert auth_directives(schema, "Post") == title


def test_no_directives_means_default_mode_only() -> None:
    schema = build_appsync_schema(BLOG, ORIGIN)
    rule = auth_directives(schema, "Query", "getPost")
    assert rule == AuthDirectives() and not rule.declared
    assert auth_directives(schema, "Nope", "nothing") == AuthDirectives()


def test_other_modes_and_aws_auth_are_read() -> None:
    schema = build_appsync_schema(BLOG, ORIGIN)
    assert auth_directives(schema, "Comment", "body").modes == {AuthMode.OPENID_CONNECT, AuthMode.AWS_LAMBDA}
    legacy = auth_directives(schema, "Post", "legacy")
    assert legacy.aws_auth and legacy.aws_auth_groups == ("old",) and legacy.modes == frozenset()
    on_comment = auth_directives(schema, "Subscription", "onComment")
    assert on_comment.modes == {AuthMode.AMAZON_COGNITO_USER_POOLS} and on_comment.cognito_groups is None


def test_type_extensions_carry_auth_directives() -> None:
    schema = build_appsync_schema("type Query { a: Int }\nextend type Query @aws_iam", ORIGIN)
    assert auth_directives(schema, "Query", "a").modes == {AuthMode.AWS_IAM}


# --- Printing -------------------------------------------------------------------------


def test_printed_schema_leaves_out_the_prelude_and_rebuilds() -> None:
    schema = build_appsync_schema(BLOG, ORIGIN)
    printed = print_appsync_schema(schema)
    assert "scalar AWS" not in printed and "directive @aws" not in printed
    assert '@aws_subscribe(mutations: ["createPost", "updatePost"])' in printed
    assert printed.index("type Post") < printed.index("type Comment") < printed.index("type Query")
    rebuilt = build_appsync_schema(printed, ORIGIN)
    assert print_appsync_schema(rebuilt) == printed


def test_printed_schema_can_leave_out_applied_aws_directives() -> None:
    schema = build_appsync_schema(BLOG, ORIGIN)
    printed = print_appsync_schema(schema, include_directives=False)
    assert "@aws_" not in printed
    assert '@deprecated(reason: "use title")' in printed


def test_user_directives_are_kept_when_printing() -> None:
    sdl = "directive @cached(ttl: Int) on FIELD_DEFINITION\n\ntype Query {\n  a: Int @cached(ttl: 5)\n}\n"
    assert print_appsync_schema(build_appsync_schema(sdl, ORIGIN)) == sdl


# --- Import cost ----------------------------------------------------------------------


def test_importing_the_module_does_not_load_graphql_core() -> None:
    code = "import sys, appsync_emu.schema; print('graphql' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"
