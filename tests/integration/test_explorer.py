"""The explorer: GraphiQL for browsers at `/` and `GET /graphql`, AppSync's answers for API clients.

The browser test drives a real headless Chromium with no network (`tests/node/explorer_page.mjs`,
playwright-core; every host name but the emulator's address fails to resolve): a query signed
with IAM, the schema's docs, a subscription (IAM, AppSync's real-time protocol) in tab A, a query
and a subscription with a user pool token from the local issuer in tab C, a mutation (API key) in
tab B, the event arriving in A and C, then `stop`. Its screenshots go to
`test-artifacts/explorer/` and their paths are printed. The other tests need no browser.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from appsync_emu.explorer import CONTENT_SECURITY_POLICY, STATIC
from appsync_emu.pytest_plugin import EmulatorHandle
from tests.conftest import APPS, ROOT

NODE_DIR = ROOT / "tests" / "node"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-artifacts" / "explorer"
APP = APPS / "explorer"
BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
VENDOR = STATIC / "vendor"


@pytest.fixture
def api(appsync_emu: Callable[..., EmulatorHandle]) -> EmulatorHandle:
    return appsync_emu(APP)


def browser_driver() -> Path:
    """tests/node with playwright-core installed, and a Chromium to drive; skips when either is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` to run the explorer's browser test")
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed: the explorer test drives Chromium with playwright-core")
    if not (NODE_DIR / "node_modules" / "playwright-core").exists():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True, text=True, timeout=600
        )
        if done.returncode != 0:
            pytest.fail(f"npm could not install tests/node:\n{done.stderr[-2000:]}")
    return NODE_DIR


@pytest.mark.node
@pytest.mark.browser
def test_a_subscription_in_one_tab_receives_the_mutation_run_in_another(api: EmulatorHandle) -> None:
    cwd = browser_driver()
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    assert api.api_key is not None
    [pool] = httpx.get(api.base_url + "/_emu/config").json()["userPools"]
    pool_auth = f"user-pool:{pool['poolId']}"
    done = subprocess.run(
        ["node", "explorer_page.mjs", api.base_url, api.api_key, pool_auth, str(SCREENSHOTS), str(CHROMIUM)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=150,
    )
    events: list[dict[str, Any]] = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    steps = [e for e in events if e["event"] not in ("request", "frame", "console")]
    assert done.returncode == 0, f"explorer_page.mjs exited {done.returncode}:\n{steps}\n{done.stderr[-2000:]}"

    shots = [e["path"] for e in events if e["event"] == "screenshot"]
    print("explorer screenshots:", *shots, sep="\n  ")
    assert [Path(p).name for p in shots] == [
        "explorer-query.png",
        "explorer-mutation.png",
        "explorer-subscription.png",
        "explorer-token-subscription.png",
    ]
    assert all(Path(p).stat().st_size > 0 for p in shots)

    errors = [e for e in events if e["event"] == "pageerror" or (e["event"] == "console" and e["type"] == "error")]
    refusals = "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
    assert {e["tab"] for e in errors if e["text"] == refusals} == {"B"}  # the requests sent without a credential
    errors = [e for e in errors if e["text"] != refusals]
    assert errors == [], f"the page logged errors: {errors}"
    [query] = [e for e in events if e["event"] == "query"]
    assert query["response"] == {"data": {"whoami": "IAM Authorization"}}
    docs = next(e for e in events if e["event"] == "docs")["text"]
    assert "addNote(text: String!): Note" in docs and "Posts a note" in docs  # from introspection

    [mutation] = [e for e in events if e["event"] == "mutation"]
    note = mutation["response"]["data"]["addNote"]
    assert note["text"] == "from tab B" and note["by"] == "API Key Authorization"
    received = {e["tab"]: e["response"] for e in events if e["event"] == "event"}
    assert received == {"A": {"data": {"onNote": note}}, "C": {"data": {"onNote": note}}}
    refused = {e["kind"]: e["response"]["errors"][0] for e in events if e["event"] == "refused"}
    assert refused["query"]["errorType"] == "UnauthorizedException", refused
    assert refused["subscription"]["errorType"] == "UnauthorizedException", refused  # its connection_error
    [token_query] = [e for e in events if e["event"] == "token-query"]
    assert token_query["response"] == {"data": {"whoami": "User Pool Authorization", "me": "carol in admin"}}

    # AppSync's real-time protocol, not graphql-ws: the subprotocols, the frames, in order.
    realtime = api.base_url.replace("http", "ws", 1) + "/graphql/realtime"
    sockets = [(e["tab"], e["url"]) for e in events if e["event"] == "socket"]
    assert sockets == [("A", realtime), ("C", realtime), ("B", realtime)]
    frames = [(e["dir"], json.loads(e["text"])) for e in events if e["event"] == "frame" and e["tab"] == "A"]
    kinds = [f"{d}:{f['type']}" for d, f in frames if f["type"] != "ka"]
    assert kinds[:6] == [
        "sent:connection_init",
        "received:connection_ack",
        "sent:start",
        "received:start_ack",
        "received:data",
        "sent:stop",
    ], kinds
    assert kinds[6:] in ([], ["received:complete"]), kinds  # the page closes the socket right after its stop
    start = next(f for d, f in frames if f["type"] == "start")
    assert json.loads(start["payload"]["data"])["operationName"] == "Notes"
    authorization = start["payload"]["extensions"]["authorization"]
    assert authorization["authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
    assert authorization["host"] == urlsplit(api.base_url).netloc
    start_c = next(
        json.loads(e["text"]) for e in events if e["event"] == "frame" and e["tab"] == "C" and '"start"' in e["text"]
    )
    token = start_c["payload"]["extensions"]["authorization"]["Authorization"]
    assert token.count(".") == 2, token  # the JWT the local issuer minted

    # Nothing left the emulator's origin.
    requests = [e["url"] for e in events if e["event"] == "request"]
    assert requests, "the page made no requests at all?"
    outside = [u for u in requests if not u.startswith(api.base_url + "/") and not u.startswith("data:")]
    assert outside == [], f"the page reached outside the emulator: {outside}"


def test_browsers_get_the_explorer_at_the_root_and_on_graphql(api: EmulatorHandle) -> None:
    for url in (api.base_url + "/", api.graphql_url):
        page = httpx.get(url, headers=BROWSER)
        assert page.status_code == 200, url
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "<title>GraphQL explorer" in page.text


def test_the_banner_names_the_explorer(api: EmulatorHandle) -> None:
    from appsync_emu.server import banner

    assert f"  Explorer:  {api.base_url}/  (GraphiQL, in a browser)" in banner(api.emulator).splitlines()


def test_api_clients_keep_appsyncs_answers_on_those_paths(api: EmulatorHandle) -> None:
    for accept in (None, "*/*", "application/json", "application/graphql-response+json"):
        headers = {"accept": accept} if accept else {}
        get = httpx.get(api.graphql_url, headers=headers)
        assert get.status_code == 405, accept
        assert get.json()["errors"][0]["errorType"] == "MethodNotAllowedException"
        assert httpx.get(api.base_url + "/", headers=headers).status_code == 404, accept
    # Only a page load: other methods are the API's, whatever they accept.
    assert httpx.head(api.graphql_url, headers=BROWSER).status_code == 405
    assert httpx.post(api.base_url + "/", headers=BROWSER, content=b"{}").status_code == 404
    key = {"x-api-key": api.api_key or ""}
    post = httpx.post(api.graphql_url, headers={**BROWSER, **key}, json={"query": "{ whoami }"})
    assert post.json() == {"data": {"whoami": "API Key Authorization"}}


def test_the_page_loads_only_the_packaged_assets(api: EmulatorHandle) -> None:
    page = httpx.get(api.base_url + "/", headers=BROWSER).text
    links = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert links, page
    for link in links:
        if link.startswith("data:"):
            continue
        assert link.startswith("/_emu/explorer/"), link
        asset = httpx.get(api.base_url + link)
        assert asset.status_code == 200, link
        assert asset.content == (STATIC / link.removeprefix("/_emu/explorer/")).read_bytes(), link
    # The assets are /_emu routes: a page on another origin cannot read them.
    script = api.base_url + "/_emu/explorer/explorer.js"
    assert httpx.get(script, headers={"origin": "http://evil.example"}).status_code == 403


def test_the_vendored_files_are_the_ones_notice_md_lists_with_their_licences() -> None:
    notice = (VENDOR / "NOTICE.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \| (\S+) \| (\S+) \| (\S+) \| .* \| (\d+) \| `([0-9a-f]{64})` \|$", notice, re.M)
    listed = {name for name, *_ in rows}
    assert listed == {p.name for p in VENDOR.iterdir() if p.is_file() and p.name != "NOTICE.md"}
    for name, package, version, licence, size, digest in rows:
        data = (VENDOR / name).read_bytes()
        assert len(data) == int(size) and hashlib.sha256(data).hexdigest() == digest, f"{name} differs from NOTICE.md"
        assert licence == "MIT", (name, licence)
        licence_text = (VENDOR / "licenses" / f"{package}.LICENSE").read_text()
        assert "Permission is hereby granted, free of charge" in licence_text, package
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
    bundled = (VENDOR / "licenses" / "graphiql-bundled.txt").read_text()
    assert "missing" not in bundled.splitlines()[2]  # every package graphiql.min.js bundles has its text
    assert "\ngraphql 16." in bundled and "\ncodemirror 5." in bundled
    # No source maps or development builds are shipped; the whole vendored set stays small.
    assert not list(VENDOR.glob("*.map")) and not list(VENDOR.glob("*development*"))
    assert sum(p.stat().st_size for p in VENDOR.rglob("*") if p.is_file()) < 2_000_000
