"""The `cognito-notes` example end to end: the real server, tokens of the template's user pool, DynamoDB.

The user pool is the default mode, the API key an additional one: each user reads and writes only
their own notes, the admin group alone reads and deletes anyone's, a shared note is readable with
the API key, and `onNoteAdded` delivers each subscriber only their own new notes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import EXAMPLES

from .conftest import CLI, gql_post, serving
from .wsclient import RawClient, api_key_header

ME = "query { me { sub username groups } }"
ADD = "mutation A($t: String!, $s: Boolean) { addNote(text: $t, shared: $s) { owner id text shared createdAt } }"
NOTES = "query N($n: Int, $next: String) { notes(limit: $n, nextToken: $next) { items { id text } nextToken } }"
NOTES_OF = "query O($o: ID!) { notesOf(owner: $o) { items { id text } } }"
SHARED = "query S($o: ID!, $id: ID!) { sharedNote(owner: $o, id: $id) { owner id text } }"
DELETE = "mutation D($id: ID!) { deleteNote(id: $id) { id text } }"
REMOVE = "mutation R($o: ID!, $id: ID!) { removeNote(owner: $o, id: $id) { id text } }"
ON_NOTE = "subscription { onNoteAdded { owner id text } }"


def needs_node() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed: the embedded DynamoDB engine (dynalite) runs on node")


@pytest.fixture(scope="module")
def notes() -> Iterator[EmulatorHandle]:
    needs_node()
    handle = start_emulator(EXAMPLES / "cognito-notes")
    yield handle
    handle.stop()


def as_user(api: EmulatorHandle, token: str, query: str, **variables: Any) -> httpx.Response:
    """POST with a user pool token in `Authorization`, as Amplify and Apollo send it."""
    return httpx.post(
        api.graphql_url, json={"query": query, "variables": variables}, headers={"authorization": token}, timeout=10
    )


def ok(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def test_me_is_the_identity_appsync_built_from_the_token(notes: EmulatorHandle) -> None:
    alice = notes.token("alice", groups=["admin"])
    me = ok(as_user(notes, alice, ME))["me"]
    assert me == {"sub": notes.emulator.issuers.get().sub("alice"), "username": "alice", "groups": ["admin"]}
    assert ok(as_user(notes, notes.token("bob"), ME))["me"]["groups"] == []


def test_each_user_reads_only_their_own_notes_newest_first(notes: EmulatorHandle) -> None:
    carol, dave = notes.token("carol"), notes.token("dave")
    for text in ["first", "second", "third"]:
        note = ok(as_user(notes, carol, ADD, t=f"  {text} "))["addNote"]
        assert note["text"] == text and note["shared"] is False and note["createdAt"].endswith("Z")
        assert note["owner"] == notes.emulator.issuers.get().sub("carol")
    ok(as_user(notes, dave, ADD, t="dave's"))
    seen: list[str] = []
    token = None
    for _ in range(5):
        page = ok(as_user(notes, carol, NOTES, n=2, next=token))["notes"]
        seen += [item["text"] for item in page["items"]]
        token = page["nextToken"]
        if token is None:
            break
    assert seen == ["third", "second", "first"]
    assert [n["text"] for n in ok(as_user(notes, dave, NOTES))["notes"]["items"]] == ["dave's"]


def test_an_empty_note_is_the_resolvers_validation_error(notes: EmulatorHandle) -> None:
    body = as_user(notes, notes.token("erin"), ADD, t="   ").json()
    assert body["data"] is None
    assert body["errors"][0]["errorType"] == "ValidationError"
    assert body["errors"][0]["message"] == "text must not be empty"


def test_the_admin_group_reads_and_removes_anyones_notes_and_no_other_group_does(notes: EmulatorHandle) -> None:
    admin, member = notes.token("alice", groups=["admin"]), notes.token("frank", groups=["members"])
    note = ok(as_user(notes, member, ADD, t="moderate me"))["addNote"]
    assert [n["text"] for n in ok(as_user(notes, admin, NOTES_OF, o=note["owner"]))["notesOf"]["items"]] == [
        "moderate me"
    ]

    refused = as_user(notes, member, NOTES_OF, o=note["owner"])
    assert refused.status_code == 200
    body = refused.json()
    assert body["data"] is None  # notesOf is non-null, so the whole data goes
    [error] = body["errors"]
    assert (error["errorType"], error["message"], error["path"]) == (
        "Unauthorized",
        "Not Authorized to access notesOf on type Query",
        ["notesOf"],
    )
    body = as_user(notes, member, REMOVE, o=note["owner"], id=note["id"]).json()
    assert body["data"] == {"removeNote": None}
    assert body["errors"][0]["message"] == "Not Authorized to access removeNote on type Mutation"

    assert ok(as_user(notes, admin, REMOVE, o=note["owner"], id=note["id"]))["removeNote"]["text"] == "moderate me"
    assert ok(as_user(notes, member, NOTES))["notes"]["items"] == []


def test_a_user_deletes_only_their_own_note(notes: EmulatorHandle) -> None:
    gina, hank = notes.token("gina"), notes.token("hank")
    note = ok(as_user(notes, gina, ADD, t="mine"))["addNote"]
    assert ok(as_user(notes, hank, DELETE, id=note["id"]))["deleteNote"] is None  # hank has no such note
    assert ok(as_user(notes, gina, DELETE, id=note["id"]))["deleteNote"] == {"id": note["id"], "text": "mine"}
    assert ok(as_user(notes, gina, DELETE, id=note["id"]))["deleteNote"] is None


def test_the_api_key_reads_a_shared_note_and_nothing_else(notes: EmulatorHandle) -> None:
    ivy = notes.token("ivy")
    shared = ok(as_user(notes, ivy, ADD, t="for everyone", s=True))["addNote"]
    private = ok(as_user(notes, ivy, ADD, t="for me"))["addNote"]
    public = gql_post(notes, SHARED, {"o": shared["owner"], "id": shared["id"]})
    assert ok(public) == {"sharedNote": {"owner": shared["owner"], "id": shared["id"], "text": "for everyone"}}
    assert ok(gql_post(notes, SHARED, {"o": private["owner"], "id": private["id"]})) == {"sharedNote": None}
    # Signed-in users may read it too: the field names both modes.
    assert ok(as_user(notes, notes.token("jack"), SHARED, o=shared["owner"], id=shared["id"]))["sharedNote"]

    for query, name, kind in [(NOTES, "notes", "Query"), (ME, "me", "Query"), (ADD, "addNote", "Mutation")]:
        body = gql_post(notes, query, {"t": "x"}).json()
        assert body["data"] is None
        assert body["errors"][0]["errorType"] == "Unauthorized"
        assert body["errors"][0]["message"] == f"Not Authorized to access {name} on type {kind}"


def test_a_request_without_credentials_is_refused(notes: EmulatorHandle) -> None:
    r = httpx.post(notes.graphql_url, json={"query": ME}, timeout=10)
    assert r.status_code == 401
    assert r.json() == {
        "errors": [{"errorType": "UnauthorizedException", "message": "Valid authorization header not provided."}]
    }


async def test_a_subscriber_gets_only_their_own_new_notes(notes: EmulatorHandle) -> None:
    kate, liam = notes.token("kate"), notes.token("liam")
    host = notes.graphql_url.split("/")[2]
    client = await RawClient.open(notes, header={"host": host, "Authorization": kate}, via="subprotocol")
    assert (await client.init())["type"] == "connection_ack"
    started = await client.start("mine", ON_NOTE, authorization={"host": host, "Authorization": kate})
    assert started["type"] == "start_ack", started
    ok(as_user(notes, liam, ADD, t="liam's, not for kate"))
    mine = ok(as_user(notes, kate, ADD, t="kate's"))["addNote"]
    event = await client.recv(timeout=10)
    assert event["id"] == "mine"
    assert event["payload"]["data"]["onNoteAdded"] == {"owner": mine["owner"], "id": mine["id"], "text": "kate's"}
    await client.close()


async def test_the_filter_reads_owner_from_what_the_mutation_selected(notes: EmulatorHandle) -> None:
    mona = notes.token("mona")
    host = notes.graphql_url.split("/")[2]
    client = await RawClient.open(notes, header={"host": host, "Authorization": mona}, via="subprotocol")
    assert (await client.init())["type"] == "connection_ack"
    started = await client.start("s", ON_NOTE, authorization={"host": host, "Authorization": mona})
    assert started["type"] == "start_ack", started
    ok(as_user(notes, mona, 'mutation { addNote(text: "unseen") { id text } }'))
    seen = ok(as_user(notes, mona, ADD, t="seen"))["addNote"]
    event = await client.recv(timeout=10)
    assert event["payload"]["data"]["onNoteAdded"] == {"owner": seen["owner"], "id": seen["id"], "text": "seen"}
    await client.close()


async def test_the_api_key_cannot_subscribe_to_a_user_pool_field(notes: EmulatorHandle) -> None:
    client = await RawClient.open(notes)
    assert (await client.init())["type"] == "connection_ack"
    refused = await client.start("k", ON_NOTE, authorization=api_key_header(notes))
    assert refused["type"] == "error" and refused["id"] == "k"
    assert refused["payload"]["errors"][0] == {
        "errorType": "Unauthorized",
        "message": "Not Authorized to access onNoteAdded on type Subscription",
    }
    await client.close()


def test_the_readmes_three_lines() -> None:
    """`serve`, `token` and the call, as the example's README gives them (on a free port: `--url` says which)."""
    needs_node()
    with serving(str(EXAMPLES / "cognito-notes")) as served:
        [base] = [m.group(1) for line in served.banner if (m := re.match(r"appsync-emu: ready on (\S+)", line))]
        minted = subprocess.run(
            [*CLI, "token", str(EXAMPLES / "cognito-notes"), "--user", "alice", "--groups", "admin", "--url", base],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert minted.returncode == 0, minted.stderr
        r = httpx.post(
            f"{base}/graphql",
            json={"query": "{ me { username groups } }"},
            headers={"Authorization": minted.stdout.strip()},
            timeout=10,
        )
    assert r.json() == {"data": {"me": {"username": "alice", "groups": ["admin"]}}}
