"""Hot reload end to end: edit a copy of a fixture app while a WebSocket subscriber stays connected.

For each kind of file (the template, the schema, an APPSYNC_JS resolver, a VTL mapping template,
a Python function, a TypeScript function built with esbuild) the test edits the file and polls the
API until it answers with the new version (bounded, no timing asserted), then checks that the
subscriber, connected since before the edit, still receives a mutation's event. A broken edit
keeps the last good version serving and reports `validate`'s message; a subscription to a field
the new schema removed is completed; without watching nothing reloads.
"""

from __future__ import annotations

import asyncio
import queue
import shutil
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from appsync_emu.validate import check
from tests.conftest import APPS, FIXTURES

from .conftest import serving
from .wsclient import RawClient

POLL_LIMIT_S = 20.0


def copy_app(tmp_path: Path, name: str = "reload") -> Path:
    folder = tmp_path / name
    shutil.copytree(APPS / name, folder, ignore=shutil.ignore_patterns(".appsync-emu", "node_modules"))
    return folder


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


async def post(api: EmulatorHandle, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(
            api.graphql_url,
            json={"query": query, "variables": variables or {}},
            headers={"x-api-key": api.api_key or ""},
        )
    body: dict[str, Any] = r.json()
    return body


async def field(api: EmulatorHandle, name: str) -> Any:
    body = await post(api, f"{{ {name} }}")
    return (body.get("data") or {}).get(name, body.get("errors"))


async def until(probe: Callable[[], Any], expected: Any) -> None:
    """Poll `probe` (a coroutine function) until it returns `expected`; fail after a bound."""
    deadline = time.monotonic() + POLL_LIMIT_S
    last = None
    while time.monotonic() < deadline:
        last = await probe()
        if last == expected:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"still {last!r}, expected {expected!r}")


async def wait_for(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + POLL_LIMIT_S
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def wait_for_async(probe: Callable[[], Any], check: Callable[[Any], bool]) -> None:
    """Poll the coroutine function `probe` until `check` accepts what it returns; fail after a bound."""
    deadline = time.monotonic() + POLL_LIMIT_S
    while not check(await probe()):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


class Subscriber:
    """One connection with a subscription on `onPost`, opened before the edits."""

    def __init__(self, api: EmulatorHandle, client: RawClient) -> None:
        self.api = api
        self.client = client
        self.sent = 0

    @classmethod
    async def open(cls, api: EmulatorHandle, field_name: str = "onPost", sub_id: str = "s1") -> Subscriber:
        client = await RawClient.open(api)
        assert (await client.init())["type"] == "connection_ack"
        ack = await client.start(sub_id, f"subscription {{ {field_name} {{ msg }} }}")
        assert ack["type"] == "start_ack", ack
        return cls(api, client)

    async def still_receives(self, sub_id: str = "s1", field_name: str = "onPost") -> None:
        """A mutation now reaches this subscriber over the connection it opened before the edit."""
        self.sent += 1
        msg = f"after-edit-{self.sent}"
        body = await post(self.api, "mutation($m: String!) { post(msg: $m) { msg } }", {"m": msg})
        assert body["data"]["post"]["msg"] == msg, body
        frame = await self.client.recv(timeout=10)
        assert frame == {"id": sub_id, "type": "data", "payload": {"data": {field_name: {"msg": msg}}}}


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[EmulatorHandle, Path]]:
    folder = copy_app(tmp_path)
    api = await asyncio.to_thread(start_emulator, folder, watch=True)
    try:
        yield api, folder
    finally:
        await asyncio.to_thread(api.stop)


@pytest.mark.parametrize(
    ("query", "file", "old", "new"),
    [
        ("inline", "template.yaml", "'template-v1'", "'template-v2'"),
        ("js", "resolvers/js.js", "'js-v1'", "'js-v2'"),
        ("vtl", "resolvers/vtl.req.vtl", '"vtl-v1"', '"vtl-v2"'),
        ("py", "functions/py/app.py", '"py-v1"', '"py-v2"'),
    ],
    ids=["template", "appsync-js", "vtl-mapping-template", "python-function"],
)
async def test_an_edit_takes_effect_while_the_subscriber_stays_connected(
    served: tuple[EmulatorHandle, Path], query: str, file: str, old: str, new: str
) -> None:
    api, folder = served
    assert await field(api, query) == old.strip("'\"")
    subscriber = await Subscriber.open(api)
    edit(folder / file, old, new)
    await until(lambda: field(api, query), new.strip("'\""))
    await subscriber.still_receives()
    assert api.server.reloader is not None and api.server.reloader.refusals == 0


