"""Fuzzing `POST /graphql` of the real server: whatever a client sends, an AppSync-shaped JSON answer.

Properties, for every drawn request:

- the status is one AppSync answers with (never 5xx: the core API has no data source that fails
  with one);
- the body is JSON in AppSync's shape: `data`, or `errors` whose items carry a `message`
  (and an `errorType` for request-level errors);
- the server answers `{ hello }` right after it;
- nothing in the server's log at ERROR or with a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from appsync_emu.pytest_plugin import EmulatorHandle

from .conftest import STATS, ServerLog, fuzz
from .strategies import http_bodies, http_headers, json_text, operations

#: Every status the HTTP endpoint may answer with (docs/DECISIONS.md, "HTTP endpoint").
STATUSES = {200, 400, 401, 403, 405, 413}
GOOD = json.dumps({"query": "{ hello }"}).encode()


@pytest.fixture(scope="module")
def client(fuzz_api: EmulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as c:
        yield c


def check_shape(response: httpx.Response) -> dict[str, Any]:
    """The reply is AppSync-shaped JSON; returns it."""
    assert response.status_code in STATUSES, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = json.loads(response.content)
    assert isinstance(body, dict), body
    errors = body.get("errors")
    if response.status_code != 200 or "data" not in body:
        assert isinstance(errors, list) and errors, body
    if errors is not None:
        assert isinstance(errors, list)
        for error in errors:
            assert isinstance(error, dict) and isinstance(error.get("message"), str), body
            if "data" not in body:
                assert isinstance(error.get("errorType"), str), body
    if response.status_code == 200:
        assert "data" in body, body
    return body


def still_serving(api: EmulatorHandle, client: httpx.Client, log: ServerLog) -> None:
    r = client.post(api.graphql_url, content=GOOD, headers={"x-api-key": api.api_key or ""})
    assert r.status_code == 200 and r.json() == {"data": {"hello": "Hello, world!"}}, r.text[:500]
    log.check()


def _chunks(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    at = 0
    for size in sizes:
        yield data[at : at + size]
        at += size
    yield data[at:]


@fuzz(300)
@given(
    body=http_bodies(),
    headers=st.data(),
    method=st.sampled_from(["POST"] * 8 + ["GET", "PUT", "DELETE", "PATCH"]),
    chunked=st.lists(st.integers(1, 64), max_size=4),
)
def test_any_body_with_any_headers_gets_an_appsync_shaped_answer(
    fuzz_api: EmulatorHandle,
    client: httpx.Client,
    server_log: ServerLog,
    body: bytes,
    headers: st.DataObject,
    method: str,
    chunked: list[int],
) -> None:
    hdrs = headers.draw(http_headers(fuzz_api.api_key or ""))
    content: bytes | Iterator[bytes] = _chunks(body, chunked) if chunked and method == "POST" else body
    r = client.request(method, fuzz_api.graphql_url, content=content, headers=hdrs)
    STATS.cases["http-bodies"] += 1
    STATS.statuses[r.status_code] += 1
    check_shape(r)
    if method != "POST":
        assert r.status_code == 405
    still_serving(fuzz_api, client, server_log)


@fuzz(500)
@given(op=operations())
def test_any_document_from_the_schema_gets_an_appsync_shaped_answer(
    fuzz_api: EmulatorHandle, client: httpx.Client, server_log: ServerLog, op: Any
) -> None:
    body = json_text(op.body()).encode()
    r = client.post(fuzz_api.graphql_url, content=body, headers={"x-api-key": fuzz_api.api_key or ""})
    STATS.cases["http-documents"] += 1
    STATS.statuses[r.status_code] += 1
    answer = check_shape(r)
    if op.kind == "subscription" and r.status_code == 400 and "data" in answer:
        assert answer["data"] is None
    still_serving(fuzz_api, client, server_log)
