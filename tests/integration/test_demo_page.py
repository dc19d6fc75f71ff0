"""The genai-chat web page in a real headless Chromium, served by the emulator at `/demo/`.

`tests/node/chat_page.mjs` drives the browser with playwright-core: it opens the page, which reads
`/_emu/config`, subscribes over AppSync's real-time protocol and POSTs `ask`; it runs a list of
steps (set the fake model's controls through the page, ask a prompt and wait until the answer and
its timeline are complete), saves a screenshot after each step into `test-artifacts/` (the paths
are printed) and reports what the page shows. The timeline is checked against the server's own
records (`/_emu/invocations`, the fake model's calls) and for order, never for durations.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from appsync_emu.llm.fake import FakeBackend
from appsync_emu.pytest_plugin import EmulatorHandle
from tests.conftest import EXAMPLES, ROOT

NODE_DIR = ROOT / "tests" / "node"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
EXAMPLE = EXAMPLES / "genai-chat"
MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"  # the template's default ModelId
PROMPT = "What does the async Lambda pattern buy me?"
REPLY = (
    "The ask mutation returned straight away. This answer was streamed by the Lambda function "
    "through sendChunk, and AppSync pushes every piece to this page over its WebSocket."
)
MARKDOWN_REPLY = (
    "Three things, **briefly**:\n\n"
    "- `ask` returns at once\n"
    "- the function streams\n\n"
    'Raw HTML stays inert: <img src="x" onerror="window.__pwned=1"><script>window.__pwned=2</script> '
    "and [a link](javascript:window.__pwned=3)."
)

pytestmark = [pytest.mark.node, pytest.mark.browser]


def browser_driver() -> Path:
    """tests/node with playwright-core installed, and a Chromium to drive; skips when either is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install it with `apt-get install -y chromium` to run the page test")
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed: the page test drives Chromium with playwright-core")
    if not (NODE_DIR / "node_modules" / "playwright-core").exists():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True, text=True, timeout=600
        )
        if done.returncode != 0:
            pytest.fail(f"npm could not install tests/node:\n{done.stderr[-2000:]}")
    return NODE_DIR