async def test_a_schema_edit_rebuilds_the_schema(served: tuple[EmulatorHandle, Path]) -> None:
    api, folder = served
    subscriber = await Subscriber.open(api)
    before = await post(api, "{ added }")
    assert before["data"] is None and "added" in before["errors"][0]["message"]
    edit(folder / "schema.graphql", "schemaVersion: String", "schemaVersion: String\n  added: String")

    async def added() -> Any:
        return (await post(api, "{ added }")).get("data")

    await until(added, {"added": None})
    await subscriber.still_receives()


async def test_a_subscription_the_new_schema_removes_is_completed(served: tuple[EmulatorHandle, Path]) -> None:
    api, folder = served
    kept = await Subscriber.open(api)
    removed = await Subscriber.open(api, "onPostToo", "gone")
    edit(folder / "schema.graphql", '  onPostToo: Message @aws_subscribe(mutations: ["post"])\n', "")
    assert await removed.client.recv(timeout=POLL_LIMIT_S) == {"id": "gone", "type": "complete"}
    await kept.still_receives()
    # The connection of the completed subscription is still open and usable.
    ack = await removed.client.start("again", "subscription { onPost { msg } }")
    assert ack["type"] == "start_ack"
    await removed.client.ws.close()
    still = await post(api, 'mutation { post(msg: "x") { msg } }')
    assert still["data"]["post"]["msg"] == "x"


async def test_a_broken_edit_keeps_the_last_good_version_and_says_what_is_wrong(
    served: tuple[EmulatorHandle, Path],
) -> None:
    api, folder = served
    reloader = api.server.reloader
    assert reloader is not None
    subscriber = await Subscriber.open(api)
    edit(folder / "resolvers/js.js", "return { payload: 'js-v1' };", "return { payload: 'js-v2' ;")
    await wait_for(lambda: reloader.refusals > 0)
    assert await field(api, "js") == "js-v1"  # the last good version serves
    report = await asyncio.to_thread(check, folder)
    assert reloader.problems == report.code_problems  # in validate's words, with file and line
    assert "js.js" in reloader.problems[0]
    await subscriber.still_receives()
    # The template broken too: still the last good version; fixed: the new one.
    edit(folder / "template.yaml", "FieldName: js\n", "FieldName: js\n      Kind: NOPE\n")
    edit(folder / "resolvers/js.js", "'js-v2' ;", "'js-v3' };")
    await wait_for(lambda: reloader.refusals > 1 and not any("js.js" in p for p in reloader.problems))
    assert await field(api, "js") == "js-v1"
    edit(folder / "template.yaml", "      Kind: NOPE\n", "")
    await until(lambda: field(api, "js"), "js-v3")
    assert reloader.problems == []
    await subscriber.still_receives()


async def test_a_python_syntax_error_keeps_the_running_function(served: tuple[EmulatorHandle, Path]) -> None:
    api, folder = served
    reloader = api.server.reloader
    assert reloader is not None
    assert await field(api, "py") == "py-v1"
    edit(folder / "functions/py/app.py", 'return "py-v1"', 'return "py-v2" +')
    await wait_for(lambda: reloader.refusals > 0)
    assert reloader.problems == (await asyncio.to_thread(check, folder)).code_problems
    assert "Syntax error in module 'app'" in reloader.problems[0] and "app.py, line 15" in reloader.problems[0]
    assert await field(api, "py") == "py-v1"
    edit(folder / "functions/py/app.py", 'return "py-v2" +', 'return "py-v2"')
    await until(lambda: field(api, "py"), "py-v2")


async def test_a_running_invocation_finishes_on_the_old_code_and_the_next_runs_the_new(
    served: tuple[EmulatorHandle, Path], tmp_path: Path
) -> None:
    api, folder = served
    reloader = api.server.reloader
    assert reloader is not None
    marker = tmp_path / "release"
    running = asyncio.create_task(post(api, "query($m: String) { py(until: $m) }", {"m": str(marker)}))
    await wait_for(lambda: bool(api.emulator.services.lambdas.worker_pids("PyFunction")))  # type: ignore[union-attr]
    edit(folder / "functions/py/app.py", 'return "py-v1"', 'return "py-v2"')
    await until(lambda: field(api, "py"), "py-v2")  # a new worker, while the old one still runs
    assert not running.done()
    marker.touch()
    assert (await running)["data"] == {"py": "py-v1"}


async def test_a_resolver_broken_at_start_does_not_block_reloads(tmp_path: Path) -> None:
    """Only new problems refuse a reload: a project served with a broken resolver still reloads."""
    folder = copy_app(tmp_path)
    edit(folder / "resolvers/js.js", "'js-v1' };", "'js-v1' ;")
    api = await asyncio.to_thread(start_emulator, folder, watch=True)
    try:
        broken = await post(api, "{ js }")
        assert broken["data"] == {"js": None} and "SyntaxError" in broken["errors"][0]["message"]
        edit(folder / "resolvers/vtl.req.vtl", '"vtl-v1"', '"vtl-v2"')
        await until(lambda: field(api, "vtl"), "vtl-v2")
        edit(folder / "resolvers/js.js", "'js-v1' ;", "'js-v2' };")
        await until(lambda: field(api, "js"), "js-v2")
        assert api.server.reloader is not None and api.server.reloader.refusals == 0
    finally:
        await asyncio.to_thread(api.stop)


