"""The fake backend in-process: determinism, usage, scripts, pacing, faults, native formats."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from appsync_emu.llm import BedrockError, collect
from appsync_emu.llm import fake as fake_module
from appsync_emu.llm.fake import FakeBackend
from appsync_emu.llm.tokens import tokenize

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def ask(text: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": [{"text": text}]}], **extra}


async def events_of(fake: FakeBackend, request: dict[str, Any], model: str = MODEL) -> list[dict[str, Any]]:
    return [e async for e in await fake.converse_stream(model, request)]


def text_of(events: list[dict[str, Any]]) -> str:
    return "".join(e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e)


def test_tokenize_round_trips_and_splits_long_words() -> None:
    text = "  Hello, internationalization!\nIt's 3.14 ok  "
    tokens = tokenize(text)
    assert "".join(tokens) == text
    assert all(len(t.strip()) <= 8 for t in tokens)
    assert " intern" in tokens


async def test_default_reply_is_deterministic_and_mentions_the_prompt() -> None:
    fake = FakeBackend()
    first = await events_of(fake, ask("Tell me about penguins"))
    second = await events_of(fake, ask("Tell me about penguins"))
    other = await events_of(fake, ask("Tell me about volcanoes"))
    assert text_of(first) == text_of(second)
    assert "Tell me about penguins" in text_of(first)
    assert text_of(first) != text_of(other)
    deltas = [e for e in first if "contentBlockDelta" in e]
    assert 20 <= len(deltas) <= 80
    assert all(d["contentBlockDelta"]["delta"]["text"] for d in deltas)


async def test_event_sequence_and_usage_match_the_deltas() -> None:
    events = await events_of(FakeBackend(), ask("hi there"))
    names = [next(iter(e)) for e in events]
    assert names[0] == "messageStart" and names[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    assert "contentBlockStart" not in names
    usage = events[-1]["metadata"]["usage"]
    assert usage["outputTokens"] == names.count("contentBlockDelta")
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert usage["inputTokens"] == 2


async def test_converse_collects_the_same_reply() -> None:
    fake = FakeBackend()
    result = await fake.converse(MODEL, ask("same question"))
    events = await events_of(fake, ask("same question"))
    assert result["output"]["message"]["content"] == [{"text": text_of(events)}]
    assert result["stopReason"] == "end_turn"
    assert result["usage"] == events[-1]["metadata"]["usage"]


async def test_scripted_reply_tool_use_and_calls_recorded() -> None:
    fake = FakeBackend()
    fake.set_reply("Checking.", match="WEATHER", tool_use={"name": "get_weather", "input": {"city": "Paris"}})
    events = await events_of(fake, ask("what's the weather?", toolConfig={"tools": []}))
    assert text_of(events) == "Checking."
    start = next(e["contentBlockStart"] for e in events if "contentBlockStart" in e)
    assert start["contentBlockIndex"] == 1
    assert start["start"]["toolUse"]["name"] == "get_weather"
    assert start["start"]["toolUse"]["toolUseId"].startswith("tooluse_")
    fragments = [
        e["contentBlockDelta"]["delta"]["toolUse"]["input"]
        for e in events
        if "contentBlockDelta" in e and "toolUse" in e["contentBlockDelta"]["delta"]
    ]
    assert json.loads("".join(fragments)) == {"city": "Paris"}
    assert events[-2] == {"messageStop": {"stopReason": "tool_use"}}
    assert fake.calls[-1].operation == "converse_stream"
    unmatched = await fake.converse(MODEL, ask("something else"))
    assert "something else" in unmatched["output"]["message"]["content"][0]["text"]


async def test_rules_in_order_with_times_tokens_model_and_tool_result() -> None:
    fake = FakeBackend()
    fake.script(
        [
            {"model": "titan", "reply": "titan only"},
            {"has_tool_result": True, "reply": "It is sunny."},
            {"regex": r"order \d+", "times": 1, "tokens": ["Order", " found", "."]},
            {"reply": "fallback"},
        ]
    )
    assert text_of(await events_of(fake, ask("order 42"))) == "Order found."
    assert text_of(await events_of(fake, ask("order 42"))) == "fallback"
    assert text_of(await events_of(fake, ask("x"), model="amazon.titan-text-express-v1")) == "titan only"
    conversation = {
        "messages": [
            {"role": "user", "content": [{"text": "weather?"}]},
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "w", "input": {}}}]},
            {
                "role": "user",
                "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "sunny"}]}}],
            },
        ],
        "toolConfig": {"tools": []},
    }
    assert text_of(await events_of(fake, conversation)) == "It is sunny."


async def test_max_tokens_and_stop_sequences() -> None:
    fake = FakeBackend()
    fake.set_reply("one two three four five")
    result = await fake.converse(MODEL, ask("x", inferenceConfig={"maxTokens": 2}))
    assert result["output"]["message"]["content"] == [{"text": "one two"}]
    assert result["stopReason"] == "max_tokens"
    result = await fake.converse(MODEL, ask("x", inferenceConfig={"stopSequences": [" four"]}))
    assert result["output"]["message"]["content"] == [{"text": "one two three"}]
    assert result["stopReason"] == "stop_sequence"


@pytest.mark.parametrize(
    "request_",
    [
        {"messages": []},
        {"messages": [{"role": "assistant", "content": [{"text": "hi"}]}]},
        {
            "messages": [
                {"role": "user", "content": [{"text": "a"}]},
                {"role": "user", "content": [{"text": "b"}]},
            ]
        },
        {"messages": [{"role": "user", "content": [{"toolResult": {"toolUseId": "t", "content": []}}]}]},
    ],
)
async def test_invalid_conversations_are_validation_errors(request_: dict[str, Any]) -> None:
    with pytest.raises(BedrockError) as info:
        await FakeBackend().converse_stream(MODEL, request_)
    assert (info.value.code, info.value.status) == ("ValidationException", 400)


async def test_fault_before_stream() -> None:
    fake = FakeBackend(rules=[{"fault": {"error": "ValidationException", "message": "nope"}}])
    with pytest.raises(BedrockError) as info:
        await fake.converse_stream(MODEL, ask("x"))
    assert (info.value.code, info.value.message, info.value.status) == ("ValidationException", "nope", 400)


async def test_fault_mid_stream_after_n_tokens() -> None:
    fake = FakeBackend(rules=[{"reply": "a b c d e", "fault": {"error": "throttlingException", "after_tokens": 3}}])
    stream = await fake.converse_stream(MODEL, ask("x"))
    seen: list[dict[str, Any]] = []
    with pytest.raises(BedrockError) as info:
        async for event in stream:
            seen.append(event)
    assert info.value.stream_code == "throttlingException" and info.value.status == 429
    assert text_of(seen) == "a b c"
    with pytest.raises(BedrockError) as info:
        await fake.converse(MODEL, ask("x"))
    assert info.value.code == "ThrottlingException"


async def test_hang_is_cancellable_and_cleans_up() -> None:
    fake = FakeBackend(rules=[{"fault": "hang"}])
    task = asyncio.ensure_future(fake.converse_stream(MODEL, ask("x")))
    await asyncio.sleep(0.05)
    assert fake.active == 1 and not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fake.active == 0

    fake.script([{"reply": "a b", "fault": {"hang": True, "after_tokens": 1}}])
    stream = await fake.converse_stream(MODEL, ask("x"))
    assert await anext(stream) == {"messageStart": {"role": "assistant"}}
    assert "contentBlockDelta" in await anext(stream)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(stream), 0.1)
    assert fake.active == 0


class VirtualClock:
    """The fake backend's `time` and `asyncio` in one: `monotonic()` is a virtual time that only
    its `sleep` moves on (by exactly what was asked), so pacing is checked without a real clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        if delay > 0:
            self.slept.append(delay)
            self.now += delay
        await asyncio.sleep(0)


