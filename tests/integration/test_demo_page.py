"""The genai-chat web page in a real headless Chromium, served by the emulator at `/demo/`.

`tests/node/chat_page.mjs` drives the browser with playwright-core: it opens the page, which
reads `/_emu/config`, subscribes over AppSync's real-time protocol and POSTs `ask`; it types a
prompt, clicks Send, waits for the streamed answer to complete and saves a screenshot to
`test-artifacts/demo-page.png`.
"""

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
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "test-artifacts" / "demo-page.png"
PROMPT = "What does the async Lambda pattern buy me?"
REPLY = (
    "The ask mutation returned straight away. This answer was streamed by the Lambda function "
    "through sendChunk, and AppSync pushed every piece to this page over its WebSocket."
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


def run_page(url: str) -> list[dict[str, Any]]:
    """Run chat_page.mjs against `url`; its JSON-line events."""
    cwd = browser_driver()
    SCREENSHOT.unlink(missing_ok=True)
    done = subprocess.run(
        ["node", "chat_page.mjs", url, PROMPT, str(SCREENSHOT), str(CHROMIUM)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0, f"chat_page.mjs exited {done.returncode}:\n{events}\n{done.stderr[-2000:]}"
    return events


def test_demo_page_streams_the_scripted_reply_into_the_browser(appsync_emu: Callable[..., EmulatorHandle]) -> None:
    api = appsync_emu(EXAMPLES / "genai-chat")

    def script() -> None:
        api.fake_llm.set_reply(REPLY)
        api.fake_llm.first_token_ms = 300
        api.fake_llm.tps = 60

    api.call(script)
    events = run_page(f"{api.base_url}/demo/")

    errors = [e for e in events if e["event"] == "pageerror" or (e["event"] == "console" and e["type"] == "error")]
    assert errors == [], f"the page logged errors: {errors}"
    assert [e["url"] for e in events if e["event"] == "socket"] == [api.realtime_url]
    [answer] = [e for e in events if e["event"] == "answer"]
    assert answer["state"] == "done", answer
    assert answer["text"] == REPLY
    assert answer["error"] is None
    assert answer["user"] == PROMPT
    assert answer["busy"] == "false", "the live region should no longer be busy once the answer is complete"
    assert answer["askMs"] < answer["firstChunkMs"], f"ask should return before the first chunk: {answer}"
    assert SCREENSHOT.stat().st_size > 0
