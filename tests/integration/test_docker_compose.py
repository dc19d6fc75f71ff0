"""examples/docker-compose: the Compose file's recipe, and its web app against a real emulator.

No Docker engine here, so the file is checked by reading it: ports on 127.0.0.1 only, options the
image's `serve` accepts, a mounted folder that holds a template, and one API key for both
services. The web app's server then runs with node, as the `web` service would, against the
emulator serving the same folder with the same key.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from appsync_emu.cli import build_parser
from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import EXAMPLES, ROOT

COMPOSE_DIR = EXAMPLES / "docker-compose"
COMPOSE: dict[str, Any] = yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text())
APPSYNC, WEB = COMPOSE["services"]["appsync"], COMPOSE["services"]["web"]


def mounted_project() -> Path:
    [source] = [v.split(":")[0] for v in APPSYNC["volumes"] if v.split(":")[1] == "/app"]
    return (COMPOSE_DIR / source).resolve()


def test_both_services_publish_on_loopback_only() -> None:
    for service in (APPSYNC, WEB):
        assert service["ports"] and all(port.startswith("127.0.0.1:") for port in service["ports"])


def test_the_emulator_is_built_from_this_repository_and_serves_a_template() -> None:
    assert (COMPOSE_DIR / APPSYNC["build"]).resolve() == ROOT
    assert (ROOT / "Dockerfile").is_file()
    assert (mounted_project() / "template.yaml").is_file()


def test_the_command_is_options_the_images_serve_accepts_with_the_web_apps_key() -> None:
    args = build_parser().parse_args(["serve", "/app", "--host", "0.0.0.0", *APPSYNC["command"]])
    assert args.api_key == WEB["environment"]["APPSYNC_API_KEY"]
    assert WEB["depends_on"]["appsync"]["condition"] == "service_healthy"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def emulator() -> Iterator[EmulatorHandle]:
    handle = start_emulator(mounted_project(), api_key=WEB["environment"]["APPSYNC_API_KEY"])
    yield handle
    handle.stop()


@pytest.mark.node
def test_the_web_app_gets_the_emulators_url_and_key_and_its_query_answers(emulator: EmulatorHandle) -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the web app's server runs on it")
    port = free_port()
    env = {**os.environ, **WEB["environment"], "PORT": str(port), "APPSYNC_URL": emulator.graphql_url}
    web = subprocess.Popen(["node", "server.mjs"], cwd=COMPOSE_DIR / "web", env=env, stdout=subprocess.PIPE)
    try:
        assert web.stdout is not None and "web app on" in web.stdout.readline().decode()
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200 and "/config.js" in page.text
        config = httpx.get(f"http://127.0.0.1:{port}/config.js", timeout=5).text
        assert emulator.graphql_url in config and WEB["environment"]["APPSYNC_API_KEY"] in config
        answer = httpx.post(
            emulator.graphql_url,
            json={"query": '{ hello(name: "compose") }'},
            headers={"x-api-key": WEB["environment"]["APPSYNC_API_KEY"], "origin": f"http://localhost:{port}"},
            timeout=5,
        )
        assert answer.json() == {"data": {"hello": "Hello, compose!"}}
        assert answer.headers["access-control-allow-origin"] == "*"
    finally:
        web.terminate()
        web.wait(timeout=10)
