"""Script files and rules for the fake backend, and choosing a backend from settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appsync_emu.llm import make_backend
from appsync_emu.llm.bedrock import BedrockBackend
from appsync_emu.llm.fake import FakeBackend
from appsync_emu.llm.scripts import Fault, ScriptError, ToolUse, load_script, parse_rule


def test_yaml_and_json_scripts_load_the_same(tmp_path: Path) -> None:
    rules = [
        {"match": "weather", "tool_use": {"name": "get_weather", "input": {"city": "Paris"}}},
        {"regex": "^order", "tokens": ["A", "B"], "tps": 5, "first_token_ms": 10},
        {"fault": {"error": "throttlingException", "after_tokens": 2}},
        {"fault": "hang"},
    ]
    (tmp_path / "s.json").write_text(json.dumps({"settings": {"tps": 20, "first_token_ms": 150}, "rules": rules}))
    (tmp_path / "s.yaml").write_text(
        "settings: {tps: 20, first_token_ms: 150}\n"
        "rules:\n"
        "  - match: weather\n    tool_use: {name: get_weather, input: {city: Paris}}\n"
        "  - regex: ^order\n    tokens: [A, B]\n    tps: 5\n    first_token_ms: 10\n"
        "  - fault: {error: throttlingException, after_tokens: 2}\n"
        "  - fault: hang\n"
    )
    from_json, from_yaml = load_script(tmp_path / "s.json"), load_script(tmp_path / "s.yaml")
    assert from_json == from_yaml
    assert (from_json.tps, from_json.first_token_ms) == (20, 150)
    assert from_json.rules[0].tool_use == [ToolUse("get_weather", {"city": "Paris"})]
    assert from_json.rules[2].fault == Fault("throttlingException", after_tokens=2)
    assert from_json.rules[3].fault == Fault(None)


def test_a_bare_list_is_a_script(tmp_path: Path) -> None:
    (tmp_path / "s.yml").write_text("- reply: hi\n")
    assert load_script(tmp_path / "s.yml").rules[0].reply == "hi"


@pytest.mark.parametrize(
    "raw",
    [
        {"replyy": "typo"},
        {"regex": "("},
        {"fault": {"message": "no code"}},
        {"fault": 3},
        {"tool_use": {"input": {}}},
        "not a mapping",
    ],
)
def test_bad_rules_are_reported(raw: object) -> None:
    with pytest.raises(ScriptError):
        parse_rule(raw)  # type: ignore[arg-type]


def test_bad_files_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("rules: [\n")
    with pytest.raises(ScriptError, match=r"bad\.yaml"):
        load_script(path)


def test_fault_default_messages_read_like_bedrock() -> None:
    assert Fault("throttlingException").text.startswith("Too many requests")
    assert Fault("ValidationException", "custom").text == "custom"


def test_make_backend_defaults_to_fake_and_reads_the_environment(tmp_path: Path) -> None:
    script = tmp_path / "s.json"
    script.write_text("[]")
    fake = make_backend(env={})
    assert isinstance(fake, FakeBackend) and fake.tps is None
    env = {
        "APPSYNC_EMU_FAKE_LLM_TPS": "25",
        "APPSYNC_EMU_FAKE_LLM_FIRST_TOKEN_MS": "300",
        "APPSYNC_EMU_FAKE_LLM_SCRIPT": str(script),
    }
    fake = make_backend(env=env)
    assert isinstance(fake, FakeBackend) and (fake.tps, fake.first_token_ms) == (25.0, 300.0)
    fake = make_backend("fake", env=env, tps=5)
    assert isinstance(fake, FakeBackend) and fake.tps == 5


def test_make_backend_bedrock_settings() -> None:
    env = {
        "APPSYNC_EMU_LLM": "bedrock",
        "APPSYNC_EMU_BEDROCK_REGION": "eu-west-1",
        "APPSYNC_EMU_BEDROCK_PROFILE": "dev",
        "APPSYNC_EMU_BEDROCK_ENDPOINT_URL": "http://127.0.0.1:1",
        "APPSYNC_EMU_BEDROCK_READ_TIMEOUT_S": "90",
        "APPSYNC_EMU_BEDROCK_MAX_ATTEMPTS": "3",
    }
    backend = make_backend(env=env, region="us-west-2")
    assert isinstance(backend, BedrockBackend)
    assert (backend.region, backend.profile, backend.endpoint_url) == (
        "us-west-2",
        "dev",
        "http://127.0.0.1:1",
    )
    assert (backend.read_timeout, backend.max_attempts) == (90.0, 3)


@pytest.mark.parametrize(
    ("kind", "env", "settings"),
    [
        ("openai", {}, {}),
        (None, {"APPSYNC_EMU_LLM": "nope"}, {}),
        ("fake", {"APPSYNC_EMU_FAKE_LLM_TPS": "fast"}, {}),
        ("fake", {}, {"region": "us-east-1"}),
    ],
)
def test_make_backend_rejects_bad_settings(kind: str | None, env: dict[str, str], settings: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make_backend(kind, env=env, **settings)
