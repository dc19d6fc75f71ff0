"""Real clients in the user pool mode, end to end against the real server (issue 12 item 4).

The API is the `cognito-notes` example: Cognito user pools by default, API key as an additional
mode, `notesOf` for the admin group only. The clients are used as their docs configure them:
gql's `AppSyncJWTAuthentication` over HTTP and the real-time WebSocket; Apollo Client with
`aws-appsync-auth-link` and `aws-appsync-subscription-link` (`AMAZON_COGNITO_USER_POOLS`,
`jwtToken`); Amplify v6 `signIn` (SRP and `USER_PASSWORD_AUTH`) against the emulator's Cognito
endpoint, then `generateClient({ authMode: 'userPool' })`. Tokens the clients do not get by
signing in are minted with the fixture's `api.token(...)`.

Forged credentials are tried on every path a client has (HTTP, the WebSocket's connection, a
subscription's own `extensions.authorization`): a token whose claims were edited after signing,
one signed by a stranger's key under the pool's key id, an expired one, and one of another pool;
Amplify, which signs in itself, with a wrong password and with its stored tokens edited.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import time
from typing import Any

import httpx
import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.appsync_auth import AppSyncApiKeyAuthentication, AppSyncJWTAuthentication
from gql.transport.appsync_websockets import AppSyncWebsocketsTransport
from gql.transport.exceptions import TransportQueryError, TransportServerError
from joserfc.jwk import RSAKey

from appsync_emu.auth.issuers import LocalIssuer
from appsync_emu.pytest_plugin import EmulatorHandle, Factory
from tests.conftest import EXAMPLES, ROOT

from .wsclient import RawClient

NODE_DIR = ROOT / "tests" / "node"
#: The npm packages these tests run; `npm ci` installs them when a checkout's node_modules predates them.
NODE_PACKAGES = ("aws-amplify", "@apollo/client", "aws-appsync-auth-link", "aws-appsync-subscription-link", "ws")

ME = "query { me { sub username groups } }"
ADD = "mutation A($t: String!) { addNote(text: $t) { owner id text createdAt } }"
NOTES = "query { notes { items { id text } } }"
NOTES_OF = "query O($o: ID!) { notesOf(owner: $o) { items { id text } } }"
SHARED = "query S($o: ID!, $id: ID!) { sharedNote(owner: $o, id: $id) { id text } }"
ON_NOTE = "subscription { onNoteAdded { owner id text } }"

#: What AppSync answers a JWT it does not accept, by forgery (HTTP 401, `UnauthorizedException`).
REFUSED = "You are not authorized to make this call."
EXPIRED = "Token has expired."


@pytest.fixture(scope="module")
def notes(appsync_emu_module: Factory) -> EmulatorHandle:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed: the example's DynamoDB table runs on the embedded dynalite")
    return appsync_emu_module(EXAMPLES / "cognito-notes")


def host_of(api: EmulatorHandle) -> str:
    return api.graphql_url.split("/")[2]


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def forgeries(api: EmulatorHandle) -> dict[str, tuple[str, str]]:
    """Forged tokens for `mallory`, each claiming the admin group: name → (token, AppSync's message)."""
    pool = api.emulator.issuers.get()
    genuine = api.token("mallory")
    header, _, signature = genuine.split(".")
    escalated = {**_claims(genuine), "cognito:groups": ["admin"]}
    stranger_key = RSAKey.generate_key(2048, parameters={"kid": pool.key.kid, "use": "sig", "alg": "RS256"})
    stranger = LocalIssuer(pool.name, pool.url, pool_id=pool.pool_id, client_ids=pool.client_ids, key=stranger_key)
    other_id = f"{pool.region}_AnotherPl"
    other = LocalIssuer("other", f"{api.base_url}/{other_id}", pool_id=other_id, client_ids=pool.client_ids)
    now = int(time.time())
    return {
        "tampered claims": (f"{header}.{_b64url(json.dumps(escalated).encode())}.{signature}", REFUSED),
        "stranger's key": (stranger.mint(username="mallory", groups=["admin"]), REFUSED),
        "expired": (api.token("mallory", groups=["admin"], claims={"iat": now - 7200, "exp": now - 3600}), EXPIRED),
        "another pool": (other.mint(username="mallory", groups=["admin"]), REFUSED),
    }


FORGERIES = ["tampered claims", "stranger's key", "expired", "another pool"]


# --- gql: AppSyncJWTAuthentication over HTTP and the real-time WebSocket ---------------------------------------


def op(document: str, **variables: Any) -> GraphQLRequest:
    request = gql(document)
    request.variable_values = variables
    return request


def jwt_http(api: EmulatorHandle, token: str) -> Client:
    return Client(transport=AIOHTTPTransport(url=api.graphql_url, auth=AppSyncJWTAuthentication(host_of(api), token)))


def jwt_ws(api: EmulatorHandle, token: str) -> Client:
    # gql keeps the URL's path and does not rewrite http://, so a local user passes the ws:// URL.
    auth = AppSyncJWTAuthentication(host_of(api), token)
    return Client(transport=AppSyncWebsocketsTransport(url=api.realtime_url, auth=auth))


async def wait_for_subscriptions(api: EmulatorHandle, n: int) -> None:
    deadline = time.monotonic() + 10
    while api.emulator.pubsub.count() < n:
        assert time.monotonic() < deadline, f"only {api.emulator.pubsub.count()} of {n} subscriptions started"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("token_use", ["id", "access"])
async def test_gql_queries_mutates_and_subscribes_with_a_user_pool_token(notes: EmulatorHandle, token_use: str) -> None:
    user = f"gql-{token_use}"
    token = notes.token(user, groups=["readers"], token_use=token_use)
    async with jwt_http(notes, token) as http:
        me = (await http.execute(gql(ME)))["me"]
    assert me == {"sub": notes.emulator.issuers.get().sub(user), "username": user, "groups": ["readers"]}

    before = notes.emulator.pubsub.count()
    received: list[dict[str, Any]] = []

    async def listen() -> None:
        async with jwt_ws(notes, token) as ws:
            async for result in ws.subscribe(gql(ON_NOTE)):
                received.append(result["onNoteAdded"])
                return

    listener = asyncio.create_task(listen())
    await wait_for_subscriptions(notes, before + 1)
    async with jwt_http(notes, notes.token("someone-else")) as other:
        await other.execute(op(ADD, t="not for the gql subscriber"))
    async with jwt_http(notes, token) as http:
        added = (await http.execute(op(ADD, t="over gql")))["addNote"]
    await asyncio.wait_for(listener, 10)
    assert received == [{"owner": me["sub"], "id": added["id"], "text": "over gql"}]


# --- multi-auth: a field for one group, and the API key against user pool fields -----------------------------


async def test_gql_a_group_field_admits_its_group_and_refuses_another(notes: EmulatorHandle) -> None:
    member = notes.token("nora", groups=["members"])
    async with jwt_http(notes, member) as http:
        owner = (await http.execute(op(ADD, t="moderated")))["addNote"]["owner"]
        with pytest.raises(TransportQueryError) as refused:
            await http.execute(op(NOTES_OF, o=owner))
    [error] = refused.value.errors or []
    assert error["errorType"] == "Unauthorized"
    assert error["message"] == "Not Authorized to access notesOf on type Query"
    assert error["path"] == ["notesOf"]
    assert refused.value.data is None

    async with jwt_http(notes, notes.token("olga", groups=["members", "admin"])) as http:
        page = (await http.execute(op(NOTES_OF, o=owner)))["notesOf"]
    assert [n["text"] for n in page["items"]] == ["moderated"]


async def test_gql_the_api_key_reads_its_field_and_is_refused_the_user_pool_ones(notes: EmulatorHandle) -> None:
    async with jwt_http(notes, notes.token("pia")) as http:
        note = (await http.execute(op(ADD, t="private")))["addNote"]
    key = AppSyncApiKeyAuthentication(host=host_of(notes), api_key=notes.api_key or "")
    async with Client(transport=AIOHTTPTransport(url=notes.graphql_url, auth=key)) as http:
        assert await http.execute(op(SHARED, o=note["owner"], id=note["id"])) == {"sharedNote": None}
        for document, field in [(NOTES, "notes"), (ME, "me")]:
            with pytest.raises(TransportQueryError) as refused:
                await http.execute(gql(document))
            assert [(e["errorType"], e["message"]) for e in refused.value.errors or []] == [
                ("Unauthorized", f"Not Authorized to access {field} on type Query")
            ]
    async with Client(transport=AppSyncWebsocketsTransport(url=notes.realtime_url, auth=key)) as ws:
        with pytest.raises(TransportQueryError) as refused:
            async for _ in ws.subscribe(gql(ON_NOTE)):
                pass
    # gql keeps an `error` frame's whole payload as the one error of its TransportQueryError.
    assert refused.value.errors == [
        {
            "errors": [
                {"errorType": "Unauthorized", "message": "Not Authorized to access onNoteAdded on type Subscription"}
            ]
        }
    ]


# --- forged credentials on every path -------------------------------------------------------------------------


def test_a_genuine_token_is_accepted_where_its_forgeries_are_not(notes: EmulatorHandle) -> None:
    """The control: mallory's genuine token works, so each refusal below is the forgery's."""
    r = httpx.post(notes.graphql_url, json={"query": ME}, headers={"authorization": notes.token("mallory")})
    assert r.status_code == 200 and r.json()["data"]["me"]["groups"] == []


@pytest.mark.parametrize("forgery", FORGERIES)
async def test_a_forged_token_is_refused_over_http(notes: EmulatorHandle, forgery: str) -> None:
    token, message = forgeries(notes)[forgery]
    async with httpx.AsyncClient(timeout=10) as raw:
        answers = [
            await raw.post(notes.graphql_url, json={"query": ME}, headers={"authorization": value})
            for value in (token, f"Bearer {token}")
        ]
    for r in answers:
        assert r.status_code == 401, r.text
        assert r.json() == {"errors": [{"errorType": "UnauthorizedException", "message": message}]}
    async with jwt_http(notes, token) as http:
        with pytest.raises(TransportQueryError) as refused:
            await http.execute(gql(ME))
    assert refused.value.errors == [{"errorType": "UnauthorizedException", "message": message}]


@pytest.mark.parametrize("forgery", FORGERIES)
async def test_a_forged_token_cannot_open_a_realtime_connection(notes: EmulatorHandle, forgery: str) -> None:
    token, message = forgeries(notes)[forgery]
    client = await RawClient.open(notes, header={"host": host_of(notes), "Authorization": token}, via="subprotocol")
    await client.send({"type": "connection_init"})
    answer = await client.recv(timeout=10)
    assert answer["type"] == "connection_error", answer
    assert answer["payload"]["errors"] == [{"errorType": "UnauthorizedException", "message": message, "errorCode": 401}]
    await client.close()

    with pytest.raises(TransportServerError):  # gql: the connection_error fails the connect
        async with jwt_ws(notes, token) as ws:
            async for _ in ws.subscribe(gql(ON_NOTE)):
                pass


@pytest.mark.parametrize("forgery", FORGERIES)
async def test_a_forged_token_cannot_start_a_subscription_on_a_genuine_connection(
    notes: EmulatorHandle, forgery: str
) -> None:
    token, message = forgeries(notes)[forgery]
    genuine = {"host": host_of(notes), "Authorization": notes.token("mallory")}
    client = await RawClient.open(notes, header=genuine, via="subprotocol")
    assert (await client.init())["type"] == "connection_ack"
    forged = await client.start("f", ON_NOTE, authorization={"host": host_of(notes), "Authorization": token})
    assert forged["type"] == "error" and forged["id"] == "f", forged
    assert forged["payload"]["errors"] == [{"errorType": "UnauthorizedException", "message": message}]
    assert (await client.start("g", ON_NOTE, authorization=genuine))["type"] == "start_ack"
    await client.close()


# --- Apollo Client with aws-appsync-auth-link and aws-appsync-subscription-link -------------------------------


def node_clients() -> None:
    """tests/node with its npm packages installed (`npm ci` when any of NODE_PACKAGES is missing)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed: the Amplify and Apollo client tests need them")
    if any(not (NODE_DIR / "node_modules" / name).exists() for name in NODE_PACKAGES):
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True, text=True, timeout=600
        )
        if done.returncode != 0:
            pytest.fail(f"npm could not install the Node clients:\n{done.stderr[-2000:]}")


def run_node(script: str, *args: str) -> dict[str, dict[str, Any]]:
    """Run a tests/node script; its JSON lines by `event` (the last of each)."""
    node_clients()
    done = subprocess.run(["node", script, *args], cwd=NODE_DIR, capture_output=True, text=True, timeout=90)
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0, f"node exited {done.returncode}: {events}\n{done.stderr[-3000:]}"
    return {e["event"]: e for e in events}


@pytest.mark.node
def test_apollo_queries_and_subscribes_with_jwt_token(notes: EmulatorHandle) -> None:
    token = notes.token("apollo-user", groups=["members"])
    events = run_node("apollo_userpool.mjs", notes.graphql_url, token, "happy")
    sub = notes.emulator.issuers.get().sub("apollo-user")
    assert events["me"]["error"] is None
    assert events["me"]["data"]["me"] == {
        "__typename": "Me",
        "sub": sub,
        "username": "apollo-user",
        "groups": ["members"],
    }
    added = events["mutation"]["data"]["addNote"]
    assert added["owner"] == sub and added["text"] == "from apollo"
    note = events["data"]["data"]["onNoteAdded"]
    assert note == {**added, "__typename": "Note"}


@pytest.mark.node
def test_apollo_a_group_field_admits_its_group_and_refuses_another(notes: EmulatorHandle) -> None:
    owner = notes.emulator.issuers.get().sub("apollo-user")
    admin = run_node("apollo_userpool.mjs", notes.graphql_url, notes.token("ada", groups=["admin"]), "groups", owner)
    assert admin["notesOf"]["error"] is None and "items" in admin["notesOf"]["data"]["notesOf"]
    member = run_node("apollo_userpool.mjs", notes.graphql_url, notes.token("bo", groups=["members"]), "groups", owner)
    error = member["notesOf"]["error"]
    assert error["name"] == "CombinedGraphQLErrors", error
    [refusal] = error["errors"]
    assert refusal["errorType"] == "Unauthorized"
    assert refusal["message"] == "Not Authorized to access notesOf on type Query"


@pytest.mark.node
@pytest.mark.parametrize("forgery", FORGERIES)
def test_apollo_is_refused_a_forged_token_over_http_and_the_websocket(notes: EmulatorHandle, forgery: str) -> None:
    token, message = forgeries(notes)[forgery]
    events = run_node("apollo_userpool.mjs", notes.graphql_url, token, "refused")
    assert events["me"]["data"] is None
    refused = events["me"]["error"]
    assert (refused["name"], refused["statusCode"]) == ("ServerError", 401)
    assert json.loads(refused["body"]) == {"errors": [{"errorType": "UnauthorizedException", "message": message}]}
    # The link reports a connection_error as "Connection failed: <errorType>"; Apollo 4 wraps it.
    assert "subscribed" not in events and "data" not in events
    cause = events["subscription-error"]["error"]["cause"]
    assert [e["message"] for e in cause["errors"]] == ["Connection failed: UnauthorizedException"]


# --- Amplify v6: signIn at the emulator's Cognito endpoint, then the userPool auth mode ------------------------

#: The users a template's pool gets when the emulator is given none (README, "Signing in to a user pool").
PASSWORD = "Passw0rd!"


def amplify_config(api: EmulatorHandle) -> str:
    """What an app reads from `GET /_emu/config` (or the banner) for `Amplify.configure`."""
    config = httpx.get(api.base_url + "/_emu/config", timeout=10).json()
    [pool] = config["userPools"]
    return json.dumps(
        {
            "endpoint": api.graphql_url,
            "apiKey": config["apiKeys"][0],
            "cognitoEndpoint": config["cognitoEndpoint"],
            "userPoolId": pool["poolId"],
            "userPoolClientId": pool["clientIds"][0],
        }
    )


@pytest.mark.node
@pytest.mark.parametrize(("flow", "user"), [("USER_SRP_AUTH", "alice"), ("USER_PASSWORD_AUTH", "bob")])
def test_amplify_signs_in_then_queries_and_subscribes_in_user_pool_mode(
    notes: EmulatorHandle, flow: str, user: str
) -> None:
    events = run_node("amplify_userpool.mjs", amplify_config(notes), user, PASSWORD, flow)
    sub = notes.emulator.issuers.get().sub(user)
    groups = ["admin"] if user == "alice" else []
    assert (events["signIn"]["isSignedIn"], events["signIn"]["nextStep"]) == (True, "DONE")
    assert (events["session"]["sub"], events["session"]["groups"]) == (sub, groups)
    assert events["me"]["data"]["me"] == {"sub": sub, "username": user, "groups": groups}
    if groups:  # notesOf admits the admin group only
        assert "items" in events["notesOf"]["data"]["notesOf"]
    else:
        refused = events["notesOf-error"]
        assert refused["data"] is None
        assert [(e["errorType"], e["message"]) for e in refused["errors"]] == [
            ("Unauthorized", "Not Authorized to access notesOf on type Query")
        ]
    # Per call, `authMode: 'apiKey'`: the key reads sharedNote and is refused the user pool's fields.
    assert events["apiKey-sharedNote"]["data"] == {"sharedNote": None}
    assert [(e["errorType"], e["message"]) for e in events["apiKey-me-error"]["errors"]] == [
        ("Unauthorized", "Not Authorized to access me on type Query")
    ]
    added = events["mutation"]["data"]["addNote"]
    assert (added["owner"], added["text"]) == (sub, f"from amplify ({flow})")
    assert events["data"]["data"]["onNoteAdded"] == added


@pytest.mark.node
def test_amplify_sign_in_with_a_wrong_password_is_cognitos_refusal(notes: EmulatorHandle) -> None:
    events = run_node("amplify_userpool.mjs", amplify_config(notes), "alice", "not-the-password", "USER_SRP_AUTH")
    assert events["signIn-error"]["name"] == "NotAuthorizedException"
    assert events["signIn-error"]["message"] == "Incorrect username or password."
    assert "me" not in events


@pytest.mark.node
def test_amplify_with_its_stored_tokens_edited_is_refused_over_http_and_the_websocket(notes: EmulatorHandle) -> None:
    events = run_node("amplify_userpool.mjs", amplify_config(notes), "bob", PASSWORD, "USER_SRP_AUTH", "tampered")
    assert events["session"]["groups"] == ["admin"]  # Amplify reads the edited claims without checking them
    # Amplify words the API's 401 UnauthorizedException as "Unauthorized".
    assert [e["message"] for e in events["me-error"]["errors"]] == ["Unauthorized"]
    assert "data" not in events and "mutation" not in events
    assert [e["message"] for e in events["subscription-error"]["errors"]] == [
        "Connection failed: UnauthorizedException"
    ]
