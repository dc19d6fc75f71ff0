"""Amplify JS v6 (`generateClient`), unchanged, against the real server over a real socket."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from appsync_emu.pytest_plugin import EmulatorHandle
from tests.conftest import EXAMPLES, ROOT

NODE_DIR = ROOT / "tests" / "node"

pytestmark = pytest.mark.node


def node_clients() -> Path:
    """tests/node with its npm packages installed (npm ci the first time)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed: the Amplify v6 client test needs them")
    if not (NODE_DIR / "node_modules" / "aws-amplify").exists():
        cmd = ["npm", "ci"] if (NODE_DIR / "package-lock.json").exists() else ["npm", "install"]
        done = subprocess.run(
            [*cmd, "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True, text=True, timeout=600
        )
        if done.returncode != 0:
            pytest.fail(f"npm could not install the Node clients:\n{done.stderr[-2000:]}")
    return NODE_DIR


def run_node(script: str, *args: str) -> list[dict[str, Any]]:
    cwd = node_clients()
    done = subprocess.run(["node", script, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0, f"node exited {done.returncode}: {events}\n{done.stderr[-2000:]}"
    return events


def test_amplify_v6_subscribes_over_graphql_realtime_with_the_header_subprotocol(
    appsync_emu: Callable[..., EmulatorHandle],
) -> None:
    api = appsync_emu(EXAMPLES / "quickstart")
    events = run_node("amplify_subscribe.mjs", api.graphql_url, api.api_key or "", "lobby", "3")
    [socket] = [e for e in events if e["event"] == "socket"]
    assert socket["url"].endswith("/graphql/realtime")
    assert socket["protocols"][0] == "graphql-ws"
    assert socket["protocols"][1].startswith("header-")
    mutation = next(e for e in events if e["event"] == "mutation")
    assert mutation["data"]["postMessage"]["room"] == "elsewhere"
    data = [e["data"]["onMessage"] for e in events if e["event"] == "data"]
    assert [d["text"] for d in data] == ["m0", "m1", "m2"]
    assert {d["room"] for d in data} == {"lobby"}
    assert {d["__typename"] for d in data} == {"Message"}