def run_page(url: str, steps: Sequence[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """Run chat_page.mjs's `steps` against `url`; its JSON-line events (screenshots: demo-page-<name>-N.png)."""
    cwd = browser_driver()
    prefix = ARTIFACTS / f"demo-page-{name}"
    for old in ARTIFACTS.glob(f"demo-page-{name}-*.png"):
        old.unlink()
    done = subprocess.run(
        ["node", "chat_page.mjs", url, json.dumps(list(steps)), str(prefix), str(CHROMIUM)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=150,
    )
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0, f"chat_page.mjs exited {done.returncode}:\n{events}\n{done.stderr[-2000:]}"
    for event in events:
        if event["event"] == "screenshot":
            assert Path(event["path"]).stat().st_size > 0
            print(f"screenshot: {event['path']}")
    problems = [
        e
        for e in events
        if e["event"] in ("pageerror", "foreign") or (e["event"] == "console" and e["type"] == "error")
    ]
    assert problems == [], f"the page logged errors or reached beyond the emulator: {problems}"
    return events


def answers(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == "answer"]


def page_view(events: list[dict[str, Any]]) -> dict[str, Any]:
    [view] = [e for e in events if e["event"] == "page"]
    return view


def epoch_ms(iso: str) -> int:
    """An ISO timestamp from the server as the page reads it (Date.parse: whole milliseconds)."""
    return round(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def moment(timeline: list[dict[str, Any]], kind: str, attempt: int | None = None) -> int:
    """The time of the one event of `kind` (in `attempt`); fails naming the timeline if there is not one."""
    found = [e["at"] for e in timeline if e["kind"] == kind and (attempt is None or e["attempt"] == attempt)]
    assert len(found) == 1, f"expected one {kind!r} (attempt {attempt}) in the timeline, got {found}: {timeline}"
    return int(found[0])


def assert_drawn_in_time_order(timeline: list[dict[str, Any]]) -> None:
    times = [e["at"] for e in timeline]
    assert times == sorted(times), f"the timeline is not drawn in time order: {timeline}"


def invocation_of(api: EmulatorHandle, conversation_id: str) -> list[dict[str, Any]]:
    """The async invocations whose event carries `conversation_id`, oldest first."""
    records = httpx.get(f"{api.base_url}/_emu/invocations", timeout=10).json()
    return [r for r in records if (r["requestPayload"] or {}).get("conversationId") == conversation_id]


def test_demo_page_streams_the_reply_and_draws_its_timeline_in_the_order_things_happened(
    appsync_emu: Callable[..., EmulatorHandle],
) -> None:
    api = appsync_emu(EXAMPLE)
    fake: FakeBackend = api.fake_llm

    def script() -> None:
        fake.set_reply(REPLY)
        fake.first_token_ms = 300
        fake.tps = 60

    api.call(script)
    events = run_page(f"{api.base_url}/demo/", [{"ask": PROMPT}], "timeline")

    assert [e["url"] for e in events if e["event"] == "socket"] == [api.realtime_url]
    [answer] = answers(events)
    assert answer["state"] == "done", answer
    assert answer["text"].strip() == REPLY, "rendered as one Markdown paragraph"
    assert answer["error"] is None
    assert answer["user"] == PROMPT
    assert answer["busy"] == "false", "the live region should no longer be busy once the answer is complete"
    assert answer["askMs"] < answer["firstChunkMs"], f"ask should return before the first chunk: {answer}"

    # Which backend and which model answered.
    view = page_view(events)
    assert (view["backend"], view["backendKind"], view["model"]) == ("the fake model (appsync-emu)", "fake", MODEL_ID)
    assert answer["model"] == MODEL_ID and MODEL_ID in answer["meta"] and "fake model" in answer["meta"]

    # The events, in the order they happened: each one causes the next (the ask's answer aside).
    timeline = answer["timeline"]
    assert_drawn_in_time_order(timeline)
    kinds = [e["kind"] for e in timeline]
    assert kinds.index("answered") > kinds.index("accepted")
    chunks = [e for e in timeline if e["kind"] == "chunk"]
    assert len(chunks) >= 2, f"expected several chunks at 60 tokens a second: {timeline}"
    assert [k for k in kinds if k != "answered"] == [
        "sent",
        "accepted",
        "queued",
        "started",
        "model-request",
        "first-token",
        *["chunk"] * len(chunks),
        "done",
    ]
    assert [e["label"].split(" ")[1] for e in chunks] == [f"#{i}" for i in range(len(chunks))]
    assert all(e["shown"].startswith("+") and e["shown"].endswith(" ms") for e in timeline)

    # The server's moments are the server's records, not guesses.
    [record] = invocation_of(api, answer["conversationId"])
    assert moment(timeline, "queued") == epoch_ms(record["enqueuedAt"])
    assert moment(timeline, "started") == epoch_ms(record["attempts"][0]["startedAt"])
    assert moment(timeline, "accepted") == epoch_ms(record["requestPayload"]["requestedAt"])
    [call] = fake.calls
    assert call.first_token_at is not None
    assert moment(timeline, "first-token") == int(call.first_token_at * 1000)
    assert moment(timeline, "model-request") == int(call.received_at * 1000)


def test_the_page_renders_markdown_safely_and_sends_earlier_turns_to_the_model(
    appsync_emu: Callable[..., EmulatorHandle],
) -> None:
    api = appsync_emu(EXAMPLE)
    fake: FakeBackend = api.fake_llm
    api.call(lambda: fake.script([{"match": "first", "reply": MARKDOWN_REPLY}, {"match": "second", "reply": "Yes."}]))
    events = run_page(
        f"{api.base_url}/demo/", [{"ask": "The first question"}, {"ask": "The second question"}], "conversation"
    )

    first, second = answers(events)
    assert first["state"] == second["state"] == "done", (first, second)
    html = first["html"]
    assert "<strong>briefly</strong>" in html and "<code>ask</code>" in html and "<li>the function streams</li>" in html
    for inert in ("<script", "onerror", "javascript:", "<img"):
        assert inert not in html, f"{inert!r} survived sanitising: {html}"
    assert page_view(events)["pwned"] is None, "HTML in the model's reply ran code in the page"

    assert (first["historyTurns"], second["historyTurns"]) == (0, 2)
    assert len(fake.calls) == 2
    assert fake.calls[1].request["messages"] == [
        {"role": "user", "content": [{"text": "The first question"}]},
        {"role": "assistant", "content": [{"text": MARKDOWN_REPLY}]},
        {"role": "user", "content": [{"text": "The second question"}]},
    ], "the second ask carries the first turn, the reply as the model wrote it"
    assert second["text"].strip() == "Yes."


@pytest.mark.parametrize("runtime", ["python", "nodejs"])
def test_a_throttle_mid_stream_shows_the_failure_then_lambdas_retry_recovering(
    appsync_emu: Callable[..., EmulatorHandle], runtime: str
) -> None:
    api = appsync_emu(EXAMPLE, lambda_retry_delays_s=(0.5,), parameter_overrides={"ChatRuntime": runtime})
    fake: FakeBackend = api.fake_llm
    api.call(lambda: fake.set_reply(REPLY))
    steps = [{"controls": {"tps": 50, "throttleAfter": 3, "throttleTimes": 1}}, {"ask": PROMPT}]
    events = run_page(f"{api.base_url}/demo/", steps, f"throttle-{runtime}")

    [controls] = [e for e in events if e["event"] == "controls"]
    assert "the next 1 model call fail with ThrottlingException after 3 tokens" in controls["status"]
    [answer] = answers(events)
    assert answer["state"] == "done", answer
    assert answer["text"].strip() == REPLY, "the retried attempt streams the whole answer again"
    assert answer["error"] is None
    assert "recovered on attempt 2" in answer["meta"]
    assert "no throttle" in page_view(events)["controlsStatus"], "the throttle was used up"

    timeline = answer["timeline"]
    assert_drawn_in_time_order(timeline)
    [model_error] = [e for e in timeline if e["kind"] == "model-error"]
    assert "ThrottlingException after 3 tokens" in model_error["label"]
    [failed] = [e for e in timeline if e["kind"] == "failed"]
    assert "ThrottlingException" in failed["label"] or "throttlingException" in failed["label"]
    # Each step causes the next: the server's chain, and the page's arrivals after what caused them.
    chain = [
        moment(timeline, "sent"),
        moment(timeline, "accepted"),
        moment(timeline, "queued"),
        moment(timeline, "started", 1),
        moment(timeline, "model-request", 1),
        moment(timeline, "first-token", 1),
        moment(timeline, "model-error", 1),
        moment(timeline, "failed", 1),
    ]
    assert chain == sorted(chain), timeline
    retry_chain = [
        moment(timeline, "model-error", 1),
        moment(timeline, "failed", 1),
        moment(timeline, "started", 2),
        moment(timeline, "model-request", 2),
        moment(timeline, "first-token", 2),
        moment(timeline, "done", 2),
    ]
    assert retry_chain == sorted(retry_chain), timeline
    assert "Lambda's retry" in [e for e in timeline if e["kind"] == "started"][1]["label"]
    first_chunks = [e["at"] for e in timeline if e["kind"] == "chunk" and e["attempt"] == 1]
    assert first_chunks and min(first_chunks) >= moment(timeline, "first-token", 1)
    second_chunks = [e["at"] for e in timeline if e["kind"] == "chunk" and e["attempt"] == 2]
    assert second_chunks and min(second_chunks) >= moment(timeline, "first-token", 2)

    [record] = invocation_of(api, answer["conversationId"])
    assert record["state"] == "succeeded" and [a["attempt"] for a in record["attempts"]] == [1, 2]
    assert [c.outcome for c in fake.calls] == ["ThrottlingException", "end_turn"]


def test_with_the_bedrock_backend_the_controls_are_disabled_and_say_so(
    appsync_emu: Callable[..., EmulatorHandle],
) -> None:
    api = appsync_emu(EXAMPLE, llm="bedrock")
    events = run_page(f"{api.base_url}/demo/", [], "bedrock")
    view = page_view(events)
    assert (view["backend"], view["backendKind"]) == ("Amazon Bedrock (through appsync-emu)", "bedrock")
    assert view["controlsHidden"] is False and view["controlsDisabled"] is True
    assert "controls are disabled" in view["controlsDisabledText"] and "bedrock" in view["controlsDisabledText"]
