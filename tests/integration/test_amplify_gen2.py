"""An Amplify Gen 2 backend (`defineBackend({ auth, data })`), synthesized offline, served unchanged.

`tests/fixtures/cdk/amplify-gen2/cdk.out` is what `cdk synth` made of its `amplify/backend.ts`
(SOURCE.md). Amplify puts the API in a nested stack, each model's table, data source, pipeline
functions and VTL resolvers in a nested stack below it, and the table behind its
`Custom::AmplifyDynamoDBTable` resource; the generated resolvers run as in AppSync, against the
embedded DynamoDB engine, under API-key access (`Todo`) and owner access with the local user
pool's tokens (`Note`).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import FIXTURES

from .conftest import gql_post
from .wsclient import RawClient

ASSEMBLY = FIXTURES / "cdk" / "amplify-gen2" / "cdk.out"

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(shutil.which("node") is None, reason="needs node (the embedded DynamoDB engine runs on it)"),
]


@pytest.fixture(scope="module")
def backend() -> Iterator[EmulatorHandle]:
    handle = start_emulator(ASSEMBLY, shutdown_grace_s=1.0)
    yield handle
    handle.stop()


def data(api: EmulatorHandle, query: str, **variables: Any) -> dict[str, Any]:
    body = gql_post(api, query, variables).json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


def test_the_generated_crud_resolvers_run_against_the_models_table(backend: EmulatorHandle) -> None:
    created = data(backend, 'mutation { createTodo(input: {content: "offline"}) { id content createdAt } }')
    todo = created["createTodo"]
    assert todo["content"] == "offline" and todo["createdAt"].endswith("Z")
    got = data(backend, "query($id: ID!) { getTodo(id: $id) { id content } }", id=todo["id"])
    assert got == {"getTodo": {"id": todo["id"], "content": "offline"}}
    updated = data(
        backend, 'mutation($id: ID!) { updateTodo(input: {id: $id, content: "changed"}) { content } }', id=todo["id"]
    )
    assert updated == {"updateTodo": {"content": "changed"}}
    listed = data(backend, 'query { listTodos(filter: {content: {beginsWith: "ch"}}) { items { id } } }')
    assert {"id": todo["id"]} in listed["listTodos"]["items"]
    data(backend, "mutation($id: ID!) { deleteTodo(input: {id: $id}) { id } }", id=todo["id"])
    assert data(backend, "query($id: ID!) { getTodo(id: $id) { id } }", id=todo["id"]) == {"getTodo": None}


def test_creating_an_existing_id_is_refused_by_the_generated_condition(backend: EmulatorHandle) -> None:
    query = 'mutation { createTodo(input: {id: "same", content: "x"}) { id } }'
    assert data(backend, query) == {"createTodo": {"id": "same"}}
    [error] = gql_post(backend, query).json()["errors"]
    assert error["errorType"] == "DynamoDB:ConditionalCheckFailedException"


async def test_a_subscriber_gets_the_created_todo(backend: EmulatorHandle) -> None:
    client = await RawClient.open(backend)
    await client.init()
    ack = await client.start("s", "subscription { onCreateTodo { id content } }")
    assert ack["type"] == "start_ack", ack
    todo = data(backend, 'mutation { createTodo(input: {content: "pushed"}) { id content } }')["createTodo"]
    event = await client.recv(timeout=10)
    assert event["payload"]["data"]["onCreateTodo"] == todo
    await client.close()


def test_owner_auth_keeps_each_users_notes_to_themselves(backend: EmulatorHandle) -> None:
    """`allow.owner()`: Amplify's resolvers read `ctx.identity.claims` of the local pool's tokens."""
    alice, bob = backend.token("alice"), backend.token("bob")

    def as_user(token: str, query: str, **variables: Any) -> dict[str, Any]:
        body = {"query": query, "variables": variables}
        return httpx.post(backend.graphql_url, json=body, headers={"authorization": token}, timeout=10).json()  # type: ignore[no-any-return]

    note = as_user(alice, 'mutation { createNote(input: {text: "mine"}) { id text owner } }')["data"]["createNote"]
    assert note["text"] == "mine" and note["owner"] == "alice"
    listed = as_user(alice, "query { listNotes { items { id } } }")["data"]["listNotes"]["items"]
    assert {"id": note["id"]} in listed
    assert as_user(bob, "query { listNotes { items { id } } }")["data"]["listNotes"]["items"] == []
    refused = as_user(bob, 'mutation($id: ID!) { updateNote(input: {id: $id, text: "x"}) { id } }', id=note["id"])
    assert refused["errors"][0]["errorType"] == "Unauthorized" and refused["data"] == {"updateNote": None}
    edited = as_user(
        alice, 'mutation($id: ID!) { updateNote(input: {id: $id, text: "edited"}) { text } }', id=note["id"]
    )
    assert edited == {"data": {"updateNote": {"text": "edited"}}}
    assert as_user(alice, "query { listTodos { items { id } } }")["errors"][0]["errorType"] == "Unauthorized"