async def test_without_watch_nothing_reloads(tmp_path: Path) -> None:
    """The fixture does not watch unless asked; a watching emulator on another copy shows the edit was seen."""
    quiet_folder, watched_folder = copy_app(tmp_path / "quiet"), copy_app(tmp_path / "watched")
    quiet = await asyncio.to_thread(start_emulator, quiet_folder)
    watched = await asyncio.to_thread(start_emulator, watched_folder, watch=True)
    try:
        assert quiet.server.reloader is None
        for folder in (quiet_folder, watched_folder):
            edit(folder / "resolvers/js.js", "'js-v1'", "'js-v2'")
        await until(lambda: field(watched, "js"), "js-v2")
        assert await field(quiet, "js") == "js-v1"
    finally:
        await asyncio.to_thread(quiet.stop)
        await asyncio.to_thread(watched.stop)


async def test_a_nested_stacks_template_is_watched_and_a_changed_function_restarts(tmp_path: Path) -> None:
    """An edit of a child stack's template: the parameter it passes down changes the grandchild's function."""
    folder = copy_app(tmp_path, "nested")
    api = await asyncio.to_thread(start_emulator, folder, watch=True)

    async def greeting() -> Any:
        body = await post(api, 'query { greet(name: "ada") { text } }')
        return body["data"]["greet"]["text"]

    try:
        assert await greeting() == "hello, ada"
        edit(folder / "api/template.yaml", "Greeting: hello", "Greeting: howdy")
        await until(greeting, "howdy, ada")  # the function's environment changed: its workers restarted
    finally:
        await asyncio.to_thread(api.stop)


@pytest.mark.node
async def test_a_cdk_assembly_is_watched_as_a_synth_rewrites_it(tmp_path: Path) -> None:
    """`cdk synth` rewrites cdk.out: a resolver's asset and the stack's template both reload."""
    if shutil.which("node") is None:
        pytest.skip("needs node (the CDK app's NodejsFunction and DynamoDB engine run on it)")
    assembly = tmp_path / "cdk.out"
    shutil.copytree(FIXTURES / "cdk" / "app" / "cdk.out", assembly)
    api = await asyncio.to_thread(start_emulator, assembly, watch=True, shutdown_grace_s=1.0)

    async def hello() -> Any:
        return (await post(api, 'query { hello(name: "cdk") }')).get("data")

    async def added() -> Any:
        return (await post(api, "{ added }")).get("data")

    try:
        assert await hello() == {"hello": "hello, cdk"}
        asset = assembly / "asset.4986544b3db34757ddf7d6c115693eb7cee7710f0a03d0c228037d0ddac3145a.js"
        edit(asset, "`hello, ${", "`hi there, ${")
        await until(hello, {"hello": "hi there, cdk"})
        edit(assembly / "ChatStack.template.json", "type Query {\\n", "type Query {\\n  added: String\\n")
        await until(added, {"added": None})
        assert await hello() == {"hello": "hi there, cdk"}
    finally:
        await asyncio.to_thread(api.stop)


