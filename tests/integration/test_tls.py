"""`--tls-cert/--tls-key`: https and wss, the way Amplify v6 insists on connecting."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from appsync_emu.pytest_plugin import start_emulator
from tests.conftest import EXAMPLES

from .wsclient import api_key_header, header_b64


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: cannot make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    key, crt = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(crt),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return crt, key


async def test_https_and_wss_with_a_certificate(cert: tuple[Path, Path]) -> None:
    crt, key = cert
    api = start_emulator(EXAMPLES / "quickstart", tls_certfile=crt, tls_keyfile=key)
    try:
        assert api.graphql_url.startswith("https://") and api.realtime_url.startswith("wss://")
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(crt))) as client:
            r = await client.post(
                api.graphql_url, json={"query": "{ hello }"}, headers={"x-api-key": api.api_key or ""}
            )
        assert r.json() == {"data": {"hello": "Hello, world!"}}
        context = ssl.create_default_context(cafile=str(crt))
        protocols = ["graphql-ws", "header-" + header_b64(api_key_header(api), urlsafe=True, padded=False)]
        async with connect(api.realtime_url, ssl=context, subprotocols=protocols) as ws:  # type: ignore[arg-type]
            await ws.send('{"type":"connection_init"}')
            assert '"connection_ack"' in str(await ws.recv())
    finally:
        api.stop()
