"""The fake model's demo controls (pacing, throttle mid-stream, slow model), its call records, and
`/_emu/llm` over Starlette's in-process client: no server, no real clock in any assertion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from appsync_emu.llm import BedrockError, collect
from appsync_emu.llm import fake as fake_module
from appsync_emu.llm.base import EventStream, LLMBackend, ModelResponse, ModelStream
from appsync_emu.llm.fake import FakeBackend, iso_ms
from appsync_emu.llm.routes import llm_routes

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def ask(text: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": [{"text": text}]}], **extra}


async def stream_text(fake: FakeBackend, request: dict[str, Any]) -> str:
    """The streamed reply's text; a mid-stream BedrockError propagates."""
    text = ""
    async for event in await fake.converse_stream(MODEL, request):
        if "contentBlockDelta" in event:
            text += event["contentBlockDelta"]["delta"].get("text", "")
    return text


def test_controls_start_from_the_backend_settings_and_change_only_what_is_given() -> None:
    fake = FakeBackend(first_token_ms=5, tps=None)
    assert fake.controls() == {"firstTokenMs": 5, "tps": None, "throttle": None}
    assert fake.set_controls({"tps": 40}) == {"firstTokenMs": 5, "tps": 40.0, "throttle": None}
    fake.set_controls({"firstTokenMs": 1500, "throttle": {"afterTokens": 3}})
    assert fake.controls() == {"firstTokenMs": 1500.0, "tps": 40.0, "throttle": {"afterTokens": 3, "remaining": 1}}
    fake.set_controls({"firstTokenMs": None, "throttle": None})
    assert fake.controls() == {"firstTokenMs": None, "tps": 40.0, "throttle": None}
    fake.set_controls({"throttle": {"afterTokens": 2, "times": 3}})
    fake.reset()
    assert fake.controls() == {"firstTokenMs": 5, "tps": None, "throttle": None}, "reset restores the start"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"speed": 3}, "unknown controls ['speed']"),
        ({"tps": -1}, "tps must be a number >= 0 or null"),
        ({"tps": "fast"}, "tps must be a number >= 0 or null"),
        ({"firstTokenMs": True}, "firstTokenMs must be a number >= 0 or null"),
        ({"throttle": 3}, "throttle must be"),
        ({"throttle": {}}, "throttle needs afterTokens"),
        ({"throttle": {"afterTokens": 1.5}}, "throttle.afterTokens must be a whole number"),
        ({"throttle": {"afterTokens": 2, "times": -1}}, "throttle.times must be a whole number"),
        ({"throttle": {"afterTokens": 2, "after": 1}}, "unknown throttle keys ['after']"),
    ],
)
def test_bad_controls_are_refused_by_name_and_change_nothing(changes: dict[str, Any], message: str) -> None:
    fake = FakeBackend(tps=10)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        fake.set_controls({"firstTokenMs": 7, **changes})
    assert fake.controls() == {"firstTokenMs": None, "tps": 10, "throttle": None}


async def test_the_throttle_fails_the_next_calls_mid_stream_then_the_model_recovers() -> None:
    fake = FakeBackend()
    fake.set_reply(tokens=["a", "b", "c", "d", "e"])
    fake.set_controls({"throttle": {"afterTokens": 2, "times": 2}})
    for remaining in (1, 0):
        stream = await fake.converse_stream(MODEL, ask("hi"))
        got = []
        with pytest.raises(BedrockError) as caught:
            async for event in stream:
                if "contentBlockDelta" in event:
                    got.append(event["contentBlockDelta"]["delta"]["text"])
        assert got == ["a", "b"], "the scripted reply streams until the throttle"
        assert (caught.value.stream_code, caught.value.status) == ("throttlingException", 429)
        assert caught.value.message == "Too many requests, please wait before trying again."
        expected = None if remaining == 0 else {"afterTokens": 2, "remaining": remaining}
        assert fake.controls()["throttle"] == expected
    assert await stream_text(fake, ask("hi")) == "abcde", "the throttle is used up: the next call succeeds"
    assert [c.outcome for c in fake.calls] == ["ThrottlingException", "ThrottlingException", "end_turn"]
    assert [c.output_tokens for c in fake.calls] == [2, 2, 5]


async def test_a_scripted_fault_wins_over_the_throttle_which_stays_armed() -> None:
    fake = FakeBackend()
    fake.script([{"times": 1, "fault": {"error": "ValidationException"}}])
    fake.set_controls({"throttle": {"afterTokens": 1}})
    with pytest.raises(BedrockError) as caught:
        await fake.converse_stream(MODEL, ask("hi"))
    assert caught.value.http_code == "ValidationException"
    assert fake.controls()["throttle"] == {"afterTokens": 1, "remaining": 1}
    assert fake.calls[-1].outcome == "ValidationException"