async def test_polling_picks_up_an_edit_where_file_events_do_not_arrive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`WATCHFILES_FORCE_POLLING=true`, for Docker mounts that pass no file events: the edit still applies."""
    monkeypatch.setenv("WATCHFILES_FORCE_POLLING", "true")
    folder = copy_app(tmp_path)
    api = await asyncio.to_thread(start_emulator, folder, watch=True)
    try:
        edit(folder / "resolvers/js.js", "'js-v1'", "'js-v2'")
        await until(lambda: field(api, "js"), "js-v2")
    finally:
        await asyncio.to_thread(api.stop)


async def test_the_async_queue_and_its_records_are_kept(served: tuple[EmulatorHandle, Path]) -> None:
    api, folder = served
    assert (await post(api, 'mutation { later(msg: "before") }'))["data"] == {"later": True}

    async def invocations() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.get(f"{api.base_url}/_emu/invocations")
        listed: list[dict[str, Any]] = r.json()
        return listed

    await wait_for_async(lambda: invocations(), lambda found: [i["state"] for i in found] == ["succeeded"])
    before = await invocations()
    edit(folder / "resolvers/js.js", "'js-v1'", "'js-v2'")
    await until(lambda: field(api, "js"), "js-v2")
    assert await invocations() == before  # the same queue, with the records it had
    assert (await post(api, 'mutation { later(msg: "after") }'))["data"] == {"later": True}
    await wait_for_async(lambda: invocations(), lambda found: [i["state"] for i in found] == ["succeeded"] * 2)


@pytest.mark.node
async def test_dynamodb_tables_and_items_are_kept(tmp_path: Path) -> None:
    if shutil.which("node") is None:
        pytest.skip("needs node (the embedded DynamoDB engine runs on it)")
    folder = copy_app(tmp_path, "dynamodb")
    api = await asyncio.to_thread(start_emulator, folder, watch=True)
    item = {"pk": "p1", "sk": "s1", "title": "kept"}

    async def title() -> Any:
        body = await post(api, 'query { getItem(pk: "p1", sk: "s1") { title } }')
        return (body.get("data") or {}).get("getItem")

    try:
        put = await post(api, "mutation($i: ItemInput!) { putItem(input: $i) { pk } }", {"i": item})
        assert put["data"] == {"putItem": {"pk": "p1"}}, put
        assert await title() == {"title": "kept"}
        edit(
            folder / "resolvers/getItem.js",
            "return ctx.result;",
            "return { ...ctx.result, title: `${ctx.result.title}!` };",
        )
        await until(title, {"title": "kept!"})  # the new resolver over the item written before the reload
    finally:
        await asyncio.to_thread(api.stop)


def test_serve_reloads_and_prints_validates_problems_for_a_broken_edit(tmp_path: Path) -> None:
    """The command line: the banner says it watches; a broken edit prints the problem, a fixed one applies."""
    folder = copy_app(tmp_path)
    with serving(str(folder), log_level="info") as served:
        assert any("Hot reload: on" in line for line in served.banner)
        url = next(line.split()[-1] for line in served.banner if line.strip().startswith("GraphQL:"))
        key = next(line.split()[2] for line in served.banner if line.strip().startswith("API key:"))
        lines: queue.Queue[str] = queue.Queue()
        assert served.proc.stdout is not None
        threading.Thread(target=lambda: [lines.put(line) for line in served.proc.stdout], daemon=True).start()  # type: ignore[union-attr]

        def printed(text: str) -> list[str]:
            seen = []
            deadline = time.monotonic() + POLL_LIMIT_S
            while not any(text in line for line in seen):
                seen.append(lines.get(timeout=max(0.01, deadline - time.monotonic())))
            return seen

        def js() -> Any:
            return httpx.post(url, json={"query": "{ js }"}, headers={"x-api-key": key}, timeout=10).json()

        edit(folder / "resolvers/js.js", "'js-v1' };", "'js-v2' ;")
        output = printed("reload refused")
        report = check(folder)
        assert any(report.code_problems[0] in line and "ERROR" in line for line in output), output
        assert js() == {"data": {"js": "js-v1"}}
        edit(folder / "resolvers/js.js", "'js-v2' ;", "'js-v2' };")
        assert any("reloaded in" in line for line in printed("reloaded in"))
        assert js() == {"data": {"js": "js-v2"}}
    with serving(str(folder), "--no-watch") as served:
        assert not any("Hot reload" in line for line in served.banner)


def test_the_cli_watches_unless_told_not_to() -> None:
    from appsync_emu.cli import _settings_from, build_parser

    assert _settings_from(build_parser().parse_args(["serve"])).watch is True
    assert _settings_from(build_parser().parse_args(["serve", "--no-watch"])).watch is False


@pytest.mark.node
async def test_a_typescript_function_is_rebuilt_and_its_workers_restart(tmp_path: Path) -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("needs node and npm (esbuild builds the TypeScript function)")
    folder = copy_app(tmp_path, "reload_node")
    api = await asyncio.to_thread(start_emulator, folder, watch=True)
    try:
        assert await field(api, "ts") == "ts-v1"
        pids = api.emulator.services.lambdas.worker_pids("TsFunction")  # type: ignore[union-attr]
        assert pids
        subscriber = await Subscriber.open(api)
        # An imported module, not the handler's own file: the bundle is rebuilt from every input.
        edit(folder / "functions/ts/src/version.ts", '"ts-v1"', '"ts-v2"')
        await until(lambda: field(api, "ts"), "ts-v2")
        assert not set(pids) & set(api.emulator.services.lambdas.worker_pids("TsFunction"))  # type: ignore[union-attr]
        await subscriber.still_receives()
        bundle = next((folder / ".appsync-emu" / "build" / "TsFunction").rglob("app.js"))
        assert "ts-v2" in bundle.read_text()
    finally:
        await asyncio.to_thread(api.stop)


def test_settings_default_does_not_watch() -> None:
    from appsync_emu.settings import Settings

    assert Settings().watch is False
