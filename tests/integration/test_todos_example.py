"""The `todos` example end to end: the real server, the embedded DynamoDB engine, a real worker.

Every resolver of `examples/todos` (a validating pipeline that puts with a condition, a get, a
paginated query newest first, an update that refuses a missing todo, a remove), the subscription
every change reaches, and the Python function that reads the same table with boto3.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import EXAMPLES

from .conftest import gql_post
from .wsclient import RawClient

ADD = "mutation A($l: ID!, $t: String!) { addTodo(listId: $l, title: $t) { listId id title done createdAt } }"
PAGE = """query P($l: ID!, $n: Int, $next: String) {
  todos(listId: $l, limit: $n, nextToken: $next) { items { id title done } nextToken }
}"""
GET = "query G($l: ID!, $id: ID!) { todo(listId: $l, id: $id) { id title done } }"
# Subscribers get the fields the mutation selected, so each selects what `onTodoChanged` asks for.
COMPLETE = "mutation C($l: ID!, $id: ID!) { completeTodo(listId: $l, id: $id) { listId id title done } }"
DELETE = "mutation D($l: ID!, $id: ID!) { deleteTodo(listId: $l, id: $id) { listId id title done } }"
SUMMARY = "query S($l: ID!) { summary(listId: $l) { listId open done } }"


@pytest.fixture(scope="module")
def todos() -> Iterator[EmulatorHandle]:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed: the embedded DynamoDB engine (dynalite) runs on node")
    handle = start_emulator(EXAMPLES / "todos")
    yield handle
    handle.stop()


def call(api: EmulatorHandle, query: str, **variables: Any) -> dict[str, Any]:
    body: dict[str, Any] = gql_post(api, query, variables).json()
    return body


def add(api: EmulatorHandle, list_id: str, title: str) -> dict[str, Any]:
    body = call(api, ADD, l=list_id, t=title)
    assert "errors" not in body, body
    todo: dict[str, Any] = body["data"]["addTodo"]
    return todo


def test_add_get_complete_and_delete_a_todo(todos: EmulatorHandle) -> None:
    todo = add(todos, "crud", "  Water the plants ")
    assert todo["title"] == "Water the plants" and todo["done"] is False and todo["createdAt"].endswith("Z")
    assert call(todos, GET, l="crud", id=todo["id"])["data"]["todo"] == {
        "id": todo["id"],
        "title": "Water the plants",
        "done": False,
    }
    completed = call(todos, COMPLETE, l="crud", id=todo["id"])["data"]["completeTodo"]
    assert completed == {"listId": "crud", "id": todo["id"], "title": "Water the plants", "done": True}
    assert call(todos, DELETE, l="crud", id=todo["id"])["data"]["deleteTodo"]["title"] == "Water the plants"
    assert call(todos, GET, l="crud", id=todo["id"])["data"]["todo"] is None


def test_the_pipeline_refuses_an_empty_title_before_anything_is_written(todos: EmulatorHandle) -> None:
    body = call(todos, ADD, l="empty", t="   ")
    assert body["data"] is None
    assert body["errors"][0]["errorType"] == "ValidationError"
    assert call(todos, PAGE, l="empty")["data"]["todos"] == {"items": [], "nextToken": None}


def test_completing_a_missing_todo_is_the_conditions_error(todos: EmulatorHandle) -> None:
    body = call(todos, COMPLETE, l="crud", id="no-such-todo")
    assert body["data"] is None
    [error] = body["errors"]
    assert error["errorType"] == "DynamoDB:ConditionalCheckFailedException"
    assert error["message"] == "No todo no-such-todo in list crud"


def test_a_list_reads_newest_first_a_page_at_a_time(todos: EmulatorHandle) -> None:
    titles = [f"task {i}" for i in range(5)]
    for title in titles:
        add(todos, "pages", title)
    seen: list[str] = []
    token = None
    for _ in range(10):
        page = call(todos, PAGE, l="pages", n=2, next=token)["data"]["todos"]
        assert len(page["items"]) <= 2
        seen += [item["title"] for item in page["items"]]
        token = page["nextToken"]
        if token is None:
            break
    assert seen == list(reversed(titles))


def test_the_function_counts_what_the_resolvers_wrote(todos: EmulatorHandle) -> None:
    first = add(todos, "count", "one")
    add(todos, "count", "two")
    add(todos, "count", "three")
    call(todos, COMPLETE, l="count", id=first["id"])
    body = call(todos, SUMMARY, l="count")
    assert body == {"data": {"summary": {"listId": "count", "open": 2, "done": 1}}}


async def test_every_change_reaches_the_lists_subscribers(todos: EmulatorHandle) -> None:
    mine = await RawClient.open(todos)
    await mine.init()
    query = "subscription S($l: ID!) { onTodoChanged(listId: $l) { listId id title done } }"
    assert (await mine.start("s", query, {"l": "live"}))["type"] == "start_ack"
    todo = add(todos, "live", "watched")
    add(todos, "elsewhere", "not for this subscriber")
    call(todos, COMPLETE, l="live", id=todo["id"])
    call(todos, DELETE, l="live", id=todo["id"])
    events = [(await mine.recv(timeout=10))["payload"]["data"]["onTodoChanged"] for _ in range(3)]
    assert [e["done"] for e in events] == [False, True, True]
    assert {e["id"] for e in events} == {todo["id"]} and {e["listId"] for e in events} == {"live"}
    await mine.close()
