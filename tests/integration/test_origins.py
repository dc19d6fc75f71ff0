"""Local means local: which web pages may use the emulator (docs/SECURITY.md)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from appsync_emu.pytest_plugin import EmulatorHandle, start_emulator
from tests.conftest import APPS
from tests.integration.wsclient import api_key_header, header_b64


def emu(api: EmulatorHandle, path: str, **headers: str) -> httpx.Response:
    return httpx.get(api.base_url + path, headers=headers)


def test_emulator_routes_answer_without_origin_or_from_the_same_origin_only(core_api: EmulatorHandle) -> None:
    host = core_api.base_url.split("//", 1)[1]
    assert emu(core_api, "/_emu/config").status_code == 200
    same = emu(core_api, "/_emu/config", origin=core_api.base_url)
    assert same.status_code == 200 and "access-control-allow-origin" not in same.headers
    foreign = emu(core_api, "/_emu/config", origin="https://evil.example")
    assert foreign.status_code == 403 and str(core_api.api_key) not in foreign.text
    assert emu(core_api, "/_emu/config", origin="http://localhost:9999").status_code == 403
    assert host in core_api.base_url


def test_graphql_cors_stays_as_appsync_answers_it(core_api: EmulatorHandle) -> None:
    r = httpx.options(
        core_api.graphql_url, headers={"origin": "https://app.example", "access-control-request-method": "POST"}
    )
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"


async def open_ws(api: EmulatorHandle, origin: str | None) -> Any:
    url = api.realtime_url + f"?header={header_b64(api_key_header(api))}&payload=e30="
    headers = {"Origin": origin} if origin else None
    return await connect(url, subprotocols=["graphql-ws"], additional_headers=headers)  # type: ignore[list-item]


@pytest.mark.parametrize("origin", [None, "http://localhost:5173", "http://127.0.0.1:3000", "http://[::1]:8080"])
async def test_websockets_from_no_origin_loopback_pages_and_the_emulator_itself_are_accepted(
    core_api: EmulatorHandle, origin: str | None
) -> None:
    ws = await open_ws(core_api, origin)
    await ws.close()
    ws = await open_ws(core_api, core_api.base_url)
    await ws.close()


async def test_a_websocket_from_a_foreign_page_is_refused(core_api: EmulatorHandle) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await open_ws(core_api, "https://evil.example")
    assert refused.value.response.status_code == 403


async def test_allow_origin_lets_a_named_page_in() -> None:
    api = start_emulator(APPS / "core", allow_origins=("https://app.example",))
    try:
        ws = await open_ws(api, "https://app.example")
        await ws.close()
        with pytest.raises(InvalidStatus):
            await open_ws(api, "https://other.example")
    finally:
        api.stop()
    await asyncio.sleep(0)


def test_a_rebound_domain_cannot_read_the_emulator_routes(core_api: EmulatorHandle) -> None:
    port = core_api.base_url.rsplit(":", 1)[1]
    rebound = f"evil.example:{port}"  # a page whose name now resolves to 127.0.0.1: no Origin on its GETs
    r = emu(core_api, "/_emu/config", host=rebound)
    assert r.status_code == 403 and str(core_api.api_key) not in r.text
    assert emu(core_api, "/_emu/config", host=rebound, origin=f"http://{rebound}").status_code == 403
    for local in (f"localhost:{port}", f"127.0.0.1:{port}", f"app.localhost:{port}", f"[::1]:{port}"):
        assert emu(core_api, "/_emu/config", host=local).status_code == 200, local


async def test_a_rebound_domain_cannot_open_a_websocket(core_api: EmulatorHandle) -> None:
    port = core_api.base_url.rsplit(":", 1)[1]
    url = core_api.realtime_url + f"?header={header_b64(api_key_header(core_api))}&payload=e30="
    headers = {"Origin": f"http://evil.example:{port}", "Host": f"evil.example:{port}"}
    with pytest.raises(InvalidStatus) as refused:
        await connect(url, subprotocols=["graphql-ws"], additional_headers=headers)  # type: ignore[list-item]
    assert refused.value.response.status_code == 403


def test_a_host_named_with_allow_origin_is_trusted() -> None:
    api = start_emulator(APPS / "core", allow_origins=("http://appsync:4000",))
    try:
        assert emu(api, "/_emu/config", host="appsync:4000").status_code == 200  # e.g. a compose service name
    finally:
        api.stop()


def test_the_bedrock_wire_approves_no_preflight_so_pages_cannot_send_it_json_or_signatures(
    core_api: EmulatorHandle,
) -> None:
    r = httpx.options(
        core_api.base_url + "/model/any-model/converse",
        headers={
            "origin": "https://evil.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization,content-type",
        },
    )
    assert "access-control-allow-origin" not in r.headers


def test_the_emulator_hands_its_iam_credentials_to_local_tools_only(core_api: EmulatorHandle) -> None:
    iam = emu(core_api, "/_emu/config").json()["iamCredentials"]  # the core API has AWS_IAM as an extra mode
    assert iam["accessKeyId"] == "AKIAAPPSYNCEMULATOR0" and iam["sessionToken"]
    assert iam["secretAccessKey"] == core_api.emulator.settings.iam_credentials["AKIAAPPSYNCEMULATOR0"]
    assert emu(core_api, "/_emu/config", origin="https://evil.example").status_code == 403