async def test_pacing_first_token_and_tps(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = VirtualClock()
    monkeypatch.setattr(fake_module, "time", clock)
    monkeypatch.setattr(fake_module, "asyncio", clock)
    fake = FakeBackend(first_token_ms=100, tps=50)
    fake.set_reply(tokens=[f" t{i}" for i in range(6)])
    stream = await fake.converse_stream(MODEL, ask("x"))
    started = clock.now
    times = [clock.now - started async for e in stream if "contentBlockDelta" in e]
    assert times == pytest.approx([0.1 + i / 50 for i in range(6)]), "first token after 100 ms, then 50 a second"
    fake.set_reply(tokens=["a", "b"], tps=0, first_token_ms=0)
    clock.slept.clear()
    await collect(await fake.converse_stream(MODEL, ask("x")))
    assert clock.slept == [], "no pacing: the reply is not held back at all"


async def test_early_close_releases_the_stream() -> None:
    fake = FakeBackend(tps=100)
    stream = await fake.converse_stream(MODEL, ask("x"))
    await anext(stream)
    await anext(stream)
    assert fake.active == 1
    await stream.aclose()
    assert fake.active == 0


async def test_script_file_is_reloaded_when_it_changes(tmp_path: Any) -> None:
    path = tmp_path / "script.yaml"
    path.write_text("settings: {tps: 0}\nrules:\n  - match: hello\n    reply: From YAML.\n")
    fake = FakeBackend(script=path)
    assert text_of(await events_of(fake, ask("hello"))) == "From YAML."
    path.write_text(json.dumps([{"reply": "Changed."}]))
    import os

    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert text_of(await events_of(fake, ask("hello"))) == "Changed."
    fake.set_reply("Runtime wins.")
    assert text_of(await events_of(fake, ask("hello"))) == "Runtime wins."
    fake.reset()
    assert text_of(await events_of(fake, ask("hello"))) == "Changed."
    path.write_text("- {bogus: 1}\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    with pytest.raises(BedrockError) as info:
        await fake.converse(MODEL, ask("hello"))
    assert "bogus" in info.value.message


def anthropic_body(text: str, **extra: Any) -> bytes:
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 200,
        "messages": [{"role": "user", "content": text}],
    }
    return json.dumps({**body, **extra}).encode()


async def test_anthropic_invoke_model_and_stream() -> None:
    fake = FakeBackend()
    fake.set_reply("Hi!", tool_use={"name": "lookup", "input": {"q": "x"}, "id": "toolu_1"})
    result = await fake.invoke_model(MODEL, anthropic_body("hello"), "application/json", "application/json")
    body = json.loads(result.body)
    assert body["type"] == "message" and body["id"].startswith("msg_bdrk_")
    assert body["model"] == "claude-3-haiku-20240307"
    assert body["content"] == [
        {"type": "text", "text": "Hi!"},
        {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}},
    ]
    assert body["stop_reason"] == "tool_use"
    assert result.headers["X-Amzn-Bedrock-Output-Token-Count"] == str(body["usage"]["output_tokens"])
    stream = await fake.invoke_model_stream(MODEL, anthropic_body("hello"))
    chunks = [json.loads(c) async for c in stream.chunks]
    types = [c["type"] for c in chunks]
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    assert chunks[1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    assert "amazon-bedrock-invocationMetrics" in chunks[-1]
    assert chunks[-2]["usage"]["output_tokens"] == types.count("content_block_delta")
    partial = "".join(c["delta"].get("partial_json", "") for c in chunks if c["type"] == "content_block_delta")
    assert json.loads(partial) == {"q": "x"}


@pytest.mark.parametrize(
    ("model", "body", "text_path"),
    [
        ("amazon.nova-lite-v1:0", {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}, None),
        ("amazon.titan-text-express-v1", {"inputText": "hi"}, ("results", 0, "outputText")),
        ("meta.llama3-8b-instruct-v1:0", {"prompt": "hi"}, ("generation",)),
        ("us.meta.llama3-2-1b-instruct-v1:0", {"prompt": "hi"}, ("generation",)),
        ("mistral.mistral-7b-instruct-v0:2", {"prompt": "<s>[INST] hi [/INST]"}, ("outputs", 0, "text")),
    ],
)
async def test_other_families_answer_natively(model: str, body: dict[str, Any], text_path: Any) -> None:
    fake = FakeBackend()
    fake.set_reply("Native reply.")
    result = json.loads((await fake.invoke_model(model, json.dumps(body).encode())).body)
    if text_path is None:
        assert result["output"]["message"]["content"] == [{"text": "Native reply."}]
    else:
        value: Any = result
        for key in text_path:
            value = value[key]
        assert value == "Native reply."
    stream = await fake.invoke_model_stream(model, json.dumps(body).encode())
    chunks = [json.loads(c) async for c in stream.chunks]
    assert "amazon-bedrock-invocationMetrics" in chunks[-1]


async def test_llama_chat_template_is_unwrapped_for_matching() -> None:
    fake = FakeBackend(rules=[{"regex": "^Tell me a joke$", "reply": "Knock knock."}])
    prompt = (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nTell me a joke<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>"
    )
    result = await fake.invoke_model("meta.llama3-8b-instruct-v1:0", json.dumps({"prompt": prompt}).encode())
    assert json.loads(result.body)["generation"] == "Knock knock."


async def test_titan_embeddings_are_deterministic_unit_vectors() -> None:
    fake = FakeBackend()
    body = json.dumps({"inputText": "hello", "dimensions": 256}).encode()
    first = json.loads((await fake.invoke_model("amazon.titan-embed-text-v2:0", body)).body)
    second = json.loads((await fake.invoke_model("amazon.titan-embed-text-v2:0", body)).body)
    assert first == second and len(first["embedding"]) == 256
    assert sum(v * v for v in first["embedding"]) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("model", "body"),
    [
        ("cohere.command-r-v1:0", b'{"message": "hi"}'),
        (MODEL, b'{"messages": []}'),
        (MODEL, b"not json"),
    ],
)
async def test_unsupported_or_malformed_native_bodies(model: str, body: bytes) -> None:
    with pytest.raises(BedrockError) as info:
        await FakeBackend().invoke_model(model, body)
    assert info.value.code == "ValidationException"
