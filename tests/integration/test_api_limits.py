"""The API settings a template sets are enforced as AppSync enforces them.

`IntrospectionConfig: DISABLED` makes `__schema` and `__type` unknown fields (a validation error,
as AppSync's documentation shows); `QueryDepthLimit` and `ResolverCountLimit` fail the fields past
the limit with a field-level limit error, the rest of the response intact.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import APPS
from tests.integration.conftest import gql_post


@pytest.fixture(scope="module")
def api() -> Iterator[EmulatorHandle]:
    handle = start_emulator(APPS / "limits")
    yield handle
    handle.stop()


def test_introspection_disabled_is_a_validation_error_and_typename_still_works(api: EmulatorHandle) -> None:
    r = gql_post(api, "{ __schema { queryType { name } } }")
    assert r.status_code == 400
    assert r.json()["errors"][0]["message"] == (
        "Validation error of type FieldUndefined: Field '__schema' in type 'Query' is undefined @ '__schema'"
    )
    r = gql_post(api, '{ __type(name: "Node") { name } }')
    assert r.status_code == 400 and "Field '__type' in type 'Query' is undefined" in r.json()["errors"][0]["message"]
    assert gql_post(api, "{ __typename }").json() == {"data": {"__typename": "Query"}}


def test_fields_deeper_than_the_depth_limit_fail_and_the_rest_resolves(api: EmulatorHandle) -> None:
    body = gql_post(api, "{ node { name child { name child { name } } } }").json()  # node is depth 1
    assert body["data"] == {"node": {"name": "a", "child": {"name": "b", "child": {"name": None}}}}
    (error,) = body["errors"]
    assert error["path"] == ["node", "child", "child", "name"]
    assert error["errorType"] == "LimitExceeded" and error["message"] == "Query depth limit of 3 exceeded"
    assert "errors" not in gql_post(api, "{ node { child { name } } }").json()


def test_resolvers_past_the_count_limit_fail_and_the_first_ones_run(api: EmulatorHandle) -> None:
    body = gql_post(api, "{ nodes { name count } }").json()
    counts = [n["count"] for n in body["data"]["nodes"]]
    assert counts == [1, 1, None, None]  # Query.nodes and two Node.count resolvers fit the limit of 3
    assert {e["errorType"] for e in body["errors"]} == {"LimitExceeded"}
    assert body["errors"][0]["message"] == "Resolver count limit of 3 exceeded"
    assert gql_post(api, "{ node { count } }").json() == {"data": {"node": {"count": 1}}}
