"""A two-level nested SAM project served end to end: the API in a child stack, its function in a grandchild.

The root (`AWS::Serverless::Application`) nests the API's stack, which nests the data stack
(`AWS::CloudFormation::Stack`); the data stack's function reaches the API's data source through
its Outputs, and the root's Stage reaches the function through each level's Parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import APPS

from .conftest import gql_post, serving


@pytest.fixture(scope="module")
def api() -> Iterator[EmulatorHandle]:
    handle = start_emulator(APPS / "nested", parameter_overrides={"Stage": "test"})
    yield handle
    handle.stop()


def test_a_query_runs_the_grandchild_stacks_function_with_the_parameters_passed_down(api: EmulatorHandle) -> None:
    body: dict[str, Any] = gql_post(api, 'query { greet(name: "ada") { text function stage } }').json()
    assert body == {
        "data": {"greet": {"text": "hello, ada", "function": "nested-ApiStack-DataStack-Greeter", "stage": "test"}}
    }


def test_the_api_key_of_the_child_stack_is_required(api: EmulatorHandle) -> None:
    response = httpx.post(api.graphql_url, json={"query": '{ greet(name: "x") { text } }'}, timeout=10)
    assert response.status_code == 401


def test_appsync_emu_serve_on_the_root_folder_serves_the_child_stacks_api() -> None:
    with serving(str(APPS / "nested")) as served:
        banner = "\n".join(served.banner)
        url = next(line.split()[-1] for line in served.banner if line.strip().startswith("GraphQL:"))
        key = next(line.split()[2] for line in served.banner if line.strip().startswith("API key:"))
        response = httpx.post(url, json={"query": '{ greet(name: "bo") { text stage } }'}, headers={"x-api-key": key})
    assert "API 'nested-dev'" in banner
    assert response.json() == {"data": {"greet": {"text": "hello, bo", "stage": "dev"}}}