async def test_pacing_controls_reach_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    class Clock:
        now = 50.0

        def __getattr__(self, name: str) -> Any:
            import asyncio

            return getattr(asyncio, name)

        def monotonic(self) -> float:
            return self.now

        async def sleep(self, delay: float) -> None:
            if delay > 0:
                slept.append(round(delay, 6))
                self.now += delay

    clock = Clock()
    monkeypatch.setattr(fake_module, "time", clock)
    monkeypatch.setattr(fake_module, "asyncio", clock)
    fake = FakeBackend()
    fake.set_reply(tokens=["a", "b", "c"])
    fake.set_controls({"firstTokenMs": 2000, "tps": 4})
    assert await stream_text(fake, ask("x")) == "abc"
    assert slept == [2.0, 0.25, 0.25], "a slow first token, then four tokens a second"


async def test_each_call_records_its_moments_in_order_its_metadata_and_its_outcome() -> None:
    fake = FakeBackend()
    metadata = {"conversationId": "c-1", "requestedAt": "2026-01-01T00:00:00.000Z"}
    await stream_text(fake, ask("hello", requestMetadata=metadata))
    [call] = fake.calls
    assert call.received_at <= (call.first_token_at or 0) <= (call.ended_at or 0)
    view = call.to_dict()
    assert view["number"] == 1 and view["operation"] == "converse_stream" and view["modelId"] == MODEL
    assert view["requestMetadata"] == metadata
    assert view["outcome"] == "end_turn" and view["outputTokens"] > 0 and view["messages"] == 1
    assert view["receivedAt"] <= view["firstTokenAt"] <= view["endedAt"]
    assert view["firstTokenAt"].endswith("Z") and len(view["firstTokenAt"]) == len("2026-01-01T00:00:00.000Z")


async def test_a_call_closed_early_is_recorded_as_cancelled_and_a_refused_one_by_its_error() -> None:
    fake = FakeBackend()
    stream = await fake.converse_stream(MODEL, ask("hello"))
    await anext(stream)
    await stream.aclose()
    with pytest.raises(BedrockError):
        await fake.converse_stream(MODEL, {"messages": []})
    assert [(c.outcome, c.first_token_at) for c in fake.calls] == [("cancelled", None), ("ValidationException", None)]


async def test_recorded_calls_are_bounded_and_numbered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fake_module, "MAX_CALLS", 3)
    fake = FakeBackend()
    for i in range(5):
        await collect(await fake.converse_stream(MODEL, ask(f"q{i}")))
    assert [c.number for c in fake.calls] == [3, 4, 5]


def test_iso_ms_truncates_to_the_millisecond() -> None:
    assert iso_ms(None) is None
    assert iso_ms(1.9999) == "1970-01-01T00:00:01.999Z"


class NotFake(LLMBackend):
    kind = "bedrock"

    async def converse(self, model_id: str, request: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    async def converse_stream(self, model_id: str, request: Mapping[str, Any]) -> EventStream:
        raise NotImplementedError

    async def invoke_model(
        self, model_id: str, body: bytes, content_type: str | None = None, accept: str | None = None
    ) -> ModelResponse:
        raise NotImplementedError

    async def invoke_model_stream(
        self, model_id: str, body: bytes, content_type: str | None = None, accept: str | None = None
    ) -> ModelStream:
        raise NotImplementedError


def client_for(backend: LLMBackend) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=Starlette(routes=llm_routes(backend)))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")


async def test_the_route_shows_and_changes_the_fake_controls() -> None:
    fake = FakeBackend()
    client = client_for(fake)
    shown = (await client.get("/_emu/llm")).json()
    assert shown == {
        "backend": "fake",
        "controls": {"firstTokenMs": None, "tps": None, "throttle": None},
        "controlsDisabled": None,
        "calls": [],
    }
    changed = await client.post("/_emu/llm", json={"tps": 30, "throttle": {"afterTokens": 4}})
    assert changed.status_code == 200
    assert changed.json()["controls"] == {
        "firstTokenMs": None,
        "tps": 30.0,
        "throttle": {"afterTokens": 4, "remaining": 1},
    }
    refused = await client.post("/_emu/llm", json={"tps": -3})
    assert (refused.status_code, refused.json()) == (400, {"message": "tps must be a number >= 0 or null, got -3"})
    assert (await client.post("/_emu/llm", content=b"[1]")).status_code == 400
    assert (await client.post("/_emu/llm", content=b"{")).status_code == 400
    assert (await client.get("/_emu/llm?limit=x")).status_code == 400


async def test_with_another_backend_the_controls_are_disabled_and_say_so() -> None:
    client = client_for(NotFake())
    shown = (await client.get("/_emu/llm")).json()
    assert (shown["backend"], shown["controls"], shown["calls"]) == ("bedrock", None, None)
    assert "disabled" in shown["controlsDisabled"] and "bedrock" in shown["controlsDisabled"]
    refused = await client.post("/_emu/llm", json={"tps": 3})
    assert refused.status_code == 409
    assert refused.json()["message"] == shown["controlsDisabled"]
